"""Videos left in PROCESSING by a worker that died: no heartbeat for twice its interval means no
worker holds them, so they are started again (the flow's steps are idempotent), up to
`processing_max_attempts` runs; then they end FAILED. Nothing stays PROCESSING forever."""

from __future__ import annotations

import logging
from datetime import timedelta

import redis.asyncio as redis

from streamify.domain import VideoStatus
from streamify.infra import events
from streamify.infra.cache import REDIS_DOWN_ERRORS
from streamify.infra.db import Database
from streamify.infra.settings import Settings
from streamify.loaders.cache_aside import CacheTier
from streamify.loaders.namespaces import VIDEO_LISTINGS, VIDEOS
from streamify.pipelines.trigger import EventIntake, StoredObject

log = logging.getLogger(__name__)

GAVE_UP = "Processing stopped repeatedly; upload the video again or contact support."


async def restart_stalled(
    db: Database, client: redis.Redis, cache: CacheTier, intake: EventIntake, settings: Settings
) -> int:
    """Start stalled videos again; returns how many were restarted or given up on."""
    stale = timedelta(seconds=2 * settings.processing_heartbeat_seconds)
    rows = await db.pool.fetch(
        """SELECT v.id, count(e.dedupe_key) AS attempts
             FROM videos v LEFT JOIN s3_events e ON e.video_id = v.id
            WHERE v.status = 'PROCESSING' AND v.updated_at < now() - $1::interval
            GROUP BY v.id LIMIT 100""",
        stale,
    )
    handled = 0
    for row in rows:
        video_id, attempts = row["id"], row["attempts"]
        try:
            if await client.exists(events.heartbeat_key(settings.cache_key_prefix, video_id)):
                continue  # a worker is on it
        except REDIS_DOWN_ERRORS:
            return handled  # cannot tell who is alive: wait for Redis
        if attempts >= settings.processing_max_attempts:
            version = await db.pool.fetchval(
                """UPDATE videos SET status = 'FAILED', failure_reason = $2
                   WHERE id = $1 AND status = 'PROCESSING' RETURNING version""",
                video_id,
                GAVE_UP,
            )
            if version is not None:
                await cache.invalidate(VIDEOS, [(video_id, version)])
                await cache.bump_generation(VIDEO_LISTINGS)
                await events.publish(
                    client,
                    settings.cache_key_prefix,
                    events.ProcessingEvent.now(
                        video_id, VideoStatus.FAILED, "failed", message=GAVE_UP
                    ),
                )
        else:
            log.warning(
                "video %s stalled in PROCESSING; starting attempt %d", video_id, attempts + 1
            )
            # A new dedupe key per attempt: recorded and started like an S3 event.
            await intake.handle(
                [
                    StoredObject(
                        bucket=settings.s3_raw_bucket,
                        key=f"uploads/{video_id}/source",
                        event_name="streamify:RetryStalled",
                        size_bytes=None,
                        etag=None,
                        version_id=None,
                        sequencer=f"retry-{attempts + 1}",
                    )
                ]
            )
        handled += 1
    return handled
