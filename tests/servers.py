"""Servers the tests run: the app in this event loop, `streamify serve` in a process of its own,
scratch databases."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from streamify.devtools.local import encoder_process, free_port, service_env, stop_process
from streamify.devtools.seaweed import LocalS3
from streamify.infra.db import drop_database
from streamify.infra.redis_client import RedisMode, create_redis
from streamify.infra.settings import Settings
from streamify.services import Services


@dataclass
class CdnStack:
    """The API served over HTTP with the media CDN (nginx, compose's configuration) in front of
    it and the session's S3, and a user who owns videos."""

    services: Services
    api: httpx.AsyncClient
    cdn: str
    owner: uuid.UUID
    token: str
    cdn_folder: str  # nginx's configuration, cache and logs


@dataclass(frozen=True)
class SessionS3:
    """The session's S3 server and its buckets."""

    server: LocalS3
    raw_bucket: str
    media_bucket: str


def with_state(app: ASGIApp, services: Services) -> ASGIApp:
    """What a server does with the lifespan's state, for an in-process client."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["state"] = {"services": services}
        await app(scope, receive, send)

    return wrapped


@contextlib.asynccontextmanager
async def api_process(
    settings: Settings, *, output: Path | str | None = None, **env: str
) -> AsyncIterator[str]:
    """`streamify serve` in its own process on the test's services; yields its base URL.
    `output`: a file for what it prints (its access log among it)."""
    port = free_port()
    environment = {**os.environ, **service_env(settings), **env}
    # A second API process must not poll the test's event queue.
    environment.pop("STREAMIFY_S3_EVENTS_QUEUE_URL", None)
    with contextlib.ExitStack() as files:
        sink: Any = subprocess.DEVNULL
        if output is not None:
            sink = files.enter_context(Path(output).open("wb"))  # the child keeps its own copy
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamify", "serve", "--port", str(port)],
            env=environment,
            stdout=sink,
            stderr=sink,
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


async def remove_keys(redis_url: str, prefix: str, *, mode: RedisMode = "single") -> None:
    """Delete every key under `prefix` (a test's own), and check none is left. On a cluster
    the scan visits every master and the cluster client splits each UNLINK by slot."""
    client = create_redis(redis_url, timeout=5, mode=mode)
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                await client.unlink(*batch)
                batch.clear()
        if batch:
            await client.unlink(*batch)
        assert [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)] == []
    finally:
        await client.aclose()


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


@contextlib.asynccontextmanager
async def forwarded(local_s3: SessionS3, settings: Settings, base: str) -> AsyncIterator[None]:
    """Upload events of the local S3 delivered to the API at `base`, as `streamify dev` does."""
    from streamify.devtools.seaweed import forward_to_hook

    task = asyncio.create_task(
        forward_to_hook(
            local_s3.server,
            settings.s3_raw_bucket,
            f"{base}/hooks/s3",
            settings.s3_webhook_secret,
        )
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class TcpProxy:
    """A loopback TCP proxy in front of a server, which a test can cut (refusing and dropping
    every connection, as a dead server does) and restore on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.open: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.open |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.open -= {writer, up_writer}

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for writer in list(self.open):
            writer.transport.abort()
        self.open.clear()

    async def restore(self) -> None:
        await self.start()


class Encoders:
    """The session's `streamify encoder` processes; a fault test may kill one and start
    another in its place."""

    def __init__(self, settings: Settings, logs: Path, stack: contextlib.ExitStack) -> None:
        self.settings = settings
        self.logs = logs
        self.stack = stack
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = self.logs / f"encoder-{len(self.procs) + 1}.log"
        # The test harness runs Prefect's server in its ephemeral mode, without the service
        # that takes back expired leases: a slot a killed encoder held would stay taken all
        # session, and the encoders left would share what is left.
        slots = {"STREAMIFY_ENCODER_HOST_SLOTS": "16"}
        proc = self.stack.enter_context(encoder_process(self.settings, log, extra_env=slots))
        self.procs.append(proc)
        return proc

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]
