"""Videos no worker holds: PROCESSING without a heartbeat for twice its interval (the worker
died, or a run failed on our side and handed the video back), or UPLOADED for
`processing_start_grace_seconds` (the run never started: orchestration was down). They are
started again (the flow's steps are idempotent), up to `processing_max_attempts` runs; then
they end FAILED. Nothing stays PROCESSING or UPLOADED forever."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from uuid import UUID

import httpx

from streamify.domain import VideoStatus
from streamify.infra.events import ProcessingEvents
from streamify.infra.redis_client import REDIS_DOWN_ERRORS
from streamify.infra.settings import Settings
from streamify.infra.sql import videos as sql
from streamify.pipelines.triggers.event_intake import EventIntake
from streamify.pipelines.triggers.processing_starter import MarkCrashed, no_runs_to_mark
from streamify.writes.videos import VideoWrites

log = logging.getLogger(__name__)

# What the orchestration client raises when Prefect's API does not answer.
ORCHESTRATION_DOWN = (httpx.TransportError, OSError)
UNHELD = frozenset({VideoStatus.UPLOADED, VideoStatus.PROCESSING})
GAVE_UP = "Processing stopped repeatedly; upload the video again or contact support."


def gave_up(attempts: int, last_failure: str | None) -> str:
    """The reason a video ends with when its runs keep stopping: what failed last, if known."""
    if last_failure is None:
        return GAVE_UP
    return (
        f"Processing stopped {attempts} times; the last time: {last_failure}"
        " Upload the video again or contact support."
    )


async def restart_stalled(
    writes: VideoWrites,
    events: ProcessingEvents,
    intake: EventIntake,
    settings: Settings,
    *,
    mark_crashed: MarkCrashed = no_runs_to_mark,
) -> int:
    """Start stalled videos again; returns how many were restarted or given up on. The run
    that held a PROCESSING one last is marked crashed first (its worker died without a word)."""
    idle = timedelta(seconds=2 * settings.processing_heartbeat_seconds)
    uploaded_idle = timedelta(seconds=settings.processing_start_grace_seconds)
    stalled = await sql.stalled_processing(
        writes.db.pool, idle=idle, uploaded_idle=uploaded_idle, limit=100
    )
    handled = 0
    for found in stalled:
        video_id, attempts = found.video_id, found.attempts
        base = idle.total_seconds()
        if attempts < settings.processing_max_attempts and found.idle_seconds < retry_delay(
            attempts, base_seconds=base, video_id=video_id
        ):
            continue  # backing off before the next run
        try:
            if await events.is_alive(video_id):
                continue  # a worker is on it
        except REDIS_DOWN_ERRORS:
            return handled  # cannot tell who is alive: wait for Redis
        try:
            if found.processing_run is not None and found.status is VideoStatus.PROCESSING:
                await _mark_quietly(mark_crashed, found.processing_run)
            await _restart_or_give_up(
                writes, intake, settings, video_id, attempts, gave_up(attempts, found.last_failure)
            )
        except ORCHESTRATION_DOWN as exc:
            # An outage, not a bug: no traceback; the next sweep tries again.
            log.warning(
                "could not restart stalled video %s: orchestration did not answer (%s)",
                video_id,
                type(exc).__name__,
            )
            continue
        except Exception:
            # One bad row must not stop the others.
            log.exception(
                "could not restart stalled video %s; skipped until the next sweep", video_id
            )
            continue
        handled += 1
    return handled


async def _mark_quietly(mark_crashed: MarkCrashed, run: str) -> None:
    try:
        await mark_crashed(run, "Its worker stopped sending a heartbeat.")
    except Exception:
        # Orchestration not answering must not keep the video from its next run.
        log.warning("could not mark run %s crashed", run)


MAX_DELAY_SECONDS = 3600.0


def retry_delay(attempts: int, *, base_seconds: float, video_id: UUID) -> float:
    """How long a video rests after its last change before run `attempts + 1`: the base after
    the first run, doubling with every run after it, capped at an hour, and spread ±20 % by the
    video's id (the same every sweep, different across videos) so retries do not come in
    waves."""
    doubling: int = 1 << max(0, attempts - 1)
    delay = min(MAX_DELAY_SECONDS, base_seconds * doubling)
    spread = int.from_bytes(hashlib.blake2b(video_id.bytes, digest_size=2).digest()) / 65535
    return delay * (0.8 + 0.4 * spread)


async def _restart_or_give_up(  # noqa: PLR0917 - one sweep's row, and what it knows
    writes: VideoWrites,
    intake: EventIntake,
    settings: Settings,
    video_id: UUID,
    attempts: int,
    reason: str,
) -> None:
    if attempts >= settings.processing_max_attempts:
        async with writes.transaction() as tx:
            await tx.transition(video_id, VideoStatus.FAILED, reason=reason, expect=UNHELD)
    else:
        log.warning("video %s stalled; starting attempt %d", video_id, attempts + 1)
        await intake.start_again(video_id, attempts + 1, "RetryStalled")
