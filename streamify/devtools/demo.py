"""A demo that plays: a few short clips made with ffmpeg (landscape, portrait, square and
silent) go through the real pipeline once — uploaded to the raw bucket, announced by the S3
event path, transcoded by the worker — and the seeded feed's videos share their media."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from streamify.devtools.clips import synthetic_clip
from streamify.domain import VideoStatus
from streamify.infra.settings import Settings
from streamify.infra.sql import demo as sql
from streamify.infra.sql.demo import DemoMedia
from streamify.infra.storage import open_storage
from streamify.names import source_key
from streamify.services import open_services

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Clip:
    title: str
    size: str
    audio: bool


CLIPS = (
    Clip("Demo clip: landscape 1280x720", "1280x720", audio=True),
    Clip("Demo clip: portrait 720x1280", "720x1280", audio=True),
    Clip("Demo clip: square 720x720, silent", "720x720", audio=False),
    Clip("Demo clip: cinema 1280x536", "1280x536", audio=True),
)


async def process_demo_clips(
    settings: Settings, folder: Path, *, clips: Sequence[Clip] = CLIPS, wait_seconds: float = 600
) -> list[DemoMedia]:
    """Make the clips, upload them as a demo user's videos and wait until the pipeline has made
    them READY; the media of those that made it."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    async with open_services(settings, background_jobs=False) as services:
        owner = await sql.insert_demo_owner(services.db.pool)
        video_ids = []
        async with open_storage(settings) as storage:
            for i, clip in enumerate(clips):
                path = await asyncio.to_thread(
                    synthetic_clip,
                    folder / f"clip-{i}.mp4",
                    size=clip.size,
                    seconds=6,
                    audio=clip.audio,
                )
                video_id = uuid.uuid4()
                await sql.insert_uploaded_video(services.db.pool, video_id, owner, clip.title)
                # The object's creation is the S3 event that starts processing.
                await storage.client.put_object(
                    Bucket=storage.raw_bucket,
                    Key=source_key(video_id),
                    Body=await asyncio.to_thread(path.read_bytes),
                    ContentType="video/mp4",
                )
                video_ids.append(video_id)
        await services.writes.listings_changed()
        async with asyncio.timeout(wait_seconds):
            while True:
                statuses = await sql.statuses(services.db.pool, video_ids)
                if all(s in (VideoStatus.READY, VideoStatus.FAILED) for s in statuses.values()):
                    break
                await asyncio.sleep(1)
        ready = [v for v in video_ids if statuses[v] is VideoStatus.READY]
        failed = len(video_ids) - len(ready)
        if failed:
            log.warning("%d demo clips failed to process", failed)
        return await sql.media_of(services.db.pool, ready)
