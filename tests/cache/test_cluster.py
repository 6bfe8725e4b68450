"""The cache tier on a Redis Cluster: a batch costs one round trip per node, and a master
killed under load fails over with no error answered, nothing stale served, and updates
reaching every process again afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio.connection import AbstractConnection

from streamify.app import create_app
from streamify.devtools.redis_cluster import LocalCluster, local_cluster
from streamify.infra.cache.namespaces import VIDEOS
from streamify.infra.cache.tier import Namespace
from streamify.infra.settings import Settings
from streamify.services import Services, open_services
from tests.helpers import UPDATE_MUTATION, VIDEO_QUERY, insert_user, insert_video, token_for
from tests.servers import with_state

PROBE: Namespace[str] = Namespace("probe", str)
_counting: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "counting", default=None
)


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every write of commands to a Redis socket, by port, while `counted()` is active: a
    pipeline is one write, so this counts round trips, not commands."""
    original = AbstractConnection.send_packed_command

    async def send(self: Any, command: Any, check_health: bool = True) -> None:
        ports = _counting.get()
        if ports is not None:
            ports.append(int(self.port))
        await original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", send)
    yield


@contextlib.contextmanager
def counted() -> Iterator[list[int]]:
    ports: list[int] = []
    token = _counting.set(ports)
    try:
        yield ports
    finally:
        _counting.reset(token)


async def _values(ids: list[int]) -> dict[int, tuple[int, str]]:
    return {i: (1, f"value {i}") for i in ids}


@pytest.mark.both_redis
async def test_a_batch_costs_one_round_trip_per_node(
    services: Services, round_trips: None, redis_mode: str
) -> None:
    ids = list(range(50))
    cache = services.cache
    await cache.get_many(PROBE, ids, _values)  # cold: read PostgreSQL's stand-in, fill Redis
    cache.clear_l1()
    with counted() as ports:
        values = await cache.get_many(PROBE, ids, _values)
    assert values == [f"value {i}" for i in ids]
    assert cache.stats[PROBE.name, "redis_hit"] == 50
    if redis_mode == "cluster":
        # 50 keys fall on all three masters: one MGET per slot, pipelined once per node.
        assert sorted(ports) == sorted(set(ports)) and len(ports) == 3
    else:
        assert len(ports) == 1


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of the test's own: this test kills one of its masters."""
    with local_cluster(tmp_path / "cluster") as cluster:
        yield cluster


@contextlib.asynccontextmanager
async def api(settings: Settings) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    """One API process's services and an HTTP client of its app, in this event loop."""
    async with open_services(settings, background_jobs=False) as services:
        await services.drop_listener_ready.wait()
        app = with_state(create_app(settings), services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http:
            yield services, http


async def _title(http: httpx.AsyncClient, video: object) -> str:
    response = await http.post(
        "/graphql", json={"query": VIDEO_QUERY, "variables": {"id": str(video)}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return str(body["data"]["video"]["title"])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_killed_master_fails_over_with_no_error_and_nothing_stale(
    settings: Settings,
    clean_db: None,
    own_cluster: LocalCluster,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    tuned = settings.model_copy(
        update={
            "redis_url": own_cluster.url,
            "redis_mode": "cluster",
            "redis_timeout_seconds": 0.2,
            "redis_breaker_cooldown_seconds": 0.3,
            # Long enough that only the broadcast (or its loss, answered by clearing L1) can
            # refresh another process's copy within the test.
            "cache_l1_ttl_seconds": 120.0,
        }
    )
    async with api(tuned) as (writer, writer_http), api(tuned) as (reader, reader_http):
        owner = await insert_user(writer.db.pool)
        video = await insert_video(writer.db.pool, owner, title="v0")
        token = token_for(tuned, owner)
        assert await _title(reader_http, video) == "v0"
        # Kill the master that carries the L1-drop channel, and with it a third of the keys.
        victim = own_cluster.master_of(reader.names.l1_drop_channel)
        served: list[str] = []
        stop = asyncio.Event()

        async def read_under_load() -> None:
            while not stop.is_set():
                served.append(await _title(reader_http, video))
                await asyncio.sleep(0.005)

        readers = [asyncio.create_task(read_under_load()) for _ in range(8)]
        await asyncio.sleep(0.3)
        killed_at = time.monotonic()
        own_cluster.kill(victim)
        # Updates go on while the cluster fails over; every read must answer, none may show a
        # title older than one already committed when the read started.
        for version in range(1, 6):
            await writer_http.post(
                "/graphql",
                json={
                    "query": UPDATE_MUTATION,
                    "variables": {"id": str(video), "input": {"title": f"v{version}"}},
                },
                headers={"authorization": f"Bearer {token}"},
            )
            await asyncio.sleep(0.5)
        await asyncio.to_thread(own_cluster.wait_healthy)
        healthy_at = time.monotonic()
        assert victim not in own_cluster.masters()
        # After the failover an update through one process reaches the other at once.
        deadline = time.monotonic() + 10
        title = ""
        while time.monotonic() < deadline:
            await writer_http.post(
                "/graphql",
                json={
                    "query": UPDATE_MUTATION,
                    "variables": {"id": str(video), "input": {"title": "after"}},
                },
                headers={"authorization": f"Bearer {token}"},
            )
            title = await _title(reader_http, video)
            if title == "after" and not writer.cache.redis_degraded:
                break
            await asyncio.sleep(0.2)
        recovered_at = time.monotonic()
        stop.set()
        await asyncio.gather(*readers)
        assert title == "after"
        # Once whole, every update reaches the other process as fast as the broadcast does
        # (a message through Redis, so poll rather than read once: the reader's listener is
        # another task of this event loop).
        for step in range(5):
            await writer_http.post(
                "/graphql",
                json={
                    "query": UPDATE_MUTATION,
                    "variables": {"id": str(video), "input": {"title": f"final {step}"}},
                },
                headers={"authorization": f"Bearer {token}"},
            )
            seen_at = time.monotonic() + 1.0
            while (title := await _title(reader_http, video)) != f"final {step}":
                assert time.monotonic() < seen_at, (step, title)
                await asyncio.sleep(0.01)
        assert reader.cache.stats[VIDEOS.name, "invalidation"] == 0  # only the writer wrote
        print(
            f"failover: {len(served)} reads answered, cluster healthy "
            f"{healthy_at - killed_at:.2f} s after the kill, updates reach the other process "
            f"again {recovered_at - killed_at:.2f} s after it"
        )
    logged = caplog.text
    assert "CROSSSLOT" not in logged and "MOVED" not in logged
    # Connections redis-py held to the killed node go with its clients: collected here, under
    # this test's warning filters, not in whichever test the collector next runs in.
    gc.collect()
