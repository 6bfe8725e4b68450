"""The write path of a video's captions: the row, the published files and both manifests.

A caption is stored (sanitised WebVTT) under the video's row lock, so a visibility change
cannot move the media between the spaces meanwhile; the video's version moves, so every
cache of it is read again. When the stream is already published (its master is in the
bucket), the caption's files go to the space its visibility says, and the master and the
MPD are rewritten at once under the manifests lock the flow takes too. A video not yet
published gets its captions when the flow publishes its first rung."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import UUID

from streamify.domain import BadUserInput, CaptionTrack, QuotaExceeded, Visibility
from streamify.infra import subtitle_tracks, webvtt
from streamify.infra.sql import captions as caption_sql
from streamify.infra.sql.captions import StoredCaption
from streamify.infra.storage import Storage, delete_prefix
from streamify.names import (
    CAPTIONS_FOLDER,
    DASH_MANIFEST,
    SEGMENT_SECONDS,
    caption_file,
    hls_key,
)
from streamify.writes.videos import LoaderMemo, VideoTransaction, VideoWrites

TEXT_CACHE = "public, max-age=10"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"


def tracks_of(stored: Sequence[StoredCaption]) -> list[CaptionTrack]:
    return [CaptionTrack(c.language, c.label) for c in stored]


def files_of(stored: StoredCaption, duration: float) -> list[tuple[str, str]]:
    """(path relative to the stream's folder, text) of one stored caption's files."""
    cues = webvtt.parse(stored.vtt).cues
    return subtitle_tracks.caption_files(stored.language, cues, duration, SEGMENT_SECONDS)


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
        captions: webvtt.Captions,
        memo: LoaderMemo | None = None,
    ) -> None:
        """Add the caption, or replace the one of its language."""
        vtt = webvtt.to_webvtt(captions.cues)
        async with self.writes.transaction(memo=memo) as tx:
            _, visibility = await tx.lock_state(video_id)
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
                vtt=vtt,
                cues=len(captions.cues),
            )
            await tx.captions_changed(video_id)
            await self._republish(tx, video_id, visibility, added=language)

    async def remove(
        self, video_id: UUID, language: str, *, memo: LoaderMemo | None = None
    ) -> bool:
        """Remove the caption of this language; whether there was one."""
        async with self.writes.transaction(memo=memo) as tx:
            _, visibility = await tx.lock_state(video_id)
            if not await caption_sql.delete(tx.conn, video_id, language):
                return False
            await tx.captions_changed(video_id)
            await self._republish(tx, video_id, visibility, removed=language)
        return True

    async def _republish(
        self,
        tx: VideoTransaction,
        video_id: UUID,
        visibility: Visibility,
        *,
        added: str | None = None,
        removed: str | None = None,
    ) -> None:
        """The caption's files, then both manifests, if the stream is published; the removed
        caption's files once no manifest names them."""
        await caption_sql.lock_manifests(tx.conn, video_id)
        signed = visibility is not Visibility.PUBLIC
        master_key = hls_key(video_id, "master.m3u8", signed=signed)
        master = await self.storage.read_media(master_key)
        if master is None:
            return  # not published yet: the flow publishes the captions with its first rung
        stored = await caption_sql.captions_of(tx.conn, video_id)
        duration = await tx.conn.fetchval(
            "SELECT duration_seconds FROM videos WHERE id = $1", video_id
        )
        for caption in stored:
            if caption.language == added:
                files = files_of(caption, float(duration or 0))
                await asyncio.gather(
                    *(
                        self._put(hls_key(video_id, path, signed=signed), text)
                        for path, text in files
                    )
                )
        tracks = tracks_of(stored)
        mpd_key = hls_key(video_id, DASH_MANIFEST, signed=signed)
        mpd = await self.storage.read_media(mpd_key)
        if mpd is not None:
            rewritten = subtitle_tracks.mpd_with_captions(mpd.decode(), tracks)
            await self._put(mpd_key, rewritten)
        await self._put(master_key, subtitle_tracks.master_with_captions(master.decode(), tracks))
        if removed is not None:
            await delete_prefix(
                self.storage.client,
                self.storage.media_bucket,
                hls_key(video_id, f"{CAPTIONS_FOLDER}/{removed}/", signed=signed),
            )
            await self.storage.client.delete_object(
                Bucket=self.storage.media_bucket,
                Key=hls_key(video_id, caption_file(removed), signed=signed),
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
