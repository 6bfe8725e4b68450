"""The one write path of a video: transitions checked under the row lock, and after the commit
the invalidations, the listing generation, the request's loader memo and the event."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from streamify.domain import Conflict, NotFound, Rendition, VideoStatus
from streamify.infra.cache.namespaces import VIDEO_LISTINGS, VIDEOS
from streamify.infra.events import ProcessingEvent
from streamify.services import Services
from tests.helpers import followed, insert_user, insert_video, redis_raw

# The cache tier, auth, rate limits and subscriptions promise the same on a Redis Cluster.
pytestmark = pytest.mark.both_redis


class Memo:
    def __init__(self) -> None:
        self.forgotten: list[uuid.UUID] = []

    def forget_video(self, video_id: uuid.UUID) -> None:
        self.forgotten.append(video_id)


async def _status(services: Services, video_id: uuid.UUID) -> tuple[str, int]:
    row = await services.db.pool.fetchrow(
        "SELECT status, version FROM videos WHERE id = $1", video_id
    )
    assert row is not None
    return row["status"], row["version"]


async def test_a_transition_invalidates_bumps_listings_and_tells_subscribers(
    services: Services,
) -> None:
    owner = await insert_user(services.db.pool)
    video_id = await insert_video(services.db.pool, owner, status="UPLOADED")
    generation = await services.cache.generation(VIDEO_LISTINGS)
    memo = Memo()
    received: list[ProcessingEvent] = []
    async with followed(services, video_id) as live:
        async with services.writes.transaction(memo=memo) as tx:
            version = await tx.transition(video_id, VideoStatus.PROCESSING)
        async with asyncio.timeout(5):
            async for event in live:
                received.append(event)
                break
    assert await _status(services, video_id) == ("PROCESSING", version)
    raw = await redis_raw(services.redis, services.cache.key(VIDEOS, video_id))
    assert raw == f"t{version}:".encode()
    assert await services.cache.generation(VIDEO_LISTINGS) == generation + 1
    assert memo.forgotten == [video_id]
    [event] = received
    assert (event.status, event.step) == (VideoStatus.PROCESSING, "start")


async def test_a_refused_transition_changes_nothing(services: Services) -> None:
    owner = await insert_user(services.db.pool)
    video_id = await insert_video(services.db.pool, owner, status="READY")
    before = await _status(services, video_id)
    memo = Memo()
    with pytest.raises(Conflict, match="cannot become UPLOADED"):
        async with services.writes.transaction(memo=memo) as tx:
            await tx.transition(video_id, VideoStatus.UPLOADED)
    assert await _status(services, video_id) == before
    assert await redis_raw(services.redis, services.cache.key(VIDEOS, video_id)) == b""
    assert memo.forgotten == []
    with pytest.raises(NotFound):
        async with services.writes.transaction() as tx:
            await tx.transition(uuid.uuid4(), VideoStatus.FAILED)


async def test_expect_leaves_a_video_someone_else_moved(services: Services) -> None:
    owner = await insert_user(services.db.pool)
    video_id = await insert_video(services.db.pool, owner, status="READY")
    before = await _status(services, video_id)
    async with services.writes.transaction() as tx:
        moved = await tx.transition(
            video_id, VideoStatus.FAILED, reason="gave up", expect=VideoStatus.PROCESSING
        )
    assert moved is None
    assert await _status(services, video_id) == before


async def test_a_stream_is_published_only_while_processing(services: Services) -> None:
    owner = await insert_user(services.db.pool)
    video_id = await insert_video(services.db.pool, owner, status="FAILED", renditions=())
    rendition = Rendition(720, 1280, 2_000_000, "avc1.64001f", "videos/x/hls/720p/index.m3u8")
    with pytest.raises(Conflict, match="no longer owns it"):
        async with services.writes.transaction() as tx:
            await tx.publish_stream(
                video_id,
                [rendition],
                duration_seconds=10.0,
                master_path="videos/x/hls/master.m3u8",
                thumbnail_path="videos/x/thumbs/poster.jpg",
            )
    count = await services.db.pool.fetchval(
        "SELECT count(*) FROM renditions WHERE video_id = $1", video_id
    )
    assert count == 0 and (await _status(services, video_id))[0] == "FAILED"
