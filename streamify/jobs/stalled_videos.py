"""Videos no worker holds: PROCESSING without a heartbeat for twice its interval (the worker
died, or a run failed on our side and handed the video back), or UPLOADED for
`processing_start_grace_seconds` (the run never started: orchestration was down). They are
started again (the flow's steps are idempotent), up to `processing_max_attempts` runs; then
they end FAILED. Nothing stays PROCESSING or UPLOADED forever."""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from streamify.domain import VideoStatus
from streamify.infra.events import ProcessingEvents
from streamify.infra.redis_client import REDIS_DOWN_ERRORS
from streamify.infra.settings import Settings
from streamify.infra.sql import videos as sql
from streamify.jobs.event_intake import EventIntake
from streamify.writes.videos import VideoWrites

log = logging.getLogger(__name__)

UNHELD = frozenset({VideoStatus.UPLOADED, VideoStatus.PROCESSING})
GAVE_UP = "Processing stopped repeatedly; upload the video again or contact support."


async def restart_stalled(
    writes: VideoWrites, events: ProcessingEvents, intake: EventIntake, settings: Settings
) -> int:
    """Start stalled videos again; returns how many were restarted or given up on."""
    idle = timedelta(seconds=2 * settings.processing_heartbeat_seconds)
    uploaded_idle = timedelta(seconds=settings.processing_start_grace_seconds)
    stalled = await sql.stalled_processing(
        writes.db.pool, idle=idle, uploaded_idle=uploaded_idle, limit=100
    )
    handled = 0
    for video_id, attempts in stalled:
        try:
            if await events.is_alive(video_id):
                continue  # a worker is on it
        except REDIS_DOWN_ERRORS:
            return handled  # cannot tell who is alive: wait for Redis
        try:
            await _restart_or_give_up(writes, intake, settings, video_id, attempts)
        except Exception:
            # One bad row must not stop the others.
            log.exception(
                "could not restart stalled video %s; skipped until the next sweep", video_id
            )
            continue
        handled += 1
    return handled


async def _restart_or_give_up(
    writes: VideoWrites, intake: EventIntake, settings: Settings, video_id: UUID, attempts: int
) -> None:
    if attempts >= settings.processing_max_attempts:
        async with writes.transaction() as tx:
            await tx.transition(video_id, VideoStatus.FAILED, reason=GAVE_UP, expect=UNHELD)
    else:
        log.warning("video %s stalled; starting attempt %d", video_id, attempts + 1)
        await intake.start_again(video_id, attempts + 1, "RetryStalled")
