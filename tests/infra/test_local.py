"""`streamify dev` with nothing configured: real servers when they answer, embedded otherwise."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import psutil
import pytest

from streamify.devtools.local import free_port, local_services, postgres_answers, redis_answers
from tests.servers import scratch_database, wait_until_ready


async def test_embedded_servers_start_when_nothing_answers(tmp_path: Path) -> None:
    dead_pg = f"postgresql://postgres@127.0.0.1:{free_port()}/streamify"
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    assert not await postgres_answers(dead_pg) and not redis_answers(dead_redis)
    async with local_services(dead_pg, dead_redis, tmp_path) as (db_url, redis_url):
        assert db_url != dead_pg and redis_url != dead_redis
        assert redis_answers(redis_url)
        conn = await asyncpg.connect(urlunsplit(urlsplit(db_url)._replace(path="/postgres")))
        try:
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()
    assert not redis_answers(redis_url)


async def test_reachable_servers_are_used_as_they_are(service_urls: tuple[str, str]) -> None:
    async with local_services(*service_urls, Path("unused")) as urls:
        assert urls == service_urls


@pytest.fixture
async def dev_db(service_urls: tuple[str, str]) -> AsyncIterator[str]:
    async with scratch_database(service_urls, "dev") as url:
        yield url


@pytest.mark.timeout(240)
@pytest.mark.slow
async def test_dev_runs_the_whole_system(
    dev_db: str, service_urls: tuple[str, str], tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "STREAMIFY_DATABASE_URL": dev_db,
        "STREAMIFY_REDIS_URL": service_urls[1],
        "STREAMIFY_CACHE_KEY_PREFIX": f"dev{os.getpid()}:",
        "STREAMIFY_STATE_DIR": str(tmp_path / "state"),
        "STREAMIFY_LOCAL_S3_PORT": str(free_port()),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamify", "dev", "--seed", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        await wait_until_ready(f"http://127.0.0.1:{port}", proc)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            response = await http.post(
                "/graphql", json={"query": "{ videos(first: 3) { edges { node { title } } } }"}
            )
            assert len(response.json()["data"]["videos"]["edges"]) == 3
            page = await http.get("/graphql", headers={"accept": "text/html"})
            assert page.status_code == 200
            manifest = await http.post(
                "/graphql",
                json={"query": "{ videos(first: 1) { edges { node { manifest { url } } } } }"},
            )
            url = manifest.json()["data"]["videos"]["edges"][0]["node"]["manifest"]["url"]
            assert url.startswith("http://127.0.0.1:") and "/streamify-media/videos/" in url
        # The worker registers the transcoding deployment with the local Prefect server.
        log = tmp_path / "state" / "worker.log"
        deadline = time.monotonic() + 90
        while "transcode" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the worker did not start"
            await asyncio.sleep(1)
        children = psutil.Process(proc.pid).children(recursive=True)
    finally:
        started = children if "children" in locals() else []
        if not started and proc.poll() is None:
            started = psutil.Process(proc.pid).children(recursive=True)
        proc.terminate()  # dev alone: it must stop what it started
        out, _ = proc.communicate(timeout=60)
        # Whatever dev left running is noted, then killed, even when the test failed early.
        left_running = psutil.wait_procs(started, timeout=30)[1]
        left_commands = [" ".join(c.cmdline()) for c in left_running]
        for child in left_running:
            child.kill()
    assert len(children) >= 3  # local S3, Prefect server, worker
    assert f"GraphiQL at http://127.0.0.1:{port}/graphql" in out
    assert "Prefect UI at http://127.0.0.1:" in out and "local S3 at" in out
    # Nothing dev started (S3, Prefect server, worker) outlived it: SIGTERM alone stopped them.
    assert left_commands == []
