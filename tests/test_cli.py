"""The CLI as an operator runs it: migrate (once, under a lock), seed (fast), serve."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from streamify.infra.db import migrate, migration_files
from tests.servers import scratch_database


@pytest.fixture
async def cli_db(service_urls: tuple[str, str]) -> AsyncIterator[str]:
    async with scratch_database(service_urls, "cli") as url:
        yield url


def _run(*args: str, database_url: str, redis_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "STREAMIFY_DATABASE_URL": database_url,
        "STREAMIFY_REDIS_URL": redis_url,
        "STREAMIFY_CACHE_KEY_PREFIX": f"cli{os.getpid()}:",
    }
    return subprocess.run(
        [sys.executable, "-m", "streamify", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_migrations_apply_once_even_when_raced(cli_db: str) -> None:
    results = await asyncio.gather(*(migrate(cli_db) for _ in range(4)))
    applied = [name for names in results for name in names]
    assert sorted(applied) == [name for _, name, _ in migration_files()]
    assert await migrate(cli_db) == []
    conn = await asyncpg.connect(cli_db)
    try:
        count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await conn.close()
    assert count == len(migration_files())


@pytest.mark.slow
async def test_seed_inserts_100k_videos_in_under_a_minute(
    cli_db: str, service_urls: tuple[str, str]
) -> None:
    redis_url = service_urls[1]
    migrated = _run("migrate", database_url=cli_db, redis_url=redis_url)
    assert migrated.returncode == 0, migrated.stderr
    started = time.monotonic()
    seeded = _run("seed", "--videos", "100000", database_url=cli_db, redis_url=redis_url)
    elapsed = time.monotonic() - started
    assert seeded.returncode == 0, seeded.stderr
    assert elapsed < 60, f"seeding took {elapsed:.1f}s"
    conn = await asyncpg.connect(cli_db)
    try:
        videos = await conn.fetchval("SELECT count(*) FROM videos")
        orphans = await conn.fetchval(
            "SELECT count(*) FROM videos v WHERE NOT EXISTS"
            " (SELECT 1 FROM renditions r WHERE r.video_id = v.id)"
        )
        owners = await conn.fetchval("SELECT count(DISTINCT owner_id) FROM videos")
    finally:
        await conn.close()
    assert videos == 100_000 and orphans == 0 and owners > 1


def test_bad_arguments_are_refused_clearly(service_urls: tuple[str, str]) -> None:
    result = _run("seed", "--videos", "0", database_url=service_urls[0], redis_url=service_urls[1])
    assert result.returncode != 0
    assert "--videos" in result.stderr
