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
from urllib.parse import urljoin, urlsplit, urlunsplit

import asyncpg
import httpx
import psutil
import pytest
from playwright.async_api import async_playwright
from starlette.applications import Starlette
from starlette.responses import FileResponse, HTMLResponse
from starlette.routing import Route

from streamify.devtools.clips import synthetic_clip
from streamify.devtools.local import (
    free_port,
    local_services,
    port_free,
    postgres_answers,
    prefect_database_url,
    redis_answers,
)
from streamify.infra.db import drop_database
from streamify.infra.settings import Settings
from streamify.infra.storage import list_keys, open_storage
from tests.documents import COMPLETE, CREATE, SIGN, put_part, sign_up
from tests.helpers import gql
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
        try:
            yield url
        finally:
            await drop_database(prefect_database_url(url))


SEEDED = "Demo video: plays a demo clip."
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
        # The seeded feed videos are the newest: once they are in, the feed stays as it is.
        if len(edges) == 3 and all(e["node"]["description"] == SEEDED for e in edges):
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


MINE = """query($id: ID!) { video(id: $id) {
  status failureReason manifest { url } thumbnailUrl storyboard { vttUrl } } }"""


async def _ready(http: httpx.AsyncClient, video_id: str, token: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while True:
        video = (await gql(http, MINE, {"id": video_id}, token=token))["data"]["video"]
        assert video["status"] != "FAILED", video["failureReason"]
        if video["status"] == "READY":
            return dict(video)
        assert time.monotonic() < deadline, "the upload was not processed"
        await asyncio.sleep(1)


async def _private_upload_plays_signed_only_and_goes_with_its_deletion(
    http: httpx.AsyncClient, tmp_path: Path, *, cdn: str, s3_port: int
) -> None:
    """#12's path through dev: upload and process a clip, make it PRIVATE; anonymous GETs of
    its playlist, a segment, the poster and a listing are refused; the owner's signed URL
    plays in hls.js; once deleted, no URL answers and no object of it remains."""
    token = (await sign_up(http))["accessToken"]
    data = synthetic_clip(tmp_path / "mine.mp4", size="640x360", seconds=4).read_bytes()
    upload = {
        "filename": "mine.mp4",
        "contentType": "video/mp4",
        "sizeBytes": len(data),
        "partSizeBytes": max(len(data), 5 * 1024 * 1024),
        "title": "Mine alone",
    }
    created = (await gql(http, CREATE, {"input": upload}, token=token))["data"]["createUpload"]
    signed = await gql(http, SIGN, {"id": created["id"], "parts": [1]}, token=token)
    etag = await put_part(signed["data"]["signUploadParts"][0]["url"], data)
    done = await gql(
        http,
        COMPLETE,
        {"id": created["id"], "parts": [{"partNumber": 1, "etag": etag}]},
        token=token,
    )
    assert "errors" not in done, done
    video_id = created["video"]["id"]
    public = await _ready(http, video_id, token)
    assert public["manifest"]["url"] == f"{cdn}/videos/{video_id}/hls/master.m3u8"
    hide = "mutation($id: ID!) { updateVideo(id: $id, input: {visibility: PRIVATE}) { id } }"
    assert "errors" not in await gql(http, hide, {"id": video_id}, token=token)
    mine = (await gql(http, MINE, {"id": video_id}, token=token))["data"]["video"]
    master_url = mine["manifest"]["url"]
    assert master_url.startswith(f"{cdn}/signed/{video_id}/hls/master.m3u8?Policy=")
    async with httpx.AsyncClient() as anonymous:
        master = (await anonymous.get(master_url)).text
        variant = next(line for line in master.splitlines() if line and not line.startswith("#"))
        playlist = (await anonymous.get(urljoin(master_url, variant))).text
        segment = next(line for line in playlist.splitlines() if ".m4s" in line)
        segment_url = urljoin(urljoin(master_url, variant), segment).split("?")[0]
        refused = [
            master_url.split("?")[0],
            segment_url,
            mine["thumbnailUrl"].split("?")[0],
            f"{cdn}/",
            f"{cdn}/videos/{video_id}/hls/master.m3u8",
            public["thumbnailUrl"],
        ]
        for url in refused:
            assert (await anonymous.get(url)).status_code == 403, url
    played = await _plays(master_url)
    assert played["currentTime"] >= 1.5
    gone = "mutation($id: ID!) { deleteVideo(id: $id) }"
    assert (await gql(http, gone, {"id": video_id}, token=token))["data"]["deleteVideo"] == video_id
    async with httpx.AsyncClient() as anonymous:
        for url in (master_url, mine["thumbnailUrl"], mine["storyboard"]["vttUrl"], segment_url):
            assert (await anonymous.get(url)).status_code in (403, 404), url
    local = Settings(s3_endpoint_url=f"http://127.0.0.1:{s3_port}")
    async with open_storage(local) as storage:
        for bucket in (storage.raw_bucket, storage.media_bucket):
            for space in ("uploads/", "videos/", "signed/"):
                keys = await list_keys(storage.client, bucket, f"{space}{video_id}/")
                assert keys == [], (bucket, keys)


@pytest.mark.timeout(600)
@pytest.mark.slow
async def test_dev_runs_the_whole_system_and_its_demo_plays_after_a_restart(
    dev_db: str, service_urls: tuple[str, str], tmp_path: Path
) -> None:
    port, s3_port, cdn_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "STREAMIFY_DATABASE_URL": dev_db,
        "STREAMIFY_REDIS_URL": service_urls[1],
        "STREAMIFY_CACHE_KEY_PREFIX": f"dev{os.getpid()}:",
        "STREAMIFY_STATE_DIR": str(tmp_path / "state"),
        "STREAMIFY_LOCAL_S3_PORT": str(s3_port),
        "STREAMIFY_LOCAL_CDN_PORT": str(cdn_port),
    }
    base = f"http://127.0.0.1:{port}"
    prefect_port_was_free = port_free(4200)
    with dev_process(env, port) as (proc, first):
        await wait_until_ready(base, proc)
        async with httpx.AsyncClient(base_url=base) as http:
            page = await http.get("/graphql", headers={"accept": "text/html"})
            assert page.status_code == 200 and "/graphiql/graphiql.js" in page.text
            feed = await _feed(http)
        url = str(feed[0]["manifest"]["url"])  # type: ignore[index]
        assert url.startswith(f"http://127.0.0.1:{cdn_port}/videos/")
        played = await _plays(url)
        assert played["currentTime"] >= 1.5 and played["levels"] >= 2
        async with httpx.AsyncClient(base_url=base) as http:
            await _private_upload_plays_signed_only_and_goes_with_its_deletion(
                http, tmp_path, cdn=f"http://127.0.0.1:{cdn_port}", s3_port=s3_port
            )
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 4  # local S3, its CDN, Prefect server, worker
        # The worker registered the transcoding deployment with the local Prefect server.
        assert "transcode" in (tmp_path / "state" / "worker.log").read_text()
    assert f"GraphiQL at http://127.0.0.1:{port}/graphql" in first["out"]
    assert "Prefect UI at http://127.0.0.1:" in first["out"] and "local S3 at" in first["out"]
    if prefect_port_was_free:
        assert "Prefect UI at http://127.0.0.1:4200\n" in first["out"], first["out"]
    # The local Prefect server kept its state in PostgreSQL, and never locked up.
    prefect_db = await asyncpg.connect(prefect_database_url(dev_db))
    try:
        assert await prefect_db.fetchval("SELECT count(*) FROM flow_run") >= 4  # the demo clips
    finally:
        await prefect_db.close()
    prefect_log = (tmp_path / "state" / "prefect" / "server.log").read_text()
    assert "database is locked" not in prefect_log
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


def test_a_port_whose_connections_are_still_closing_is_free() -> None:
    """Issue 36.4: after a quick restart the Prefect UI moved to 4201, because connections to
    4200 still closing (TIME_WAIT) made a plain bind fail for about a minute."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the server side closes first: its end of the pair waits in TIME_WAIT
    client.close()
    listener.close()
    assert any(
        c.laddr and c.laddr.port == port and c.status == psutil.CONN_TIME_WAIT
        for c in psutil.net_connections("tcp")
    )
    assert port_free(port)
    with socket.create_server(("127.0.0.1", port)):  # what a restarted server does
        assert not port_free(port)  # someone listening is never free


@pytest.mark.slow
async def test_dev_says_it_is_up_once_it_answers_and_its_servers_die_with_it(
    dev_db: str, service_urls: tuple[str, str], tmp_path: Path
) -> None:
    """Issue 36.2 and 36.9: "Streamify is up" came about 7 s before the server listened, and
    a `streamify dev` killed with SIGKILL left SeaweedFS, nginx, Prefect, the worker and the
    encoders running, holding their ports."""
    port = free_port()
    env = {
        **os.environ,
        "STREAMIFY_DATABASE_URL": dev_db,
        "STREAMIFY_REDIS_URL": service_urls[1],
        "STREAMIFY_CACHE_KEY_PREFIX": f"devkill{os.getpid()}:",
        "STREAMIFY_STATE_DIR": str(tmp_path / "state"),
        "STREAMIFY_LOCAL_S3_PORT": str(free_port()),
        "STREAMIFY_LOCAL_CDN_PORT": str(free_port()),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamify", "dev", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    started: list[psutil.Process] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 180
        for line in proc.stdout:
            if "Streamify is up" in line:
                break
            assert time.monotonic() < deadline, "dev never said it was up"
        else:
            raise AssertionError("dev exited before it was up")
        # The moment it says so, the URL answers: no retry.
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        started = psutil.Process(proc.pid).children(recursive=True)
        assert len(started) >= 5  # local S3, its CDN, Prefect server, worker, two encoders
        proc.kill()  # no cleanup of its own runs
        proc.wait()
        _, alive = psutil.wait_procs(started, timeout=20)
        assert [" ".join(p.cmdline()[:4]) for p in alive if p.is_running()] == []
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        for child in started:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
