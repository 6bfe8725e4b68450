"""The transcoding DAG on Prefect: probe -> plan ladder -> encode -> thumbnails -> master
playlist -> publish -> finish. Tasks take ids and primitives, open their own clients, and are
idempotent: a second run overwrites the same objects and rows. A source that cannot become a
stream ends the video in FAILED with a reason the uploader can read.

`streamify worker` serves the `transcode-video/transcode` deployment; the API starts runs of it
from S3 events (start_processing)."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from prefect import Task, flow, get_run_logger, task
from prefect.client.schemas.objects import State, TaskRun

from streamify.domain import VideoStatus, can_transition
from streamify.infra import events
from streamify.infra.cache import RedisCache, create_redis
from streamify.infra.events import ProcessingEvent
from streamify.infra.settings import Settings
from streamify.infra.storage import Storage, open_storage
from streamify.loaders.cache_aside import CacheTier
from streamify.loaders.namespaces import RENDITIONS, VIDEO_LISTINGS, VIDEOS
from streamify.pipelines import media
from streamify.pipelines.media import MediaError, Rung, SourceInfo
from streamify.pipelines.trigger import TRANSCODE_DEPLOYMENT

log = logging.getLogger(__name__)

DEPLOYMENT = TRANSCODE_DEPLOYMENT
SEGMENT_CACHE = "public, max-age=31536000, immutable"
PLAYLIST_CACHE = "public, max-age=10"
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}


@dataclass
class Clients:
    settings: Settings
    db: asyncpg.Connection
    storage: Storage
    cache: CacheTier
    redis: RedisCache


@contextlib.asynccontextmanager
async def clients() -> AsyncIterator[Clients]:
    """What one task needs, opened by the task itself (tasks may run on any worker)."""
    settings = Settings()
    redis_client = create_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
    redis_cache = RedisCache(redis_client, channel=f"{settings.cache_key_prefix}l1-drop")
    # No L1 in a worker: it only writes, and its invalidations reach every API process.
    cache = CacheTier(settings.model_copy(update={"cache_l1_enabled": False}), redis_cache)
    db = await asyncpg.connect(settings.database_url)
    try:
        async with open_storage(settings) as storage:
            yield Clients(settings, db, storage, cache, redis_cache)
    finally:
        await db.close()
        await redis_client.aclose()


async def report(
    c: Clients,
    video_id: UUID,
    status: VideoStatus,
    step: str,
    *,
    progress: float | None = None,
    message: str | None = None,
) -> None:
    try:
        if status is VideoStatus.PROCESSING:
            await events.heartbeat(
                c.redis.client,
                c.settings.cache_key_prefix,
                video_id,
                ttl=2 * c.settings.processing_heartbeat_seconds,
            )
        await events.publish(
            c.redis.client,
            c.settings.cache_key_prefix,
            ProcessingEvent.now(video_id, status, step, progress=progress, message=message),
        )
    except Exception:
        log.warning("could not publish a processing event for %s", video_id)


async def set_status(
    c: Clients, video_id: UUID, status: VideoStatus, *, reason: str | None = None
) -> None:
    async with c.db.transaction():
        current = await c.db.fetchval(
            "SELECT status FROM videos WHERE id = $1 FOR UPDATE", video_id
        )
        if current is None:
            raise MediaError("The video was deleted.")
        if VideoStatus(current) != status and not can_transition(VideoStatus(current), status):
            raise MediaError(f"The video is {current}; it cannot become {status.value}.")
        version = await c.db.fetchval(
            "UPDATE videos SET status = $2, failure_reason = $3 WHERE id = $1 RETURNING version",
            video_id,
            status.value,
            reason,
        )
    await c.cache.invalidate(VIDEOS, [(video_id, version)])


def _retry_unless_media_error(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry transient failures only: a source that is not a video stays not a video."""
    try:
        state.result()
    except MediaError:
        return False
    except Exception:
        return True
    return True


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_unless_media_error)
async def begin(video_id: str) -> None:
    """Mark the video PROCESSING."""
    async with clients() as c:
        await set_status(c, UUID(video_id), VideoStatus.PROCESSING)
        await report(c, UUID(video_id), VideoStatus.PROCESSING, "start")


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_unless_media_error)
async def fetch_source(video_id: str, workdir: str) -> str:
    """Download the uploaded source to the work folder."""
    target = Path(workdir) / "source"
    async with clients() as c:
        await report(c, UUID(video_id), VideoStatus.PROCESSING, "download")
        got = await c.storage.client.get_object(
            Bucket=c.storage.raw_bucket, Key=f"uploads/{video_id}/source"
        )
        async with got["Body"] as body:
            with target.open("wb") as out:
                while chunk := await body.read(8 * 1024 * 1024):
                    out.write(chunk)
    return str(target)


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_unless_media_error)
async def probe_source(video_id: str, source_path: str) -> dict[str, object]:
    """Read what the source is; refuse what is not a video."""
    info = await media.probe(Path(source_path))
    async with clients() as c:
        await report(
            c,
            UUID(video_id),
            VideoStatus.PROCESSING,
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
) -> float:
    """Encode every rendition in one ffmpeg run, reporting its progress."""
    info, rungs = SourceInfo(**source), [Rung(**r) for r in ladder]  # type: ignore[arg-type]
    hls = Path(workdir) / "hls"
    shutil.rmtree(hls, ignore_errors=True)
    async with clients() as c:
        last, last_at = -1.0, 0.0
        beat = c.settings.processing_heartbeat_seconds / 2

        async def progress(fraction: float) -> None:
            nonlocal last, last_at
            if fraction - last >= 0.05 or fraction >= 1.0 or time.monotonic() - last_at > beat:
                last, last_at = fraction, time.monotonic()
                await report(
                    c, UUID(video_id), VideoStatus.PROCESSING, "encode", progress=round(fraction, 3)
                )

        started = time.perf_counter()
        await media.encode(Path(source_path), hls, info, rungs, on_progress=progress)
        return time.perf_counter() - started


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_unless_media_error)
async def thumbnails(
    video_id: str, source_path: str, workdir: str, source: dict[str, object]
) -> None:
    """Poster, storyboard sprite and its WebVTT index."""
    info = SourceInfo(**source)  # type: ignore[arg-type]
    folder = Path(workdir) / "thumbs"
    folder.mkdir(exist_ok=True)
    await media.poster(Path(source_path), folder / "poster.jpg", info)
    await media.storyboard(
        Path(source_path),
        folder / "storyboard.jpg",
        folder / "storyboard.vtt",
        info,
        sprite_url="storyboard.jpg",
    )


@task
async def master(
    workdir: str, source: dict[str, object], ladder: list[dict[str, object]]
) -> list[dict[str, object]]:
    """Measure each variant and write the master playlist."""
    info, rungs = SourceInfo(**source), [Rung(**r) for r in ladder]  # type: ignore[arg-type]
    hls = Path(workdir) / "hls"
    variants = [await media.measure_variant(hls, rung, info.fps) for rung in rungs]
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
async def publish(video_id: str, workdir: str) -> int:
    """Upload the stream and thumbnails under videos/{id}/ in the media bucket."""
    root = Path(workdir)
    uploaded = 0
    async with clients() as c:
        await report(c, UUID(video_id), VideoStatus.PROCESSING, "publish")
        for folder, prefix in ((root / "hls", "hls"), (root / "thumbs", "thumbs")):
            for path in sorted(folder.rglob("*")):
                if not path.is_file() or path.suffix not in CONTENT_TYPES:
                    continue
                key = f"videos/{video_id}/{prefix}/{path.relative_to(folder).as_posix()}"
                cache = SEGMENT_CACHE if path.suffix in (".ts", ".jpg") else PLAYLIST_CACHE
                await c.storage.client.put_object(
                    Bucket=c.storage.media_bucket,
                    Key=key,
                    Body=path.read_bytes(),
                    ContentType=CONTENT_TYPES[path.suffix],
                    CacheControl=cache,
                )
                uploaded += 1
    return uploaded


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_unless_media_error)
async def finish(
    video_id: str, source: dict[str, object], variants: list[dict[str, object]]
) -> None:
    """Renditions and manifest rows, duration, READY; then drop every cached copy."""
    vid = UUID(video_id)
    async with clients() as c:
        async with c.db.transaction():
            await c.db.execute("DELETE FROM renditions WHERE video_id = $1", vid)
            await c.db.executemany(
                "INSERT INTO renditions (video_id, height, width, bitrate, codecs, playlist_path)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                [
                    (
                        vid,
                        v["height"],
                        v["width"],
                        v["bandwidth"],
                        v["codecs"],
                        f"videos/{video_id}/hls/{v['playlist']}",
                    )
                    for v in variants
                ],
            )
            await c.db.execute(
                """INSERT INTO manifests (video_id, master_path, thumbnail_path)
                   VALUES ($1, $2, $3)
                   ON CONFLICT (video_id) DO UPDATE
                   SET master_path = EXCLUDED.master_path,
                       thumbnail_path = EXCLUDED.thumbnail_path""",
                vid,
                f"videos/{video_id}/hls/master.m3u8",
                f"videos/{video_id}/thumbs/poster.jpg",
            )
            current = await c.db.fetchval("SELECT status FROM videos WHERE id = $1 FOR UPDATE", vid)
            if current is None:
                raise MediaError("The video was deleted.")
            version = await c.db.fetchval(
                """UPDATE videos SET status = 'READY', failure_reason = NULL,
                          duration_seconds = $2 WHERE id = $1 RETURNING version""",
                vid,
                source["duration"],
            )
        await c.cache.invalidate(VIDEOS, [(vid, version)])
        await c.cache.invalidate(RENDITIONS, [(vid, version)])
        await c.cache.bump_generation(VIDEO_LISTINGS)
        await report(c, vid, VideoStatus.READY, "done", progress=1.0)


async def fail(video_id: str, reason: str) -> None:
    async with clients() as c:
        with contextlib.suppress(MediaError):
            await set_status(c, UUID(video_id), VideoStatus.FAILED, reason=reason)
        await c.cache.bump_generation(VIDEO_LISTINGS)
        await report(c, UUID(video_id), VideoStatus.FAILED, "failed", message=reason)


@flow(name="transcode-video", log_prints=False)
async def transcode_video(video_id: str) -> str:
    """Turn an uploaded source into an adaptive HLS stream on the CDN."""
    workdir = tempfile.mkdtemp(prefix=f"streamify-{video_id}-")
    started = time.perf_counter()
    try:
        await begin(video_id)
        source_path = await fetch_source(video_id, workdir)
        source = await probe_source(video_id, source_path)
        ladder = plan(source)
        encoding = await encode(video_id, source_path, workdir, source, ladder)
        await thumbnails(video_id, source_path, workdir, source)
        variants = await master(workdir, source, ladder)
        await publish(video_id, workdir)
        await finish(video_id, source, variants)
        total = time.perf_counter() - started
        get_run_logger().info(
            "video %s ready in %.1f s: ffmpeg encode %.1f s, everything else %.1f s",
            video_id,
            total,
            encoding,
            total - encoding,
        )
    except MediaError as exc:
        await fail(video_id, str(exc))
        raise
    except Exception:
        await fail(video_id, "Processing failed on our side; it will be retried.")
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return video_id
