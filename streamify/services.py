"""Every long-lived client of one API process, created together and closed together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as redis

from streamify.infra.cache import RedisCache, create_redis, listen_for_drops
from streamify.infra.db import Database, create_database
from streamify.infra.settings import Settings
from streamify.loaders.cache_aside import CacheTier


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: redis.Redis
    cache: CacheTier
    drop_listener_ready: asyncio.Event


@contextlib.asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    db = await create_database(
        settings.database_url,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
    )
    client = create_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
    listener_client = create_redis(settings.redis_url, timeout=None)
    channel = f"{settings.cache_key_prefix}l1-drop"
    cache = CacheTier(settings, RedisCache(client, channel=channel))
    ready = asyncio.Event()
    listener = asyncio.create_task(
        listen_for_drops(listener_client, channel, cache.drop_l1, cache.clear_l1, ready=ready),
        name="l1-drop-listener",
    )
    try:
        yield Services(
            settings=settings, db=db, redis=client, cache=cache, drop_listener_ready=ready
        )
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await listener_client.aclose()
        await client.aclose()
        await db.close()
