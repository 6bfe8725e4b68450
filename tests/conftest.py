"""Real services for every test: PostgreSQL and Redis at the configured URLs (embedded ones
when none answers), a database of the session's own, and a Redis key prefix per test."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from streamify.app import create_app
from streamify.devtools.local import (
    free_port,
    local_services,
    service_env,
    worker_process,
)
from streamify.devtools.redis_cluster import LocalCluster, local_cluster
from streamify.devtools.s3_setup import prepare_s3
from streamify.devtools.seaweed import embedded_s3
from streamify.infra.db import database_name, drop_database, migrate
from streamify.infra.redis_client import RedisMode
from streamify.infra.settings import Settings
from streamify.services import Services, open_services
from tests.helpers import FakeClock, insert_user, token_for
from tests.pipelines.prefect import wait_for_deployment
from tests.servers import (
    CdnStack,
    Encoders,
    SessionS3,
    remove_keys,
    serve_app,
    with_state,
)

TEST_REDIS_DB = 13
SESSION_PREFIXES = (f"t{os.getpid()}-", f"cli{os.getpid()}:", f"dev{os.getpid()}:")
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
        test_redis = _with_path(redis_url, f"/{TEST_REDIS_DB}")
        yield test_db, test_redis
        await drop_database(test_db)
        # What this session's processes wrote under their own prefixes (the tests', and the
        # CLI's and dev's processes') goes with it; another session's keys stay.
        for prefix in SESSION_PREFIXES:
            await remove_keys(test_redis, prefix)


@pytest.fixture(scope="session")
async def local_s3(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SessionS3]:
    """A real S3 server (SeaweedFS) on loopback for the session, with its own buckets."""
    run = f"t{os.getpid()}"
    defaults = Settings()
    with embedded_s3(
        tmp_path_factory.mktemp("s3"),
        access_key=defaults.s3_access_key_id,
        secret_key=defaults.s3_secret_access_key,
    ) as server:
        base = Settings(
            s3_endpoint_url=server.endpoint,
            s3_raw_bucket=f"{run}-raw",
            s3_media_bucket=f"{run}-media",
            # Browser tests serve their page from a random port.
            cors_allow_origins=["*"],
        )
        await prepare_s3(base)
        yield SessionS3(server, base.s3_raw_bucket, base.s3_media_bucket)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three masters with a replica each, started for the session on first use."""
    with local_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Tests marked both_redis run once against one Redis and once against the cluster.
    if "redis_mode" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_redis"
    ):
        metafunc.parametrize("redis_mode", ["single", "cluster"], indirect=True)


@pytest.fixture
def redis_mode(request: pytest.FixtureRequest) -> RedisMode:
    mode: RedisMode = getattr(request, "param", "single")
    return mode


@pytest.fixture
async def settings(
    service_urls: tuple[str, str],
    local_s3: SessionS3,
    redis_mode: RedisMode,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Settings]:
    db_url, redis_url = service_urls
    if redis_mode == "cluster":
        redis_url = request.getfixturevalue("redis_cluster").url
    made = Settings(
        database_url=db_url,
        redis_url=redis_url,
        redis_mode=redis_mode,
        # A prefix per test: its keys and its L1-drop channel are its own.
        cache_key_prefix=f"t{os.getpid()}-{next(_prefixes)}:",
        s3_endpoint_url=local_s3.server.endpoint,
        s3_raw_bucket=local_s3.raw_bucket,
        s3_media_bucket=local_s3.media_bucket,
    )
    yield made
    # After everything that used them (services, workers) has stopped: the test's keys go.
    await remove_keys(redis_url, made.cache_key_prefix, mode=redis_mode)


@pytest.fixture
async def clean_db(service_urls: tuple[str, str]) -> None:
    conn = await asyncpg.connect(service_urls[0])
    try:
        await conn.execute("TRUNCATE users, videos, uploads, renditions, manifests CASCADE")
    finally:
        await conn.close()


@pytest.fixture
def clock() -> FakeClock:
    """The cache tier's clock in `services`: L1 TTLs and the breaker's cooldown pass only when
    a test advances it."""
    return FakeClock()


@pytest.fixture
async def services(settings: Settings, clean_db: None, clock: FakeClock) -> AsyncIterator[Services]:
    # Background jobs (sweeper, event poller) only where a test asks for them.
    async with open_services(settings, background_jobs=False, clock=clock) as opened:
        await opened.drop_listener_ready.wait()
        yield opened


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = with_state(create_app(services.settings), services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http


@pytest.fixture
async def cdn_stack(settings: Settings, clean_db: None, tmp_path: Path) -> AsyncIterator[CdnStack]:
    from streamify.devtools.cdn import local_cdn

    port = free_port()
    settings = settings.model_copy(update={"cdn_base_url": f"http://127.0.0.1:{port}"})
    assert settings.s3_endpoint_url is not None
    async with (
        open_services(settings, background_jobs=False) as services,
        serve_app(with_state(create_app(settings), services)) as api,
        httpx.AsyncClient(base_url=api) as client,
    ):
        with local_cdn(
            tmp_path / "cdn",
            port=port,
            api=urlsplit(api).netloc,
            s3=urlsplit(settings.s3_endpoint_url).netloc,
            secret=settings.cdn_shared_secret,
        ) as cdn:
            owner = await insert_user(services.db.pool)
            token = token_for(settings, owner)
            yield CdnStack(services, client, cdn, owner, token, str(tmp_path / "cdn"))


# -- Prefect and the transcoding worker (tests/worker, tests/faults) -------------------------


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
async def prefect_url(prefect_server: None) -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url
    return str(url)


@pytest.fixture(scope="session")
def encoders(
    prefect_server: None, local_s3: SessionS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Encoders]:
    """Two `streamify encoder` processes for the session: they need only the S3 buckets and
    the Prefect API, which the session shares."""
    from prefect.settings import PREFECT_API_URL

    settings = Settings(
        s3_endpoint_url=local_s3.server.endpoint,
        s3_raw_bucket=local_s3.raw_bucket,
        s3_media_bucket=local_s3.media_bucket,
        prefect_api_url=str(PREFECT_API_URL.value()),
    )
    with contextlib.ExitStack() as stack:
        pool = Encoders(settings, tmp_path_factory.mktemp("encoders"), stack)
        pool.start()
        pool.start()
        yield pool


@pytest.fixture
def worker_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, encoders: Encoders) -> Settings:
    """Tasks read their settings from the environment, as on a real worker."""
    for name, value in service_env(settings).items():
        monkeypatch.setenv(name, value)
    return settings


@pytest.fixture
async def worker(
    settings: Settings,
    prefect_url: str,
    tmp_path: Path,
    encoders: Encoders,
) -> AsyncIterator[None]:
    log = tmp_path / "worker.log"
    with worker_process(settings.model_copy(update={"prefect_api_url": prefect_url}), log) as proc:
        await wait_for_deployment(prefect_url, proc, log)
        yield


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[str]]]:
    """A TCP server on loopback that records every connection made to it."""
    seen: list[str] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(str(writer.get_extra_info("peername")))
        writer.close()

    port = free_port()
    server = await asyncio.start_server(record, "127.0.0.1", port)
    async with server:
        yield port, seen
