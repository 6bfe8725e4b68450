"""The write path of a video's captions: the row, the published files and both manifests.

A caption's row is written in a short transaction under the video's row lock; the video's
version moves, so every cache of it is read again. When the stream is already published
(its master is in the bucket), the caption's files are uploaded after that commit, outside
any transaction and a few at a time, into the space the visibility says; then, under the row
lock (a visibility change waits) and the manifests lock the flow takes too, whoever finds
that the files it uploaded are still the stored caption's, in the space the visibility
still says, rewrites the master and the MPD. Otherwise (the caption was replaced, the
visibility or the duration changed meanwhile) it starts over with what is stored now, and
the last try uploads under the locks. A video not yet published gets its captions when the
flow publishes its first rung."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID

from streamify.domain import BadUserInput, CaptionTrack, QuotaExceeded, Visibility
from streamify.infra import subtitle_tracks, webvtt
from streamify.infra.db import Connection
from streamify.infra.sql import captions as caption_sql
from streamify.infra.sql import videos as video_sql
from streamify.infra.sql.captions import StoredCaption
from streamify.infra.storage import Storage, delete_prefix
from streamify.names import (
    CAPTIONS_FOLDER,
    DASH_MANIFEST,
    SEGMENT_SECONDS,
    caption_file,
    hls_key,
)
from streamify.writes.videos import LoaderMemo, VideoWrites

TEXT_CACHE = "public, max-age=10"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
# Uploads of one caption's files in flight at once.
UPLOADS_IN_FLIGHT = 4
# Rounds of "upload, then check under the locks" before uploading under the locks.
OPTIMISTIC_TRIES = 2


def tracks_of(stored: Sequence[StoredCaption]) -> list[CaptionTrack]:
    return [CaptionTrack(c.language, c.label) for c in stored]


def files_of(stored: StoredCaption, duration: float) -> list[tuple[str, str]]:
    """(path relative to the stream's folder, text) of one stored caption's files: CPU work
    in proportion to the caption (run it off the event loop)."""
    cues = webvtt.parse(stored.vtt).cues
    return subtitle_tracks.caption_files(stored.language, cues, duration, SEGMENT_SECONDS)


@dataclass(frozen=True, slots=True)
class PreparedCaption:
    """A caption checked and written as we store it, with its files for the duration the
    video had when it was prepared (none while that is unknown: not published yet)."""

    vtt: str
    cues: int
    duration: float | None
    files: list[tuple[str, str]] | None


def prepared_caption(content: str, *, language: str, duration: float | None) -> PreparedCaption:
    """Parse, sanitise and segment a caption as sent (CPU only: run it in a thread)."""
    captions = webvtt.parse(content, duration=duration)
    vtt = webvtt.stored_form(captions)
    files = None
    if duration:
        files = subtitle_tracks.caption_files(language, captions.cues, duration, SEGMENT_SECONDS)
    return PreparedCaption(vtt, len(captions.cues), duration, files)


class CaptionWrites:
    def __init__(self, writes: VideoWrites, storage: Storage, *, max_per_video: int) -> None:
        self.writes = writes
        self.storage = storage
        # Languages one video may have captions in: 512 KiB each, so bounded in bytes.
        self.max_per_video = max_per_video

    async def put(
        self,
        video_id: UUID,
        *,
        language: str,
        label: str,
        caption: PreparedCaption,
        memo: LoaderMemo | None = None,
    ) -> None:
        """Add the caption, or replace the one of its language."""
        async with self.writes.transaction(memo=memo) as tx:
            await tx.lock_state(video_id)
            others = await caption_sql.others(tx.conn, video_id, language)
            if any(other == label for _, other in others):
                raise BadUserInput(f'label: another caption of this video is named "{label}".')
            if len(others) >= self.max_per_video:
                raise QuotaExceeded(
                    f"A video has at most {self.max_per_video} captions; remove one first.",
                    limit="STREAMIFY_CAPTION_MAX_PER_VIDEO",
                )
            await caption_sql.upsert(
                tx.conn,
                video_id,
                language=language,
                label=label,
                vtt=caption.vtt,
                cues=caption.cues,
            )
            await tx.captions_changed(video_id)
        await self._publish_added(video_id, language, caption)

    async def remove(
        self, video_id: UUID, language: str, *, memo: LoaderMemo | None = None
    ) -> bool:
        """Remove the caption of this language; whether there was one."""
        async with self.writes.transaction(memo=memo) as tx:
            await tx.lock_state(video_id)
            if not await caption_sql.delete(tx.conn, video_id, language):
                return False
            await tx.captions_changed(video_id)
        async with self._locked(video_id) as found:
            if found is not None:
                conn, signed, master = found
                stored = await caption_sql.captions_of(conn, video_id)
                await self._write_manifests(video_id, signed, master, stored)
                if all(c.language != language for c in stored):  # not added again since
                    await self._delete_files(video_id, language, signed=signed)
        return True

    async def _publish_added(self, video_id: UUID, language: str, caption: PreparedCaption) -> None:
        vtt, duration, files = caption.vtt, caption.duration, caption.files
        uploaded_to: set[bool] = set()  # the spaces that hold `files`
        touched: set[bool] = set()  # every space this write uploaded to
        for attempt in range(OPTIMISTIC_TRIES + 1):
            async with self._locked(video_id) as found:
                if found is None:
                    return  # not published (or gone): the flow publishes the captions
                conn, signed, master = found
                stored = await caption_sql.captions_of(conn, video_id)
                mine = next((c for c in stored if c.language == language), None)
                if mine is None:
                    return  # removed since: the removal rewrote the manifests
                now = float(await caption_sql.duration_of(conn, video_id) or 0)
                if (mine.vtt, now) != (vtt, duration):  # replaced, or the stream re-published
                    vtt, duration, files, uploaded_to = mine.vtt, now, None, set()
                if attempt == OPTIMISTIC_TRIES and signed not in uploaded_to:
                    if files is None:
                        files = await asyncio.to_thread(files_of, mine, now)
                    await self._upload(video_id, files, signed=signed)
                    uploaded_to.add(signed)
                    touched.add(signed)
                if signed in uploaded_to:
                    await self._write_manifests(video_id, signed, master, stored)
                    break
            if files is None:
                files = await asyncio.to_thread(files_of, mine, now)
            await self._upload(video_id, files, signed=signed)
            uploaded_to.add(signed)
            touched.add(signed)
        # Files uploaded into the space the visibility has left since (the CDN refuses them).
        for stale in touched - {signed}:
            await self._delete_files(video_id, language, signed=stale)

    @asynccontextmanager
    async def _locked(self, video_id: UUID) -> AsyncIterator[tuple[Connection, bool, bytes] | None]:
        """A short transaction holding the video's row lock (a visibility change, which
        moves the media, waits) and its manifests lock (so does the flow's manifest write):
        (connection, whether the media is in the signed space, the master as published), or
        None when the video is gone or its stream is not published yet."""
        async with self.writes.db.pool.acquire() as conn, conn.transaction():
            state = await video_sql.lock_state(conn, video_id)
            if state is None:
                yield None
                return
            await caption_sql.lock_manifests(conn, video_id)
            signed = state.visibility is not Visibility.PUBLIC
            master = await self.storage.read_media(hls_key(video_id, "master.m3u8", signed=signed))
            yield None if master is None else (conn, signed, master)

    async def _upload(self, video_id: UUID, files: list[tuple[str, str]], *, signed: bool) -> None:
        gate = asyncio.Semaphore(UPLOADS_IN_FLIGHT)

        async def one(path: str, text: str) -> None:
            async with gate:
                await self._put(hls_key(video_id, path, signed=signed), text)

        await asyncio.gather(*(one(path, text) for path, text in files))

    async def _write_manifests(
        self, video_id: UUID, signed: bool, master: bytes, stored: Sequence[StoredCaption]
    ) -> None:
        tracks = tracks_of(stored)
        mpd_key = hls_key(video_id, DASH_MANIFEST, signed=signed)
        mpd = await self.storage.read_media(mpd_key)
        if mpd is not None:
            await self._put(mpd_key, subtitle_tracks.mpd_with_captions(mpd.decode(), tracks))
        await self._put(
            hls_key(video_id, "master.m3u8", signed=signed),
            subtitle_tracks.master_with_captions(master.decode(), tracks),
        )

    async def _delete_files(self, video_id: UUID, language: str, *, signed: bool) -> None:
        await delete_prefix(
            self.storage.client,
            self.storage.media_bucket,
            hls_key(video_id, f"{CAPTIONS_FOLDER}/{language}/", signed=signed),
        )
        await self.storage.client.delete_object(
            Bucket=self.storage.media_bucket,
            Key=hls_key(video_id, caption_file(language), signed=signed),
        )

    async def _put(self, key: str, text: str) -> None:
        content_type = (
            PLAYLIST_TYPE
            if key.endswith(".m3u8")
            else "application/dash+xml"
            if key.endswith(".mpd")
            else "text/vtt"
        )
        manifest = key.endswith(("/master.m3u8", f"/{DASH_MANIFEST}"))
        await self.storage.client.put_object(
            Bucket=self.storage.media_bucket,
            Key=key,
            Body=text.encode(),
            ContentType=content_type,
            # As the flow writes them: manifests revalidated on every load, the rest 10 s.
            CacheControl="no-cache" if manifest else TEXT_CACHE,
        )
