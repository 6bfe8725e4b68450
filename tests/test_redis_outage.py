"""A dead or hung Redis: reads and writes still succeed from PostgreSQL, /readyz says so, and
the tier goes back to Redis (replaying missed invalidations) when it returns."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from streamify.app import create_app
from streamify.devtools.local import free_port, start_redis_server
from streamify.infra.cache.namespaces import VIDEOS
from streamify.infra.settings import Settings
from streamify.infra.sql import videos as video_sql
from streamify.services import Services, open_services
from tests.helpers import (
    UPDATE_MUTATION,
    VIDEO_QUERY,
    FakeClock,
    gql,
    insert_user,
    insert_video,
    token_for,
)
from tests.servers import with_state


class RedisServer:
    """A redis-server of the test's own, so the test may kill, pause and restart it."""

    def __init__(self, tmp: str) -> None:
        self.port = free_port()
        self.dir = Path(tmp)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = start_redis_server(self.port, self.dir)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP: connections stay open but nothing answers, like a hung server."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.proc.pid, signal.SIGCONT)


@pytest.fixture
def own_redis(tmp_path: object) -> Iterator[RedisServer]:
    server = RedisServer(str(tmp_path))
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.stop()


@pytest.fixture
async def outage_services(
    settings: Settings, clean_db: None, own_redis: RedisServer, clock: FakeClock
) -> AsyncIterator[Services]:
    tuned = settings.model_copy(
        update={
            "redis_url": own_redis.url,
            "redis_timeout_seconds": 0.2,
            "redis_breaker_cooldown_seconds": 0.3,
            "cache_l1_ttl_seconds": 0.1,
            "db_fallback_concurrency": 2,
        }
    )
    async with open_services(tuned, background_jobs=False, clock=clock) as opened:
        await opened.drop_listener_ready.wait()
        yield opened


@pytest.fixture
async def outage_client(outage_services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = with_state(create_app(outage_services.settings), outage_services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def _title(client: httpx.AsyncClient, video_id: uuid.UUID) -> str | None:
    body = await gql(client, VIDEO_QUERY, {"id": str(video_id)})
    assert "errors" not in body, body
    video = body["data"]["video"]
    return None if video is None else str(video["title"])


async def test_dead_redis_degrades_to_postgres_and_recovers(
    outage_services: Services,
    outage_client: httpx.AsyncClient,
    own_redis: RedisServer,
    clock: FakeClock,
) -> None:
    services, client = outage_services, outage_client
    owner = await insert_user(services.db.pool)
    cached = await insert_video(services.db.pool, owner, title="Cached")
    cold = await insert_video(services.db.pool, owner, title="Cold")
    assert await _title(client, cached) == "Cached"

    own_redis.stop()
    assert await _title(client, cold) == "Cold"
    assert await _title(client, cached) == "Cached"
    body = await gql(
        client,
        UPDATE_MUTATION,
        {"id": str(cached), "input": {"title": "Edited"}},
        token=token_for(services.settings, owner),
    )
    assert body["data"]["updateVideo"]["title"] == "Edited"
    assert await _title(client, cached) == "Edited"
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "degraded", "checks": {"postgres": "ok", "redis": "down"}}

    own_redis.start()
    assert services.cache.breaker.is_open
    clock.advance(0.4)  # past the breaker's cooldown
    hits_before = services.cache.stats["video", "redis_hit"]
    assert await _title(client, cold) == "Cold"  # the probe: refills Redis
    assert not services.cache.breaker.is_open
    clock.advance(0.15)  # past L1
    assert await _title(client, cold) == "Cold"
    assert services.cache.stats["video", "redis_hit"] > hits_before
    assert (await client.get("/readyz")).json()["status"] == "ok"


async def test_invalidations_missed_while_redis_hung_are_replayed(
    outage_services: Services,
    outage_client: httpx.AsyncClient,
    own_redis: RedisServer,
    clock: FakeClock,
) -> None:
    services, client = outage_services, outage_client
    owner = await insert_user(services.db.pool)
    video_id = await insert_video(services.db.pool, owner, title="Old")
    assert await _title(client, video_id) == "Old"  # Redis now holds version 1
    with own_redis.paused():
        started = time.monotonic()
        body = await gql(
            client,
            UPDATE_MUTATION,
            {"id": str(video_id), "input": {"title": "New"}},
            token=token_for(services.settings, owner),
        )
        assert body["data"]["updateVideo"]["title"] == "New"
        assert await _title(client, video_id) == "New"
        assert time.monotonic() - started < 2  # timeouts, not hangs
    clock.advance(0.4)  # past the breaker's cooldown
    # Redis came back still holding version 1, which other processes would read. The first
    # Redis call after recovery (a read of another video here) replays the missed tombstone.
    other = await insert_video(services.db.pool, owner, title="Other")
    assert await _title(client, other) == "Other"
    raw = redis.Redis.from_url(own_redis.url).get(services.cache.key(VIDEOS, video_id))
    assert raw == b"t2:"
    for _ in range(3):
        assert await _title(client, video_id) == "New"
        clock.advance(0.15)  # past L1: the next read goes to Redis


async def test_many_readers_during_an_outage_are_gated(
    outage_services: Services,
    outage_client: httpx.AsyncClient,
    own_redis: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services, client = outage_services, outage_client
    owner = await insert_user(services.db.pool)
    ids = [await insert_video(services.db.pool, owner, title=f"v{i}") for i in range(40)]
    running = most = batches = 0
    real = video_sql.videos_by_ids

    async def counted(pool: Any, wanted: Any) -> Any:
        nonlocal running, most, batches
        running += 1
        batches += 1
        most = max(most, running)
        try:
            await asyncio.sleep(0.02)  # long enough for the other readers to pile up
            return await real(pool, wanted)
        finally:
            running -= 1

    monkeypatch.setattr(video_sql, "videos_by_ids", counted)
    own_redis.stop()
    await _title(client, ids[0])  # the first failure opens the breaker
    assert services.cache.breaker.is_open
    batches = most = 0
    titles = await asyncio.gather(*(_title(client, i) for i in ids[1:]))
    assert titles == [f"v{i}" for i in range(1, 40)]
    # 39 requests, each its own batch, reached PostgreSQL two at a time at the most.
    assert batches == 39
    assert most == services.settings.db_fallback_concurrency == 2
