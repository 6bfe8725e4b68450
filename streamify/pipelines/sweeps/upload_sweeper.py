"""Uploads not completed before `expiresAt` are aborted in S3 and marked EXPIRED; their videos
become FAILED with a reason the uploader can read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID

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
        try:
            expired += await _expire(writes, storage, upload_id)
        except Exception:
            # One bad row must not stop the others, nor the sweeps after this one.
            log.exception("could not expire upload %s; skipped until the next sweep", upload_id)
    if expired:
        log.info("expired %d uploads", expired)
    return expired


async def _expire(writes: VideoWrites, storage: Storage, upload_id: UUID) -> int:
    async with writes.transaction() as tx:
        upload = await sql.lock_upload(tx.conn, upload_id)
        # Completed or aborted meanwhile, or another sweeper got here first.
        if upload is None or upload.status is not UploadStatus.PENDING:
            return 0
        if upload.expires_at > datetime.now(UTC):
            return 0
        await storage.abort(upload.s3_key, upload.s3_upload_id)
        # A video that already left UPLOADING (failed or moved on) keeps its status.
        await tx.finish_upload(
            upload,
            UploadStatus.EXPIRED,
            VideoStatus.FAILED,
            reason=EXPIRED_REASON,
            expect=VideoStatus.UPLOADING,
        )
    return 1


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
