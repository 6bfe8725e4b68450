"""`streamify serve --workers N` (issue 25): N API processes on one port, each with its own
L1, response cache and listeners, and an update through any one seen at once by all."""

from __future__ import annotations

import httpx
import psutil
import pytest

from streamify.infra.settings import Settings
from streamify.services import Services
from tests.helpers import UPDATE_MUTATION, VIDEO_QUERY, insert_user, insert_video, token_for
from tests.servers import api_process
from tests.test_persisted import params

pytestmark = pytest.mark.both_redis


async def _read(base: str, video: object, *, persisted: bool) -> str:
    # A connection per read: the kernel hands each to whichever process accepts first.
    async with httpx.AsyncClient(base_url=base) as http:
        if persisted:
            # The document rides along: the store registers it once, in Redis for every process.
            response = await http.get("/graphql", params=params(video, with_query=True))
        else:
            response = await http.post(
                "/graphql", json={"query": VIDEO_QUERY, "variables": {"id": str(video)}}
            )
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["video"]["title"])


def _cpu_seconds(processes: list[psutil.Process]) -> list[float]:
    return [sum(p.cpu_times()[:2]) for p in processes]


async def test_an_update_through_one_process_is_seen_by_every_process_at_once(
    settings: Settings, services: Services
) -> None:
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner, title="Before")
    token = token_for(settings, owner)
    async with api_process(
        settings, STREAMIFY_WORKERS="2", STREAMIFY_CACHE_L1_TTL_SECONDS="300"
    ) as base:
        apis = _api_processes(int(base.rsplit(":", 1)[1]))
        assert len(apis) == 2
        # Every process has the video cached (L1 and, for persisted GETs, whole responses).
        before = _cpu_seconds(apis)
        for i in range(100):
            assert await _read(base, video, persisted=i % 2 == 0) == "Before"
        assert all(b > a for a, b in zip(before, _cpu_seconds(apis), strict=True)), (
            "both processes served"
        )
        async with httpx.AsyncClient(base_url=base) as http:
            updated = await http.post(
                "/graphql",
                json={
                    "query": UPDATE_MUTATION,
                    "variables": {"id": str(video), "input": {"title": "After"}},
                },
                headers={"authorization": f"Bearer {token}"},
            )
        assert updated.json()["data"]["updateVideo"]["title"] == "After"
        titles = [await _read(base, video, persisted=i % 2 == 0) for i in range(100)]
        assert titles == ["After"] * 100
        # /metrics, whichever process answers, counts the requests of both.
        for _ in range(6):
            async with httpx.AsyncClient(base_url=base) as http:
                text = (await http.get("/metrics")).text
            graphql = _sample(text, 'streamify_http_requests_total{route="/graphql",status="2xx"}')
            assert graphql == 201
            assert _sample(text, "streamify_sql_statements_total") > 0
            assert text.count("\nstreamify_sql_statements_total ") == 1  # one sum, no pid


def _sample(text: str, name: str) -> float:
    found = [line for line in text.splitlines() if line.startswith(name + " ")]
    assert len(found) == 1, (name, found)
    return float(found[0].rsplit(" ", 1)[1])


def _api_processes(port: int) -> list[psutil.Process]:
    """The processes uvicorn's supervisor (`streamify serve --port <port>`) started."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "serve" in cmdline and str(port) in cmdline:
            return [
                child
                for child in process.children()
                if any("spawn_main" in part for part in child.cmdline())
            ]
    raise AssertionError(f"no `streamify serve` on port {port}")
