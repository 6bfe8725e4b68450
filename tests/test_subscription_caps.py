"""A subscriber's processing subscriptions are capped across every API process (issue 25),
with leases that lapse when the process holding them dies."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest

from streamify.infra.events import TooManySubscriptions
from streamify.infra.redis_client import create_redis
from streamify.infra.settings import Settings
from streamify.infra.subscription_leases import SubscriptionLeases
from streamify.names import RedisNames
from streamify.services import open_services

pytestmark = pytest.mark.both_redis


async def test_the_cap_counts_subscriptions_in_every_process(
    settings: Settings, clean_db: None
) -> None:
    capped = settings.model_copy(update={"subscriptions_per_subscriber": 2})
    async with (
        open_services(capped, background_jobs=False) as one,
        open_services(capped, background_jobs=False) as other,
        contextlib.AsyncExitStack() as held,
    ):
        await held.enter_async_context(one.fanout.subscription(uuid.uuid4(), subscriber="ada"))
        in_other = contextlib.AsyncExitStack()
        await in_other.enter_async_context(
            other.fanout.subscription(uuid.uuid4(), subscriber="ada")
        )
        # Each process holds one: a third anywhere is refused, another subscriber is not.
        for services in (one, other):
            with pytest.raises(TooManySubscriptions):
                async with services.fanout.subscription(uuid.uuid4(), subscriber="ada"):
                    pass
        await held.enter_async_context(one.fanout.subscription(uuid.uuid4(), subscriber="bob"))
        # Ending one in the other process frees a place here.
        await in_other.aclose()
        await held.enter_async_context(one.fanout.subscription(uuid.uuid4(), subscriber="ada"))
        assert one.fanout.held == {"ada": 2, "bob": 1}
        assert other.fanout.held == {}


async def test_leases_of_a_dead_process_lapse_and_live_ones_are_renewed(
    settings: Settings,
) -> None:
    client = create_redis(settings.redis_url, timeout=1, mode=settings.redis_mode)
    names = RedisNames(settings.cache_key_prefix)
    try:
        await client.ping()  # connected (a cluster client learns its slots) before timing
        lease = 1.5
        dead = SubscriptionLeases(client, names, cap=1, lease_seconds=lease)
        alive = SubscriptionLeases(client, names, cap=1, lease_seconds=lease)
        assert await dead.acquire("ada") is not None
        assert await alive.acquire("ada") is None
        await asyncio.sleep(lease + 0.2)  # the dead process never renewed
        assert await alive.acquire("ada") is not None
        renewing = asyncio.create_task(alive.keep_renewed())
        try:
            await asyncio.sleep(2.5 * lease)  # more than two leases long
            assert await dead.acquire("ada") is None
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
    finally:
        await client.aclose()
