"""The one write path of the video aggregate (a video with its upload, renditions and manifest).

Every change of a video's state goes through a `VideoTransaction`: it checks status changes
against `domain.ALLOWED_TRANSITIONS` under the row lock, writes through the SQL layer, and
records what changed. When the transaction commits, `VideoWrites` applies what was recorded, in
one place: versioned invalidations of the video and its renditions (which also broadcast the
L1 drop to every API process), a bump of the listings generation, the caller's per-request
loader memo, and the processing event subscribers are waiting for. Uploads, the sweeper,
recovery and the transcoding flow all write here; nothing else writes a video's status.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from streamify.domain import (
    Conflict,
    NotFound,
    Rendition,
    UploadStatus,
    Video,
    VideoPatch,
    VideoStatus,
    Visibility,
    can_transition,
)
from streamify.infra.cache.namespaces import RENDITIONS, VIDEO_LISTINGS, VIDEOS
from streamify.infra.cache.tier import CacheTier
from streamify.infra.db import Connection, Database
from streamify.infra.events import ACCESS_CHANGED, ProcessingEvent, ProcessingEvents
from streamify.infra.sql import captions as caption_sql
from streamify.infra.sql import uploads as upload_sql
from streamify.infra.sql import videos as video_sql
from streamify.infra.sql.uploads import Upload

log = logging.getLogger(__name__)

# The step name a status change reports to subscribers.
STEP_OF = {
    VideoStatus.UPLOADED: "uploaded",
    VideoStatus.PROCESSING: "start",
    VideoStatus.READY: "done",
    VideoStatus.FAILED: "failed",
}


class LeaseLost(Exception):
    """Another run holds the video's processing now: this one must write nothing more."""

    def __init__(self, video_id: UUID, run: str, holder: str | None) -> None:
        super().__init__(f"run {run} no longer holds video {video_id} (held by {holder})")
        self.holder = holder


class LoaderMemo(Protocol):
    """A request's loader memo, told which videos it must read again."""

    def forget_video(self, video_id: UUID) -> None: ...


@dataclass
class _Changed:
    version: int
    renditions: bool = False
    listings: bool = False
    event: ProcessingEvent | None = None


@dataclass
class VideoTransaction:
    """One database transaction over videos; what it changes is applied after it commits."""

    conn: Connection
    changed: dict[UUID, _Changed] = field(default_factory=dict)

    def _record(
        self,
        video_id: UUID,
        version: int,
        *,
        renditions: bool = False,
        listings: bool = False,
        event: ProcessingEvent | None = None,
    ) -> None:
        seen = self.changed.get(video_id)
        if seen is None:
            self.changed[video_id] = _Changed(version, renditions, listings, event)
            return
        seen.version = max(seen.version, version)
        seen.renditions |= renditions
        seen.listings |= listings
        seen.event = event or seen.event

    async def transition(
        self,
        video_id: UUID,
        target: VideoStatus,
        *,
        reason: str | None = None,
        expect: VideoStatus | frozenset[VideoStatus] | None = None,
        message: str | None = None,
    ) -> int | None:
        """Move the video to `target`; returns its new version. Raises NotFound when it is gone
        and Conflict when its status does not allow `target`. With `expect` (a status or a set
        of them), a video in any other status is left alone and None is returned (someone else
        moved it first)."""
        current = await video_sql.lock_status(self.conn, video_id)
        if current is None:
            raise NotFound("No such video.")
        expected = frozenset({expect}) if isinstance(expect, VideoStatus) else expect
        if expected is not None and current not in expected:
            return None
        if not can_transition(current, target):
            raise Conflict(f"The video is {current.value}; it cannot become {target.value}.")
        version = await video_sql.set_status(self.conn, video_id, target, reason=reason)
        event = ProcessingEvent.now(
            video_id,
            target,
            STEP_OF[target],
            progress=1.0 if target is VideoStatus.READY else None,
            message=reason if message is None else message,
        )
        self._record(video_id, version, listings=True, event=event)
        return version

    async def insert_with_upload(
        self,
        upload: Upload,
        *,
        bucket: str,
        title: str,
        description: str,
        visibility: Visibility = Visibility.PUBLIC,
    ) -> int:
        """A new video (UPLOADING) and its upload; returns the video's version."""
        version = await upload_sql.insert_upload_with_video(
            self.conn,
            upload=upload,
            bucket=bucket,
            title=title,
            description=description,
            visibility=visibility,
        )
        # Only its owner's listing shows it, but that listing must see it at once.
        self._record(upload.video_id, version, listings=True)
        return version

    async def finish_upload(
        self,
        upload: Upload,
        status: UploadStatus,
        video_status: VideoStatus,
        *,
        completed_size: int | None = None,
        reason: str | None = None,
        expect: VideoStatus | None = None,
    ) -> int | None:
        """Close the upload (COMPLETED, ABORTED, EXPIRED) and move its video along. With
        `expect`, a video in another status keeps it (None is returned)."""
        await upload_sql.set_upload_status(
            self.conn, upload.id, status, completed_size=completed_size, reason=reason
        )
        return await self.transition(upload.video_id, video_status, reason=reason, expect=expect)

    async def update_metadata(self, video_id: UUID, patch: VideoPatch) -> Video:
        updated = await video_sql.update_video(self.conn, video_id, patch)
        if updated is None:
            raise NotFound("No such video.")
        hidden = patch.visibility is not None
        # Who may follow the video may have changed: its subscriptions check again.
        event = ProcessingEvent.now(video_id, updated.status, ACCESS_CHANGED) if hidden else None
        self._record(video_id, updated.version, listings=hidden, event=event)
        return updated

    async def lock_state(self, video_id: UUID) -> tuple[VideoStatus, Visibility]:
        """The video's status and visibility, row-locked until the transaction ends (a
        visibility change and the flow's publishing wait for each other here)."""
        found = await video_sql.lock_state(self.conn, video_id)
        if found is None:
            raise NotFound("No such video.")
        return found.status, found.visibility

    async def take_lease(self, video_id: UUID, run: str) -> None:
        """`run` holds the video's processing from now on; a run that held it before loses
        it (it was declared dead, or handed the video back)."""
        await video_sql.set_processing_run(self.conn, video_id, run)

    async def hold_lease(self, video_id: UUID, run: str) -> video_sql.HeldState:
        """The video, row-locked, if `run` still holds its processing; LeaseLost otherwise."""
        found = await video_sql.lock_state(self.conn, video_id)
        if found is None:
            raise NotFound("No such video.")
        if found.processing_run != run:
            raise LeaseLost(video_id, run, found.processing_run)
        return found

    async def note_failure(self, video_id: UUID, run: str, reason: str) -> None:
        """The run holding the video failed on our side and hands it back: why, for the
        reason it ends with if no later run gets it done."""
        await self.hold_lease(video_id, run)
        version = await video_sql.note_failure(self.conn, video_id, reason)
        self._record(video_id, version)

    async def captions_changed(self, video_id: UUID) -> None:
        """A caption was added, replaced or removed: the video is another version."""
        self._record(video_id, await caption_sql.touch_video(self.conn, video_id))

    async def lock_for_delete(self, video_id: UUID) -> tuple[UUID, int] | None:
        """(owner, version) of the video, row-locked until the transaction ends."""
        return await video_sql.lock_video_for_delete(self.conn, video_id)

    async def delete(self, video_id: UUID, version: int) -> None:
        """Delete the video's rows (uploads, renditions, manifest cascade)."""
        status = await video_sql.lock_status(self.conn, video_id)
        await video_sql.delete_video(self.conn, video_id)
        # Its subscriptions end: they check again and find nothing.
        gone = ProcessingEvent.now(video_id, status or VideoStatus.FAILED, ACCESS_CHANGED)
        # A tombstone newer than any row that ever existed refuses late fills of the old row.
        self._record(video_id, version + 1, renditions=True, listings=True, event=gone)

    async def publish_stream(
        self,
        video_id: UUID,
        renditions: Sequence[Rendition],
        *,
        duration_seconds: float,
        master_path: str,
        thumbnail_path: str,
        dash_path: str | None = None,
        ready: bool = True,
    ) -> int:
        """The renditions published so far, the manifest row and the duration — all or nothing,
        and only while the video is PROCESSING (a deleted or finished video is left alone). With
        a manifest the video is playable; `ready` also makes it READY (every rung, thumbnails
        and storyboard are published)."""
        current = await video_sql.lock_status(self.conn, video_id)
        if current is None:
            raise NotFound("No such video.")
        if current is not VideoStatus.PROCESSING:
            raise Conflict(f"The video is {current.value}; this run no longer owns it.")
        await video_sql.replace_renditions(self.conn, video_id, renditions)
        await video_sql.upsert_manifest(
            self.conn,
            video_id,
            master_path=master_path,
            thumbnail_path=thumbnail_path,
            dash_path=dash_path,
        )
        version = await video_sql.set_duration(self.conn, video_id, duration_seconds)
        if ready:
            transitioned = await self.transition(video_id, VideoStatus.READY)
            assert transitioned is not None  # no `expect`: a refused transition raises
            version = transitioned
        self._record(video_id, version, renditions=True)
        return version


class VideoWrites:
    """Opens video transactions and applies their effects once they commit."""

    def __init__(self, db: Database, cache: CacheTier, events: ProcessingEvents) -> None:
        self.db = db
        self.cache = cache
        self.events = events

    @contextlib.asynccontextmanager
    async def transaction(
        self, *, memo: LoaderMemo | None = None
    ) -> AsyncIterator[VideoTransaction]:
        async with self.db.pool.acquire() as conn:
            tx = VideoTransaction(conn)
            async with conn.transaction():
                yield tx
        await self.apply(tx, memo=memo)

    async def apply(self, tx: VideoTransaction, *, memo: LoaderMemo | None = None) -> None:
        """After the commit: caches, memo, events. Never raises for Redis: the tier replays
        invalidations it could not send, and events are best-effort by nature."""
        if not tx.changed:
            return
        await self.cache.invalidate(VIDEOS, [(vid, c.version) for vid, c in tx.changed.items()])
        renditions = [(vid, c.version) for vid, c in tx.changed.items() if c.renditions]
        if renditions:
            await self.cache.invalidate(RENDITIONS, renditions)
        if any(c.listings for c in tx.changed.values()):
            await self.cache.bump_generation(VIDEO_LISTINGS)
        for video_id, change in tx.changed.items():
            if memo is not None:
                memo.forget_video(video_id)
            if change.event is not None:
                await self.events.publish_quietly(change.event)

    async def listings_changed(self) -> None:
        """Rows were written in bulk (demo data): no cached listing may hide them."""
        await self.cache.bump_generation(VIDEO_LISTINGS)
