"""Uploads not completed before `expiresAt` are aborted in S3 and marked EXPIRED; their videos
become FAILED with a reason the uploader can read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from streamify.domain import UploadStatus, VideoStatus
from streamify.infra.sql import uploads as sql
from streamify.infra.storage import Storage
from streamify.writes.videos import VideoWrites

log = logging.getLogger(__name__)

EXPIRED_REASON = "The upload expired before it was completed."


async def sweep_expired_uploads(writes: VideoWrites, storage: Storage, *, batch: int = 100) -> int:
    """Expire every overdue pending upload; returns how many were expired."""
    expired = 0
    for upload_id in await sql.expired_upload_ids(writes.db.pool, limit=batch):
        async with writes.transaction() as tx:
            upload = await sql.lock_upload(tx.conn, upload_id)
            # Completed or aborted meanwhile, or another sweeper got here first.
            if upload is None or upload.status is not UploadStatus.PENDING:
                continue
            if upload.expires_at > datetime.now(UTC):
                continue
            await storage.abort(upload.s3_key, upload.s3_upload_id)
            await tx.finish_upload(
                upload, UploadStatus.EXPIRED, VideoStatus.FAILED, reason=EXPIRED_REASON
            )
        expired += 1
    if expired:
        log.info("expired %d uploads", expired)
    return expired


async def run_sweeper(sweeps: list[Callable[[], Awaitable[int]]], *, interval: float) -> None:
    """Run each sweep in turn until cancelled. A failed sweep is logged and retried at the next
    interval."""
    while True:
        for sweep in sweeps:
            try:
                await sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweep failed; retrying in %.0fs", interval)
        await asyncio.sleep(interval)
