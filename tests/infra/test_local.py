"""`streamify dev` with nothing configured: real servers when they answer, embedded otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import psutil
import pytest
from playwright.async_api import async_playwright
from starlette.applications import Starlette
from starlette.responses import FileResponse, HTMLResponse
from starlette.routing import Route

from streamify.devtools.local import free_port, local_services, postgres_answers, redis_answers
from tests.servers import scratch_database, serve_app, wait_until_ready


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


FEED = "{ videos(first: 3) { edges { node { title description manifest { url } } } } }"


@contextlib.contextmanager
def dev_process(
    env: dict[str, str], port: int
) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """`streamify dev --seed` as a person runs it; stopped with SIGTERM (Ctrl-C's twin). What
    it printed and what it left running (then killed) land in the yielded record."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamify", "dev", "--seed", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    record: dict[str, Any] = {"left": [], "out": ""}
    started: list[psutil.Process] = []
    try:
        yield proc, record
    finally:
        if proc.poll() is None:
            started = psutil.Process(proc.pid).children(recursive=True)
        proc.terminate()
        record["out"] = proc.communicate(timeout=60)[0]
        leftover = psutil.wait_procs(started, timeout=30)[1]
        record["left"] = [" ".join(c.cmdline()) for c in leftover]
        for child in leftover:
            child.kill()


async def _feed(http: httpx.AsyncClient, *, timeout: float = 240) -> list[dict[str, object]]:
    """The feed once the demo clips are processed and the demo videos inserted."""
    deadline = time.monotonic() + timeout
    while True:
        body = (await http.post("/graphql", json={"query": FEED})).json()
        edges = body["data"]["videos"]["edges"]
        if len(edges) == 3:
            return [e["node"] for e in edges]
        assert time.monotonic() < deadline, "the demo feed did not fill"
        await asyncio.sleep(2)


async def _plays(url: str) -> dict[str, float]:
    """hls.js in headless Chromium plays `url` past 1.5 s."""
    page = "<!doctype html><html><body><script src='/player.js'></script></body></html>"
    player = Path(__file__).parent.parent / "browser" / "uppy" / "dist" / "player.js"
    app = Starlette(
        routes=[
            Route("/", lambda _: HTMLResponse(page)),
            Route("/player.js", lambda _: FileResponse(player)),
        ]
    )
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium and player.exists(), "run scripts/test.sh: it installs both"
    async with serve_app(app) as origin, async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            tab = await browser.new_page()
            await tab.goto(origin)
            played: dict[str, float] = await tab.evaluate("url => window.playHls(url)", url)
        finally:
            await browser.close()
    return played


@pytest.mark.timeout(600)
@pytest.mark.slow
async def test_dev_runs_the_whole_system_and_its_demo_plays_after_a_restart(
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
    base = f"http://127.0.0.1:{port}"
    with dev_process(env, port) as (proc, first):
        await wait_until_ready(base, proc)
        async with httpx.AsyncClient(base_url=base) as http:
            page = await http.get("/graphql", headers={"accept": "text/html"})
            assert page.status_code == 200 and "/graphiql/graphiql.js" in page.text
            feed = await _feed(http)
        url = str(feed[0]["manifest"]["url"])  # type: ignore[index]
        assert url.startswith("http://127.0.0.1:") and "/streamify-media/videos/" in url
        playable = {"Demo video: plays a demo clip.", "A clip made with ffmpeg for the demo."}
        assert {v["description"] for v in feed} <= playable
        played = await _plays(url)
        assert played["currentTime"] >= 1.5 and played["levels"] >= 2
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 3  # local S3, Prefect server, worker
        # The worker registered the transcoding deployment with the local Prefect server.
        assert "transcode" in (tmp_path / "state" / "worker.log").read_text()
    assert f"GraphiQL at http://127.0.0.1:{port}/graphql" in first["out"]
    assert "Prefect UI at http://127.0.0.1:" in first["out"] and "local S3 at" in first["out"]
    # Nothing dev started (S3, Prefect server, worker) outlived it: SIGTERM alone stopped them.
    assert first["left"] == []
    # Ctrl-C and start again: the same data, the same media URL, still playing.
    with dev_process(env, port) as (again, second):
        await wait_until_ready(base, again)
        async with httpx.AsyncClient(base_url=base) as http:
            kept = await _feed(http, timeout=30)
        assert kept == feed
        assert (await _plays(url))["currentTime"] >= 1.5
    assert second["left"] == []
    assert "videos already there; not seeding" in second["out"]
