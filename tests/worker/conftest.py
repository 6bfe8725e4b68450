"""Fixtures of the transcoding tests: one Prefect server for the session, a worker process,
settings in the environment as a worker reads them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from streamify.devtools.local import service_env, worker_process
from streamify.infra.settings import Settings
from tests.worker.prefect import wait_for_deployment


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


@pytest.fixture
def worker_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Tasks read their settings from the environment, as on a real worker."""
    for name, value in service_env(settings).items():
        monkeypatch.setenv(name, value)
    return settings


@pytest.fixture
async def worker(settings: Settings, prefect_url: str, tmp_path: Path) -> AsyncIterator[None]:
    log = tmp_path / "worker.log"
    with worker_process(settings.model_copy(update={"prefect_api_url": prefect_url}), log) as proc:
        await wait_for_deployment(prefect_url, proc, log)
        yield
