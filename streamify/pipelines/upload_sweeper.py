"""Uploads not completed before `expiresAt` are aborted in S3 and marked EXPIRED; their videos
become FAILED with a reason the uploader can read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from streamify.domain import UploadStatus, VideoStatus
from streamify.infra.db import Database
from streamify.infra.sql import uploads as sql
from streamify.infra.storage import Storage
from streamify.loaders.cache_aside import CacheTier
from streamify.loaders.namespaces import VIDEO_LISTINGS, VIDEOS

log = logging.getLogger(__name__)

EXPIRED_REASON = "The upload expired before it was completed."


async def sweep_expired_uploads(
    db: Database, storage: Storage, cache: CacheTier, *, batch: int = 100
) -> int:
    """Expire every overdue pending upload; returns how many were expired."""
    expired = 0
    for upload_id in await sql.expired_upload_ids(db.pool, limit=batch):
        async with db.pool.acquire() as conn, conn.transaction():
            upload = await sql.lock_upload(conn, upload_id)
            # Completed or aborted meanwhile, or another sweeper got here first.
            if upload is None or upload.status is not UploadStatus.PENDING:
                continue
            if upload.expires_at > datetime.now(UTC):
                continue
            await storage.abort(upload.s3_key, upload.s3_upload_id)
            version = await sql.finish_upload(
                conn,
                upload.id,
                status=UploadStatus.EXPIRED,
                video_status=VideoStatus.FAILED,
                reason=EXPIRED_REASON,
            )
        await cache.invalidate(VIDEOS, [(upload.video_id, version)])
        expired += 1
    if expired:
        await cache.bump_generation(VIDEO_LISTINGS)
        log.info("expired %d uploads", expired)
    return expired


async def run_sweeper(
    db: Database,
    storage: Storage,
    cache: CacheTier,
    *,
    interval: float,
    stalled: Callable[[], Awaitable[int]] | None = None,
) -> None:
    """Sweep until cancelled: expired uploads, then (when given) stalled processing. A failed
    sweep is logged and retried at the next interval."""
    while True:
        try:
            await sweep_expired_uploads(db, storage, cache)
            if stalled is not None:
                await stalled()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sweep failed; retrying in %.0fs", interval)
        await asyncio.sleep(interval)
