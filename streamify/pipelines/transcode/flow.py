"""The transcoding flow on Prefect: probe -> plan the ladder -> chunks on the encoders (the
lowest rung's first) with the audio and poster made here -> the lowest rung stitched and
published: playable -> storyboard -> every further rung stitched and published, the master
rewritten each time -> READY. Steps are idempotent: a second run overwrites the same objects
and rows. A source that cannot become a stream ends the video in FAILED with a reason the
uploader can read.

`streamify worker` serves the `transcode-video/transcode` deployment; the API starts runs of it
from S3 events (start_processing); `streamify encoder` processes run its chunks. Every change
of the video's state goes through `streamify.writes.videos`, which also invalidates caches and
tells subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from prefect import flow, get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.concurrency.asyncio import concurrency
from prefect.exceptions import ObjectAlreadyExists
from prefect.runtime import flow_run

from streamify.domain import Conflict, NotFound, Rendition, VideoStatus, Visibility
from streamify.infra import request_ids, subtitle_tracks
from streamify.infra.cache.redis_store import RedisCache
from streamify.infra.cache.tier import CacheTier
from streamify.infra.db import create_database
from streamify.infra.events import ProcessingEvent, ProcessingEvents
from streamify.infra.redis_client import REDIS_DOWN_ERRORS, create_redis
from streamify.infra.settings import Settings
from streamify.infra.sql import captions as caption_sql
from streamify.infra.sql import videos as video_sql
from streamify.infra.storage import Storage, delete_prefix, open_storage
from streamify.names import (
    DASH_MANIFEST,
    STORYBOARD_INDEX,
    STORYBOARD_SPRITE,
    TRANSCODE_FLOW,
    RedisNames,
    chunk_key,
    chunks_prefix,
    dash_key,
    hls_key,
    master_key,
    media_prefix,
    poster_key,
    source_key,
    user_transcode_limit,
)
from streamify.pipelines.transcode import dash, encoding, media
from streamify.pipelines.transcode.chunk_runs import ChunkJob, ChunkRuns, ready_to_submit
from streamify.pipelines.transcode.encoding import AUDIO_FOLDER, Chunk
from streamify.pipelines.transcode.media import MediaError, Rung, SourceInfo, Variant
from streamify.pipelines.transcode.retry import retry_unless_media_error
from streamify.writes.captions import files_of, tracks_of
from streamify.writes.videos import LeaseLost, VideoWrites

log = logging.getLogger(__name__)

# Segments, init segments and images never change under their name; playlists do (the master
# gains rungs while the video is playable but not yet READY).
SEGMENT_CACHE = "public, max-age=31536000, immutable"
PLAYLIST_CACHE = "public, max-age=10"
# The master and the MPD change as rungs and captions join: revalidated on every load.
MANIFEST_CACHE = "no-cache"
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}
# Uploads in flight at once when publishing: one round trip per file otherwise dominates.
PUBLISH_CONCURRENCY = 16
# The processing step a video reaches when its lowest rung is published (the name).
PLAYABLE = "PLAYABLE"
# Waiting this long for one of the owner's slots is "queued" (taking a free one is quicker).
QUEUED_AFTER_SECONDS = 0.5
# How long ffmpeg may keep reading the source through one presigned URL.
SOURCE_URL_SECONDS = 6 * 3600
_retry_unless_media_error = retry_unless_media_error  # the name the tests know


def cache_of(path: Path) -> str:
    if path.name in ("master.m3u8", DASH_MANIFEST):
        return MANIFEST_CACHE
    return SEGMENT_CACHE if path.suffix in (".m4s", ".mp4", ".jpg") else PLAYLIST_CACHE


class VideoGone(MediaError):
    """The video was deleted while its run went on: nothing of it may be published."""


def limits(settings: Settings) -> media.Limits:
    return media.Limits(
        max_duration_seconds=settings.media_max_duration_seconds,
        max_width=settings.media_max_width,
        max_height=settings.media_max_height,
        max_fps=settings.media_max_fps,
        seconds_per_source_second=settings.media_step_seconds_per_source_second,
        min_step_seconds=settings.media_min_step_seconds,
    )


@dataclass
class Clients:
    settings: Settings
    storage: Storage
    events: ProcessingEvents
    writes: VideoWrites


@contextlib.asynccontextmanager
async def clients() -> AsyncIterator[Clients]:
    """What one task needs, opened by the task itself (tasks may run on any worker)."""
    settings = Settings()
    names = RedisNames(settings.cache_key_prefix)
    redis_client = create_redis(
        settings.redis_url, timeout=settings.redis_timeout_seconds, mode=settings.redis_mode
    )
    # No L1 in a worker: it only writes, and its invalidations reach every API process.
    cache = CacheTier(
        settings.model_copy(update={"cache_l1_enabled": False}),
        RedisCache(redis_client, channel=names.l1_drop_channel),
    )
    events = ProcessingEvents(redis_client, names)
    db = await create_database(settings.database_url, min_size=1, max_size=2)
    try:
        async with open_storage(settings) as storage:
            yield Clients(settings, storage, events, VideoWrites(db, cache, events))
    finally:
        await db.close()
        await redis_client.aclose()


async def report(
    c: Clients,
    video_id: UUID,
    step: str,
    *,
    progress: float | None = None,
    message: str | None = None,
) -> None:
    """A step of a running video, told to subscribers (the heartbeat is `keep_alive`'s)."""
    try:
        await c.events.publish(
            ProcessingEvent.now(
                video_id, VideoStatus.PROCESSING, step, progress=progress, message=message
            )
        )
    except Exception:
        log.warning("could not publish a processing event for %s", video_id)


@contextlib.asynccontextmanager
async def video_write(c: Clients) -> AsyncIterator[Any]:
    """A write of the video's state; a deleted video or a refused transition is final."""
    try:
        async with c.writes.transaction() as tx:
            yield tx
    except NotFound:
        raise VideoGone("The video was deleted.") from None
    except Conflict as exc:
        raise MediaError(exc.message) from None


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=retry_unless_media_error)
async def begin(video_id: str, run: str) -> None:
    """Mark the video PROCESSING, held by this run (a run that held it before loses it). From
    here on the run's log lines name the request that started it (awaited, not a task: the
    run's own context)."""
    request_ids.current.set(request_ids.from_run_tags(list(flow_run.tags or [])))
    async with clients() as c:
        await c.events.heartbeat(UUID(video_id), ttl=2 * c.settings.processing_heartbeat_seconds)
        async with video_write(c) as tx:
            await tx.transition(UUID(video_id), VideoStatus.PROCESSING)
            await tx.take_lease(UUID(video_id), run)


async def still_held(c: Clients, video_id: str, run: str) -> video_sql.HeldState:
    """The video, if this run still holds it: VideoGone when it was deleted, LeaseLost when
    another run took it over."""
    state = await video_sql.state_now(c.writes.db.pool, UUID(video_id))
    if state is None:
        raise VideoGone("The video was deleted.")
    if state.processing_run != run:
        raise LeaseLost(UUID(video_id), run, state.processing_run)
    return state


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=retry_unless_media_error)
async def probe_source(video_id: str) -> dict[str, object]:
    """Read what the source is, through a presigned URL (only its header is read); refuse
    what is not a video, or is beyond the limits."""
    async with clients() as c:
        size = await c.storage.object_size(c.storage.raw_bucket, source_key(video_id))
        if size is None:
            raise MediaError("The uploaded file is gone.")
        info = await media.probe(await source_url(c, video_id), size=size)
        media.check_limits(info, limits(c.settings))
        await report(
            c,
            UUID(video_id),
            "probe",
            message=f"{info.width}x{info.height}, {info.duration:.1f} s",
        )
    return asdict(info)


async def source_url(c: Clients, video_id: str) -> str:
    return await c.storage.client.generate_presigned_url(
        "get_object",
        Params={"Bucket": c.storage.raw_bucket, "Key": source_key(video_id)},
        ExpiresIn=SOURCE_URL_SECONDS,
    )


@task
def plan(source: dict[str, object]) -> list[dict[str, object]]:
    """The ladder for this source (no upscaling)."""
    return [asdict(r) for r in media.plan_ladder(SourceInfo(**source))]  # type: ignore[arg-type]


def chunk_jobs(info: SourceInfo, ladder: list[Rung], *, encoders: int) -> list[ChunkJob]:
    """The lowest rung's chunks first, alone and one share per encoder: it makes the video
    playable. Then the rest of the ladder, each chunk decoded once for all of its rungs."""
    return [
        ChunkJob(group, chunk, rungs)
        for group, (rungs, lowest) in enumerate(encoding.rung_groups(ladder))
        for chunk in encoding.group_chunks(info, lowest=lowest, encoders=encoders)
    ]


async def fetch_rung(
    c: Clients, video_id: str, rung: Rung, chunks: list[Chunk], folder: Path
) -> list[Path]:
    """Download a rung's chunks, all at once, from their keys."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)

    async def one(chunk: Chunk) -> Path:
        target = folder / f"{chunk.index:05d}.mp4"
        got = await c.storage.client.get_object(
            Bucket=c.storage.raw_bucket, Key=chunk_key(video_id, rung.name, chunk.index)
        )
        async with got["Body"] as body:
            await asyncio.to_thread(target.write_bytes, await body.read())
        return target

    return list(await asyncio.gather(*(one(chunk) for chunk in chunks)))


async def publish_files(c: Clients, video_id: str, run: str, files: list[tuple[Path, str]]) -> bool:
    """Upload files (path, key relative to the video's folder: hls/... or thumbs/...) into
    the space its visibility says now; whether that is the signed one. Concurrently, in waves
    a player can never overtake: the files playlists name, then the variant playlists, then
    the master that names them. A video deleted by now, or held by another run, gets none."""
    state = await still_held(c, video_id, run)
    if state.status is not VideoStatus.PROCESSING:
        raise MediaError(f"The video is {state.status.value}; this run no longer owns it.")
    signed = state.visibility is not Visibility.PUBLIC
    gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)

    async def put(path: Path, relative: str) -> None:
        async with gate:
            await c.storage.client.put_object(
                Bucket=c.storage.media_bucket,
                Key=media_prefix(video_id, signed=signed) + relative,
                Body=await asyncio.to_thread(path.read_bytes),
                ContentType=CONTENT_TYPES[path.suffix],
                CacheControl=cache_of(path),
            )

    def wave(path: Path) -> int:
        return (
            2 if path.name in ("master.m3u8", DASH_MANIFEST) else 1 if path.suffix == ".m3u8" else 0
        )

    for current in (0, 1, 2):
        await asyncio.gather(*(put(p, k) for p, k in files if wave(p) == current))
    return signed


def rendition_files(hls: Path, folder: str) -> list[tuple[Path, str]]:
    return [
        (path, f"hls/{folder}/{path.name}")
        for path in sorted((hls / folder).iterdir())
        if path.suffix in CONTENT_TYPES
    ]


async def record_ladder(
    c: Clients,
    video_id: str,
    run: str,
    variants: list[Variant],
    info: SourceInfo,
    *,
    published_signed: bool,
    ready: bool,
) -> None:
    """The rungs published so far, the manifest and the duration: the video is playable from
    now on, and READY when `ready`. Under the row lock a visibility change waits; one made
    since the files were published is caught up here (copied into the space the visibility
    says), so the objects sit where the visibility says. Only the run holding the video gets
    here."""
    vid = UUID(video_id)
    renditions = [
        Rendition(
            height=v.rung.height,
            width=v.rung.width,
            bitrate=v.peak_bandwidth,
            codecs=v.codecs,
            playlist_path=hls_key(video_id, v.playlist),
        )
        for v in variants
    ]
    async with video_write(c) as tx:
        held = await tx.hold_lease(vid, run)
        signed = held.visibility is not Visibility.PUBLIC
        if ready or signed != published_signed:
            await c.storage.copy_media(vid, to_signed=signed)
        await tx.publish_stream(
            vid,
            renditions,
            duration_seconds=info.duration,
            master_path=master_key(vid),
            thumbnail_path=poster_key(vid),
            dash_path=dash_key(vid),
            ready=ready,
        )
    if ready or signed != published_signed:
        await c.storage.delete_media(vid, signed=not signed)


async def remove_chunks(video_id: str) -> None:
    """The encoders' outputs are stitched and published (or will never be): they go."""
    try:
        async with clients() as c:
            await delete_prefix(c.storage.client, c.storage.raw_bucket, chunks_prefix(video_id))
    except Exception:
        log.warning("chunk outputs of video %s stay until it is deleted", video_id)


async def _release(video_id: str) -> None:
    """The video is finished: its heartbeat goes now rather than at its expiry."""
    try:
        async with clients() as c:
            await c.events.end_heartbeat(UUID(video_id))
    except Exception:
        log.warning("heartbeat of finished video %s expires by itself", video_id)


async def remove_published(video_id: str) -> None:
    """Delete whatever this run published of a video that was deleted meanwhile (a delete
    that raced `publish` removed the objects before the rest of them arrived)."""
    try:
        async with clients() as c:
            removed = await c.storage.delete_media(UUID(video_id))
        if removed:
            log.info("removed %d objects published for deleted video %s", removed, video_id)
    except Exception:
        log.exception("could not remove what was published for deleted video %s", video_id)


async def fail(video_id: str, run: str, reason: str) -> None:
    """FAILED with the reason, unless the video is gone or already finished, or another run
    holds it now."""
    async with clients() as c:
        with contextlib.suppress(MediaError, LeaseLost):
            async with video_write(c) as tx:
                await tx.hold_lease(UUID(video_id), run)
                await tx.transition(UUID(video_id), VideoStatus.FAILED, reason=reason)
            with contextlib.suppress(*REDIS_DOWN_ERRORS):
                await c.events.end_heartbeat(UUID(video_id))


async def keep_alive(video_id: UUID) -> None:
    """Refresh the video's heartbeat for as long as the run lasts, every step included (a long
    download, storyboard or publish must not look like a dead worker), until cancelled."""
    settings = Settings()
    names = RedisNames(settings.cache_key_prefix)
    client = create_redis(
        settings.redis_url, timeout=settings.redis_timeout_seconds, mode=settings.redis_mode
    )
    events = ProcessingEvents(client, names)
    interval = settings.processing_heartbeat_seconds / 2
    try:
        while True:
            try:
                await events.heartbeat(video_id, ttl=2 * settings.processing_heartbeat_seconds)
            except REDIS_DOWN_ERRORS as exc:
                log.warning("heartbeat of video %s not refreshed: %s", video_id, exc)
            await asyncio.sleep(interval)
    finally:
        await client.aclose()


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def hand_back(video_id: str, run: str, reason: str) -> None:
    """A transient failure (storage, database, orchestration): the video stays PROCESSING and
    its heartbeat goes, so the API's recovery sweep starts a new run soon, up to
    processing_max_attempts runs; only then does it end FAILED."""
    vid = UUID(video_id)
    try:
        async with clients() as c:
            async with c.writes.transaction() as tx:  # LeaseLost: the heartbeat is another's
                await tx.note_failure(vid, run, reason)
            await c.events.end_heartbeat(vid)
            await c.events.publish_quietly(
                ProcessingEvent.now(
                    vid, VideoStatus.PROCESSING, "retrying", message=f"{reason} Retrying."
                )
            )
    except (NotFound, LeaseLost):
        return
    except Exception:
        # Redis or PostgreSQL is what failed: the heartbeat lapses by itself.
        log.warning("could not hand video %s back for a retry", video_id)


class Steps:
    """The step under way (a failure on our side names it) and the wall time each took (the
    run's closing log line says where the time went)."""

    def __init__(self) -> None:
        self.current = "start"
        self.took: dict[str, float] = {}
        self.began = time.perf_counter()
        self.ended: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def __call__(self, step: str) -> AsyncIterator[None]:
        self.current = step
        started = time.perf_counter()
        try:
            yield
        finally:
            now = time.perf_counter()
            self.took[step] = self.took.get(step, 0.0) + now - started
            self.ended[step] = now - self.began

    def until(self, step: str) -> float:
        """Seconds from the first step to the end of this one."""
        return self.ended.get(step, float("nan"))

    def summary(self) -> str:
        return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.took.items())


class Ladder:
    """One run's making of the stream: chunks on the encoders, audio and poster here, the
    lowest rung published first (playable), then each further rung, then READY."""

    def __init__(
        self,
        c: Clients,
        *,
        video_id: str,
        run: str,
        workdir: Path,
        info: SourceInfo,
        ladder: list[Rung],
    ) -> None:
        self.c, self.video_id, self.run, self.info = c, video_id, run, info
        self.ladder = ladder
        self.hls = workdir / "hls"
        self.thumbs = workdir / "thumbs"
        self.downloads = workdir / "chunks"
        self.jobs: list[ChunkJob] = []
        self.timeout = limits(c.settings).step_seconds(info.duration)
        self.done: dict[int, int] = {0: 0, 1: 0}
        self.totals: dict[int, int] = {}
        self.lowest_done = asyncio.Event()
        self.variants: list[Variant] = []
        self.audio: media.AudioRendition | None = None
        self.encode_seconds = 0.0

    async def chunk_done(self, job: ChunkJob) -> None:
        self.done[job.group] += 1
        done, total = self.done[job.group], self.totals[job.group]
        # What a person reads under the bar: "Encoding 240p: 3 of 10 parts".
        rungs = ", ".join(rung.name for rung in job.rungs)
        message = f"Encoding {rungs}: {done} of {total} parts"
        step = "encode" if job.group == 0 else "ladder"
        await report(
            self.c, UUID(self.video_id), step, progress=round(done / total, 3), message=message
        )
        if job.group == 0 and done == total:
            self.lowest_done.set()

    async def make_audio(self, url: str) -> None:
        if self.info.has_audio:
            await encoding.encode_audio(
                url,
                self.hls / AUDIO_FOLDER,
                copy=self.info.audio_copy,
                timeout_seconds=self.timeout,
            )
            self.audio = await media.measure_audio(self.hls, AUDIO_FOLDER)

    async def make_poster(self, url: str) -> None:
        await asyncio.to_thread(self.thumbs.mkdir, parents=True, exist_ok=True)
        await media.poster(url, self.thumbs / "poster.jpg", self.info, timeout_seconds=self.timeout)

    async def make_storyboard(self) -> None:
        lowest = self.ladder[-1]
        await media.storyboard(
            self.hls / lowest.name / "index.m3u8",
            self.thumbs / STORYBOARD_SPRITE,
            self.thumbs / STORYBOARD_INDEX,
            self.info,
            sprite_url=STORYBOARD_SPRITE,
            timeout_seconds=self.timeout,
        )

    async def stitch(self, rung: Rung) -> Variant:
        files = await fetch_rung(
            self.c,
            self.video_id,
            rung,
            [job.chunk for job in self.jobs if rung in job.rungs],
            self.downloads / rung.name,
        )
        await encoding.stitch(files, self.hls / rung.name, timeout_seconds=self.timeout)
        return await media.measure_variant(self.hls, rung, self.info.fps, self.audio)

    async def publish(
        self, variant: Variant, extra: list[tuple[Path, str]], *, ready: bool = False
    ) -> None:
        """One more rung (and what comes with it): its files, then the master naming every
        rung published so far, then the rows."""
        self.variants.append(variant)
        text = media.master_playlist(self.variants, self.audio)
        described = await asyncio.to_thread(dash.dash_manifest, self.hls, self.variants, self.audio)
        await publish_files(
            self.c,
            self.video_id,
            self.run,
            [*rendition_files(self.hls, variant.rung.name), *extra],
        )
        await self.record(await self.publish_manifests(text, described), ready=ready)

    async def publish_manifests(self, master: str, mpd: str) -> bool:
        """The master and the MPD with the video's captions as they are now (their files
        first), under the manifests lock a caption's write takes too: neither overwrites the
        other's manifests with an older list of captions."""
        vid = UUID(self.video_id)
        files: list[tuple[Path, str]] = []

        async def write(relative: str, text: str) -> None:
            path = self.hls / relative
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(path.write_text, text)
            files.append((path, f"hls/{relative}"))

        async with self.c.writes.db.pool.acquire() as conn, conn.transaction():
            await caption_sql.lock_manifests(conn, vid)
            stored = await caption_sql.captions_of(conn, vid)
            for caption in stored:
                made = await asyncio.to_thread(files_of, caption, self.info.duration)
                for relative, text in made:
                    await write(relative, text)
            tracks = tracks_of(stored)
            await write("master.m3u8", subtitle_tracks.master_with_captions(master, tracks))
            await write(DASH_MANIFEST, subtitle_tracks.mpd_with_captions(mpd, tracks))
            return await publish_files(self.c, self.video_id, self.run, files)

    async def publish_files(self, files: list[tuple[Path, str]], *, ready: bool) -> None:
        """Upload files, then write the rungs published so far (READY when `ready`)."""
        await self.record(await publish_files(self.c, self.video_id, self.run, files), ready=ready)

    async def record(self, published_signed: bool, *, ready: bool) -> None:
        """The rungs published so far (READY when `ready`), the files having gone to the
        signed space or not."""
        await record_ladder(
            self.c,
            self.video_id,
            self.run,
            self.variants,
            self.info,
            published_signed=published_signed,
            ready=ready,
        )

    def plan(self, encoders: int) -> None:
        self.jobs = chunk_jobs(self.info, self.ladder, encoders=encoders)
        self.totals = {g: sum(1 for j in self.jobs if j.group == g) for g in (0, 1)}

    async def make(self, steps: Steps, preparing: asyncio.Task[int]) -> None:
        url = await source_url(self.c, self.video_id)
        encoders = await preparing
        self.plan(encoders)
        runs = ChunkRuns(
            self.video_id,
            self.info,
            self.c.settings,
            timeout_seconds=self.timeout,
            on_done=self.chunk_done,
        )
        started = time.perf_counter()
        encoder = asyncio.create_task(runs.run_all(self.jobs, encoders=encoders))
        await report(self.c, UUID(self.video_id), "encode", progress=0.0)
        try:
            async with steps("encode"):
                audio = asyncio.create_task(self.make_audio(url))
                poster = asyncio.create_task(self.make_poster(url))
                await first_of(encoder, self.lowest_done)
                await asyncio.gather(audio, poster)
            async with steps("playable"):
                lowest = await self.stitch(self.ladder[-1])
                extra = [(self.thumbs / "poster.jpg", "thumbs/poster.jpg")]
                if self.audio is not None:
                    extra += rendition_files(self.hls, AUDIO_FOLDER)
                await self.publish(lowest, extra, ready=len(self.ladder) == 1)
                await report(
                    self.c,
                    UUID(self.video_id),
                    PLAYABLE,
                    message=f"Playable in {lowest.rung.name}; encoding the other qualities",
                )
            async with steps("storyboard"):
                await self.make_storyboard()
            async with steps("ladder"):
                await encoder
            self.encode_seconds = time.perf_counter() - started
            async with steps("publish"):
                rest = self.ladder[-2::-1]  # ascending
                stitched = await asyncio.gather(*(self.stitch(rung) for rung in rest))
                board = [
                    (self.thumbs / STORYBOARD_SPRITE, f"thumbs/{STORYBOARD_SPRITE}"),
                    (self.thumbs / STORYBOARD_INDEX, f"thumbs/{STORYBOARD_INDEX}"),
                ]
                for i, variant in enumerate(stitched):
                    last = i == len(stitched) - 1
                    await self.publish(variant, board if last else [], ready=last)
                if not stitched:
                    await self.publish_files(board, ready=True)
            if runs.resubmitted:
                log.info("video %s: %d chunk runs submitted again", self.video_id, runs.resubmitted)
        finally:
            if not encoder.done():
                encoder.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await encoder


@contextlib.asynccontextmanager
async def users_turn(c: Clients, video_id: str) -> AsyncIterator[None]:
    """Hold one of the owner's transcoding slots (a Prefect global concurrency limit per
    user, STREAMIFY_TRANSCODE_USER_CONCURRENCY): a user who queues many videos gets that many
    encoding at once, and everyone else's start beside them. Waiting, the video is PROCESSING
    (its heartbeat goes on) at the step "queued"."""
    owner = await video_sql.owner_of(c.writes.db.pool, UUID(video_id))
    if owner is None:
        raise VideoGone("The video was deleted.")
    name = user_transcode_limit(owner)
    limit = c.settings.transcode_user_concurrency
    await upsert_limit(name, limit)

    async def tell_owner() -> None:
        await asyncio.sleep(QUEUED_AFTER_SECONDS)
        await report(
            c,
            UUID(video_id),
            "queued",
            message=f"Waiting: {limit} of your videos are being processed.",
        )

    waiting = asyncio.create_task(tell_owner())
    try:
        async with concurrency(name, occupy=1):
            await _stop(waiting)
            yield
    finally:
        await _stop(waiting)


async def upsert_limit(name: str, limit: int) -> None:
    """Prefect's upsert reads, then creates: two of one user's videos starting together race
    on the creation, and the loser's second pass finds the limit and updates it."""
    async with get_client() as client:
        try:
            await client.upsert_global_concurrency_limit_by_name(name, limit)
        except ObjectAlreadyExists:
            await client.upsert_global_concurrency_limit_by_name(name, limit)


async def first_of(work: asyncio.Task[None], reached: asyncio.Event) -> None:
    """Until `reached` is set; the work's failure, if it fails first."""
    waiting = asyncio.create_task(reached.wait())
    try:
        await asyncio.wait({work, waiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    if work.done() and not reached.is_set():
        work.result()  # raises its failure
        raise RuntimeError("the chunks finished without the lowest rung")


def say_where_the_time_went(video_id: str, total: float, steps: Steps, making: Ladder) -> None:
    get_run_logger().info(
        "video %s ready in %.1f s (playable at %.1f s): chunk encoding %.1f s,"
        " everything else %.1f s (%s); started by request %s",
        video_id,
        total,
        steps.until("playable"),
        making.encode_seconds,
        total - making.encode_seconds,
        steps.summary(),
        request_ids.current.get() or "-",
    )


@flow(name=TRANSCODE_FLOW, log_prints=False)
async def transcode_video(video_id: str) -> str:
    """Turn an uploaded source into an adaptive HLS stream on the CDN: playable as soon as its
    lowest rung is, READY when every rung, the thumbnails and the storyboard are."""
    workdir = Path(tempfile.mkdtemp(prefix=f"streamify-{video_id}-"))
    started = time.perf_counter()
    # The lease: this flow run's id (one of its own when run outside Prefect's bookkeeping).
    run = str(flow_run.id or uuid4())
    heartbeat = asyncio.create_task(keep_alive(UUID(video_id)))
    preparing = asyncio.create_task(ready_to_submit(Settings()))
    steps = Steps()
    try:
        async with steps("start"):
            await begin(video_id, run)
        async with steps("probe"):
            source = await probe_source(video_id)
            ladder = [Rung(**r) for r in plan(source)]  # type: ignore[arg-type]
        info = SourceInfo(**source)  # type: ignore[arg-type]
        async with clients() as c:
            making = Ladder(
                c, video_id=video_id, run=run, workdir=workdir, info=info, ladder=ladder
            )
            async with contextlib.AsyncExitStack() as turn:
                async with steps("queued"):
                    await turn.enter_async_context(users_turn(c, video_id))
                await making.make(steps, preparing)
        await _stop(heartbeat)
        await _release(video_id)
        await remove_chunks(video_id)
        say_where_the_time_went(video_id, time.perf_counter() - started, steps, making)
    except VideoGone:
        await _stop(heartbeat)
        await remove_published(video_id)
        await remove_chunks(video_id)
        raise
    except LeaseLost:
        # Another run took the video over: it is that run's to finish; this one stops here,
        # touching neither the video nor its heartbeat.
        await _stop(heartbeat)
        raise
    except MediaError as exc:
        await _stop(heartbeat)
        await fail(video_id, run, str(exc))
        await remove_chunks(video_id)
        raise
    except Exception as exc:
        await _stop(heartbeat)  # before handing back: nothing may refresh it afterwards
        why = f"the {steps.current} step failed on our side ({type(exc).__name__})."
        await hand_back(video_id, run, why[0].upper() + why[1:])
        raise
    finally:
        await _stop(heartbeat)
        preparing.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await preparing  # its failure, if any, was the flow's own
        shutil.rmtree(workdir, ignore_errors=True)
    return video_id
