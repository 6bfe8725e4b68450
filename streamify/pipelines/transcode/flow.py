"""The transcoding DAG on Prefect: probe -> plan ladder -> encode -> thumbnails -> master
playlist -> publish -> finish. Tasks take ids and primitives, open their own clients, and are
idempotent: a second run overwrites the same objects and rows. A source that cannot become a
stream ends the video in FAILED with a reason the uploader can read.

`streamify worker` serves the `transcode-video/transcode` deployment; the API starts runs of it
from S3 events (start_processing). Every change of the video's state goes through
`streamify.writes.videos`, which also invalidates caches and tells subscribers."""

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

from prefect import Task, flow, get_run_logger, task
from prefect.client.schemas.objects import State, TaskRun
from prefect.runtime import flow_run

from streamify.domain import Conflict, NotFound, Rendition, VideoStatus, Visibility
from streamify.infra.cache.redis_store import RedisCache
from streamify.infra.cache.tier import CacheTier
from streamify.infra.db import create_database
from streamify.infra.events import ProcessingEvent, ProcessingEvents
from streamify.infra.redis_client import REDIS_DOWN_ERRORS, create_redis
from streamify.infra.settings import Settings
from streamify.infra.sql import videos as video_sql
from streamify.infra.storage import Storage, open_storage
from streamify.names import (
    STORYBOARD_INDEX,
    STORYBOARD_SPRITE,
    TRANSCODE_FLOW,
    RedisNames,
    hls_key,
    master_key,
    poster_key,
    source_key,
    thumbs_key,
)
from streamify.pipelines.transcode import media
from streamify.pipelines.transcode.media import MediaError, Rung, SourceInfo
from streamify.writes.videos import LeaseLost, VideoWrites

log = logging.getLogger(__name__)

SEGMENT_CACHE = "public, max-age=31536000, immutable"
# Uploads in flight at once when publishing: one round trip per file otherwise dominates.
PUBLISH_CONCURRENCY = 16


def cache_of(path: Path) -> str:
    return SEGMENT_CACHE if path.suffix in (".ts", ".jpg") else PLAYLIST_CACHE


PLAYLIST_CACHE = "public, max-age=10"
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}


# The work folder holds the source, every rendition and the thumbnails at once.
WORKSPACE_FACTOR = 4


class VideoGone(MediaError):
    """The video was deleted while its run went on: nothing of it may be published."""


class NotEnoughSpace(Exception):
    """This worker's disk cannot hold the work now: a transient failure, retried."""


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
    redis_client = create_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
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


async def _retry_unless_media_error(
    task: Task[..., Any], task_run: TaskRun, state: State[Any]
) -> bool:
    """Retry transient failures only: a source that is not a video stays not a video, and a
    run that lost its video stays without it. (Async: an async task's `state.result()` is a
    coroutine that raises nothing until awaited, which made every failure look transient.)"""
    failure = state.data
    if not isinstance(failure, BaseException):
        try:
            await state.aresult(raise_on_failure=True)
        except Exception as exc:  # the failure, as the state holds it
            failure = exc
    return not isinstance(failure, MediaError | LeaseLost)


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_unless_media_error)
async def begin(video_id: str, run: str) -> None:
    """Mark the video PROCESSING, held by this run (a run that held it before loses it)."""
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


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_unless_media_error)
async def fetch_source(video_id: str, workdir: str) -> str:
    """Download the uploaded source to the work folder, when the folder's disk has room for
    it and what is made of it (else the task is retried, perhaps on another worker)."""
    target = Path(workdir) / "source"
    async with clients() as c:
        await report(c, UUID(video_id), "download")
        size = await c.storage.object_size(c.storage.raw_bucket, source_key(video_id))
        if size is None:
            raise MediaError("The uploaded file is gone.")
        free = shutil.disk_usage(workdir).free
        if free < size * WORKSPACE_FACTOR:
            raise NotEnoughSpace(
                f"{free} bytes free in {workdir}; a {size}-byte source needs"
                f" {size * WORKSPACE_FACTOR}."
            )
        got = await c.storage.client.get_object(
            Bucket=c.storage.raw_bucket, Key=source_key(video_id)
        )
        async with got["Body"] as body:
            with target.open("wb") as out:
                while chunk := await body.read(8 * 1024 * 1024):
                    out.write(chunk)
    return str(target)


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_unless_media_error)
async def probe_source(video_id: str, source_path: str) -> dict[str, object]:
    """Read what the source is; refuse what is not a video, or is beyond the limits."""
    info = await media.probe(Path(source_path))
    media.check_limits(info, limits(Settings()))
    async with clients() as c:
        await report(
            c,
            UUID(video_id),
            "probe",
            message=f"{info.width}x{info.height}, {info.duration:.1f} s",
        )
    return asdict(info)


@task
def plan(source: dict[str, object]) -> list[dict[str, object]]:
    """The ladder for this source (no upscaling)."""
    return [asdict(r) for r in media.plan_ladder(SourceInfo(**source))]  # type: ignore[arg-type]


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_unless_media_error)
async def encode(
    video_id: str,
    source_path: str,
    workdir: str,
    source: dict[str, object],
    ladder: list[dict[str, object]],
    *,
    run: str,
) -> float:
    """Encode every rendition in one ffmpeg run, reporting its progress."""
    info, rungs = SourceInfo(**source), [Rung(**r) for r in ladder]  # type: ignore[arg-type]
    hls = Path(workdir) / "hls"
    shutil.rmtree(hls, ignore_errors=True)
    async with clients() as c:
        await still_held(c, video_id, run)  # the longest step: not for a video lost already
        last, last_at = -1.0, 0.0
        beat = c.settings.processing_heartbeat_seconds / 2

        async def progress(fraction: float) -> None:
            nonlocal last, last_at
            if fraction - last >= 0.05 or fraction >= 1.0 or time.monotonic() - last_at > beat:
                last, last_at = fraction, time.monotonic()
                await report(c, UUID(video_id), "encode", progress=round(fraction, 3))

        started = time.perf_counter()
        await media.encode(
            Path(source_path),
            hls,
            info,
            rungs,
            on_progress=progress,
            timeout_seconds=limits(c.settings).step_seconds(info.duration),
        )
        return time.perf_counter() - started


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_unless_media_error)
async def thumbnails(
    video_id: str, source_path: str, workdir: str, source: dict[str, object]
) -> None:
    """Poster, storyboard sprite and its WebVTT index."""
    info = SourceInfo(**source)  # type: ignore[arg-type]
    folder = Path(workdir) / "thumbs"
    folder.mkdir(exist_ok=True)
    seconds = limits(Settings()).step_seconds(info.duration)
    await media.poster(Path(source_path), folder / "poster.jpg", info, timeout_seconds=seconds)
    await media.storyboard(
        Path(source_path),
        folder / STORYBOARD_SPRITE,
        folder / STORYBOARD_INDEX,
        info,
        sprite_url=STORYBOARD_SPRITE,
        timeout_seconds=seconds,
    )


@task
async def master(
    workdir: str, source: dict[str, object], ladder: list[dict[str, object]]
) -> list[dict[str, object]]:
    """Measure each variant and write the master playlist."""
    info, rungs = SourceInfo(**source), [Rung(**r) for r in ladder]  # type: ignore[arg-type]
    hls = Path(workdir) / "hls"
    variants = await asyncio.gather(*(media.measure_variant(hls, rung, info.fps) for rung in rungs))
    (hls / "master.m3u8").write_text(media.master_playlist(variants))
    return [
        {
            "name": v.rung.name,
            "width": v.rung.width,
            "height": v.rung.height,
            "bandwidth": v.peak_bandwidth,
            "codecs": v.codecs,
            "playlist": v.playlist,
        }
        for v in variants
    ]


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_unless_media_error)
async def publish(video_id: str, run: str, workdir: str) -> int:
    """Upload the stream and thumbnails under the video's folder in the media bucket: in the
    signed space unless the video is PUBLIC (`finish` moves them if that changes meanwhile).
    A video deleted by now, or held by another run, is not published at all."""
    root = Path(workdir)
    async with clients() as c:
        state = await still_held(c, video_id, run)
        if state.status is not VideoStatus.PROCESSING:
            raise MediaError(f"The video is {state.status.value}; this run no longer owns it.")
        signed = state.visibility is not Visibility.PUBLIC
        await report(c, UUID(video_id), "publish")
        files = [
            (path, key_of(video_id, path.relative_to(folder).as_posix(), signed=signed))
            for folder, key_of in ((root / "hls", hls_key), (root / "thumbs", thumbs_key))
            for path in sorted(folder.rglob("*"))
            if path.is_file() and path.suffix in CONTENT_TYPES
        ]
        gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)

        async def put(path: Path, key: str) -> None:
            async with gate:
                await c.storage.client.put_object(
                    Bucket=c.storage.media_bucket,
                    Key=key,
                    Body=await asyncio.to_thread(path.read_bytes),
                    ContentType=CONTENT_TYPES[path.suffix],
                    CacheControl=cache_of(path),
                )

        # Concurrently, in waves a player can never overtake: the files playlists name, then
        # the variants' playlists, then the master that names them.
        def wave(path: Path) -> int:
            return 2 if path.name == "master.m3u8" else 1 if path.suffix == ".m3u8" else 0

        for current in (0, 1, 2):
            await asyncio.gather(*(put(p, k) for p, k in files if wave(p) == current))
    return len(files)


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_unless_media_error)
async def finish(
    video_id: str, run: str, source: dict[str, object], variants: list[dict[str, object]]
) -> None:
    """Renditions and manifest rows, duration, READY; then drop every cached copy."""
    vid = UUID(video_id)
    renditions = [
        Rendition(
            height=int(v["height"]),  # type: ignore[call-overload]
            width=int(v["width"]),  # type: ignore[call-overload]
            bitrate=int(v["bandwidth"]),  # type: ignore[call-overload]
            codecs=str(v["codecs"]),
            playlist_path=hls_key(video_id, str(v["playlist"])),
        )
        for v in variants
    ]
    async with clients() as c:
        async with video_write(c) as tx:
            # Under the row lock a visibility change waits; one made since `publish` chose the
            # space is caught up here, so the objects sit where the visibility says. Only the
            # run holding the video gets here: exactly one run finishes it.
            held = await tx.hold_lease(vid, run)
            signed = held.visibility is not Visibility.PUBLIC
            await c.storage.copy_media(vid, to_signed=signed)
            await tx.publish_stream(
                vid,
                renditions,
                duration_seconds=float(source["duration"]),  # type: ignore[arg-type]
                master_path=master_key(vid),
                thumbnail_path=poster_key(vid),
            )
        await c.storage.delete_media(vid, signed=not signed)


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
    client = create_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
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

    @contextlib.asynccontextmanager
    async def __call__(self, step: str) -> AsyncIterator[None]:
        self.current = step
        started = time.perf_counter()
        try:
            yield
        finally:
            self.took[step] = self.took.get(step, 0.0) + time.perf_counter() - started

    def summary(self) -> str:
        return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.took.items())


@flow(name=TRANSCODE_FLOW, log_prints=False)
async def transcode_video(video_id: str) -> str:
    """Turn an uploaded source into an adaptive HLS stream on the CDN."""
    workdir = tempfile.mkdtemp(prefix=f"streamify-{video_id}-")
    started = time.perf_counter()
    # The lease: this flow run's id (one of its own when run outside Prefect's bookkeeping).
    run = str(flow_run.id or uuid4())
    heartbeat = asyncio.create_task(keep_alive(UUID(video_id)))
    steps = Steps()
    try:
        async with steps("start"):
            await begin(video_id, run)
        async with steps("download"):
            source_path = await fetch_source(video_id, workdir)
        async with steps("probe"):
            source = await probe_source(video_id, source_path)
            ladder = plan(source)
        async with steps("encode"):
            encoding = await encode(video_id, source_path, workdir, source, ladder, run=run)
        async with steps("thumbnail"):
            # ffmpeg reads the source for the poster and storyboard while the renditions are
            # measured: one waits on the disk and ffprobe, the other on a core.
            _, variants = await asyncio.gather(
                thumbnails(video_id, source_path, workdir, source), master(workdir, source, ladder)
            )
        async with steps("publish"):
            await publish(video_id, run, workdir)
        async with steps("finish"):
            await finish(video_id, run, source, variants)
        await _stop(heartbeat)
        await _release(video_id)
        total = time.perf_counter() - started
        get_run_logger().info(
            "video %s ready in %.1f s: ffmpeg encode %.1f s, everything else %.1f s (%s)",
            video_id,
            total,
            encoding,
            total - encoding,
            steps.summary(),
        )
    except VideoGone:
        await _stop(heartbeat)
        await remove_published(video_id)
        raise
    except LeaseLost:
        # Another run took the video over: it is that run's to finish; this one stops here,
        # touching neither the video nor its heartbeat.
        await _stop(heartbeat)
        raise
    except MediaError as exc:
        await _stop(heartbeat)
        await fail(video_id, run, str(exc))
        raise
    except Exception as exc:
        await _stop(heartbeat)  # before handing back: nothing may refresh it afterwards
        why = f"the {steps.current} step failed on our side ({type(exc).__name__})."
        await hand_back(video_id, run, why[0].upper() + why[1:])
        raise
    finally:
        await _stop(heartbeat)
        shutil.rmtree(workdir, ignore_errors=True)
    return video_id
