"""Real services for every test: PostgreSQL and Redis at the configured URLs (embedded ones
when none answers), a database of the session's own, and a Redis key prefix per test."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from streamify.app import create_app
from streamify.devtools.local import (
    embedded_s3,
    free_port,
    local_services,
    service_env,
    stop_process,
)
from streamify.devtools.s3_setup import prepare_s3
from streamify.infra.db import database_name, drop_database, migrate
from streamify.infra.settings import Settings
from streamify.services import Services, open_services

TEST_REDIS_DB = 13
_prefixes = itertools.count()


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


@pytest.fixture(scope="session")
async def service_urls(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[str, str]]:
    base = Settings()
    state = Path(base.state_dir).absolute()
    async with local_services(base.database_url, base.redis_url, state) as (db_url, redis_url):
        test_db = _with_path(db_url, f"/{database_name(db_url)}_test_{os.getpid()}")
        await drop_database(test_db)
        await migrate(test_db)
        yield test_db, _with_path(redis_url, f"/{TEST_REDIS_DB}")
        await drop_database(test_db)


@dataclass(frozen=True)
class LocalS3:
    endpoint: str
    raw_bucket: str
    media_bucket: str
    queue_url: str


@pytest.fixture(scope="session")
async def local_s3(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalS3]:
    """A real S3 server on loopback for the session, with its own buckets and event queue."""
    with embedded_s3(tmp_path_factory.mktemp("s3")) as endpoint:
        run = f"t{os.getpid()}"
        base = Settings(
            s3_endpoint_url=endpoint,
            s3_raw_bucket=f"{run}-raw",
            s3_media_bucket=f"{run}-media",
            # Browser tests serve their page from a random port.
            cors_allow_origins=["*"],
        )
        queue_url = await prepare_s3(base, queue_name=f"{run}-events")
        yield LocalS3(endpoint, base.s3_raw_bucket, base.s3_media_bucket, queue_url)


@pytest.fixture
def settings(service_urls: tuple[str, str], local_s3: LocalS3) -> Settings:
    db_url, redis_url = service_urls
    return Settings(
        database_url=db_url,
        redis_url=redis_url,
        # A prefix per test: its keys and its L1-drop channel are its own.
        cache_key_prefix=f"t{os.getpid()}-{next(_prefixes)}:",
        s3_endpoint_url=local_s3.endpoint,
        s3_raw_bucket=local_s3.raw_bucket,
        s3_media_bucket=local_s3.media_bucket,
        s3_events_queue_url=local_s3.queue_url,
    )


@pytest.fixture
async def clean_db(service_urls: tuple[str, str]) -> None:
    conn = await asyncpg.connect(service_urls[0])
    try:
        await conn.execute("TRUNCATE users, videos, uploads, renditions, manifests CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def services(settings: Settings, clean_db: None) -> AsyncIterator[Services]:
    # Background jobs (sweeper, event poller) only where a test asks for them.
    async with open_services(settings, background_jobs=False) as opened:
        await opened.drop_listener_ready.wait()
        yield opened


def with_state(app: ASGIApp, services: Services) -> ASGIApp:
    """What a server does with the lifespan's state, for an in-process client."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["state"] = {"services": services}
        await app(scope, receive, send)

    return wrapped


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = with_state(create_app(services.settings), services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http


@contextlib.asynccontextmanager
async def api_process(settings: Settings, **env: str) -> AsyncIterator[str]:
    """`streamify serve` in its own process on the test's services; yields its base URL."""
    port = free_port()
    environment = {**os.environ, **service_env(settings), **env}
    # A second API process must not poll the test's event queue.
    environment.pop("STREAMIFY_S3_EVENTS_QUEUE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamify", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_ready(base, proc)
        yield base
    finally:
        stop_process(proc)


async def wait_until_ready(base: str, proc: subprocess.Popen[Any], timeout: float = 60) -> None:
    """Poll /readyz of a server process until it answers 200, or fail if it exits first."""
    async with httpx.AsyncClient(base_url=base) as http:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert proc.poll() is None, f"server exited with {proc.returncode}"
            assert time.monotonic() < deadline, "server did not become ready"
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def scratch_database(service_urls: tuple[str, str], suffix: str) -> AsyncIterator[str]:
    """The URL of a database of the test's own (absent at first), dropped afterwards."""
    parts = urlsplit(service_urls[0])
    url = urlunsplit(parts._replace(path=f"{parts.path}_{suffix}"))
    await drop_database(url)
    try:
        yield url
    finally:
        await drop_database(url)


@contextlib.asynccontextmanager
async def serve_app(app: ASGIApp) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn in this event loop (HTTP and websockets); yields its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
