"""Fast unit tests of the tier's rules on fakeredis (with Lua); the real-Redis tests sit beside."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import fakeredis
import pytest

from streamify.infra.cache.redis_store import RedisCache, decode_entry
from streamify.infra.cache.tier import CacheTier, CircuitBreaker, Namespace
from streamify.infra.settings import Settings
from tests.helpers import redis_raw


@dataclass(frozen=True)
class Item:
    id: int
    name: str


ITEMS: Namespace[Item] = Namespace("item", Item)


@pytest.fixture
async def tier() -> AsyncIterator[CacheTier]:
    client = fakeredis.FakeAsyncRedis()
    yield CacheTier(Settings(cache_ttl_jitter=0.0), RedisCache(client, channel="drops"))
    await client.aclose()


class Source:
    """A stand-in table: counts batches and the ids each asked for."""

    def __init__(self, rows: dict[int, tuple[int, Item]]) -> None:
        self.rows = rows
        self.batches: list[list[int]] = []
        self.gate: asyncio.Event | None = None

    async def fetch(self, ids: list[int]) -> dict[int, tuple[int, Item]]:
        self.batches.append(ids)
        if self.gate is not None:
            await self.gate.wait()
        return {i: self.rows[i] for i in ids if i in self.rows}


async def test_results_in_key_order_with_none_for_absent_ids(tier: CacheTier) -> None:
    source = Source({1: (1, Item(1, "a")), 2: (1, Item(2, "b"))})
    got = await tier.get_many(ITEMS, [2, 99, 1, 2], source.fetch)
    assert got == [Item(2, "b"), None, Item(1, "a"), Item(2, "b")]
    assert source.batches == [[2, 99, 1]]


async def test_l1_then_redis_then_source(tier: CacheTier) -> None:
    source = Source({1: (1, Item(1, "a"))})
    await tier.get_many(ITEMS, [1, 2], source.fetch)
    await tier.get_many(ITEMS, [1, 2], source.fetch)
    assert len(source.batches) == 1 and tier.stats["item", "l1_hit"] == 2
    tier.clear_l1()
    await tier.get_many(ITEMS, [1, 2], source.fetch)
    assert len(source.batches) == 1 and tier.stats["item", "redis_hit"] == 2


async def test_fill_never_overwrites_a_newer_version_or_tombstone(tier: CacheTier) -> None:
    assert tier.redis is not None
    key = tier.key(ITEMS, 1)
    await tier.put_many(ITEMS, [(1, 5, Item(1, "v5"))])
    await tier.put_many(ITEMS, [(1, 4, Item(1, "v4"))])
    entry = decode_entry(await redis_raw(tier.redis.client, key))
    assert entry is not None and entry.version == 5
    await tier.invalidate(ITEMS, [(1, 7)])
    await tier.put_many(ITEMS, [(1, 6, Item(1, "v6"))])
    entry = decode_entry(await redis_raw(tier.redis.client, key))
    assert entry is not None and entry.is_tombstone and entry.version == 7
    assert key not in tier.l1  # the L1 tombstone refused v6 too
    await tier.put_many(ITEMS, [(1, 7, Item(1, "v7"))])
    entry = decode_entry(await redis_raw(tier.redis.client, key))
    assert entry is not None and not entry.is_tombstone and entry.version == 7


async def test_an_older_invalidation_does_not_replace_a_newer_one(tier: CacheTier) -> None:
    assert tier.redis is not None
    await tier.invalidate(ITEMS, [(1, 9)])
    await tier.invalidate(ITEMS, [(1, 8)])
    assert await tier.redis.client.get(tier.key(ITEMS, 1)) == b"t9:"


async def test_tombstone_reads_as_a_miss(tier: CacheTier) -> None:
    source = Source({1: (3, Item(1, "fresh"))})
    await tier.invalidate(ITEMS, [(1, 3)])
    assert await tier.get_many(ITEMS, [1], source.fetch) == [Item(1, "fresh")]
    assert source.batches == [[1]]


async def test_negative_entries_get_the_negative_ttl(tier: CacheTier) -> None:
    assert tier.redis is not None
    source = Source({})
    await tier.get_many(ITEMS, [42], source.fetch)
    key = tier.key(ITEMS, 42)
    assert await tier.redis.client.get(key) == b"n0:"
    ttl_ms = await tier.redis.client.pttl(key)
    assert 0 < ttl_ms <= tier.settings.cache_negative_ttl_seconds * 1000


async def test_single_flight_joins_concurrent_batches(tier: CacheTier) -> None:
    source = Source({1: (1, Item(1, "a")), 2: (1, Item(2, "b"))})
    source.gate = asyncio.Event()
    first = asyncio.create_task(tier.get_many(ITEMS, [1], source.fetch))
    await asyncio.sleep(0.01)
    others = [asyncio.create_task(tier.get_many(ITEMS, [1, 2], source.fetch)) for _ in range(20)]
    await asyncio.sleep(0.01)
    source.gate.set()
    assert await first == [Item(1, "a")]
    for other in others:
        assert await other == [Item(1, "a"), Item(2, "b")]
    # one batch for id 1; id 2 fetched by the first of the others, the rest waited on it
    assert source.batches == [[1], [2]]


async def test_a_cancelled_request_does_not_strand_waiters(tier: CacheTier) -> None:
    source = Source({1: (1, Item(1, "a"))})
    source.gate = asyncio.Event()
    owner = asyncio.create_task(tier.get_many(ITEMS, [1], source.fetch))
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(tier.get_many(ITEMS, [1], source.fetch))
    await asyncio.sleep(0.01)
    owner.cancel()
    source.gate.set()
    assert await waiter == [Item(1, "a")]
    assert len(source.batches) == 1


async def test_a_failing_source_fails_every_waiter_and_is_retried(tier: CacheTier) -> None:
    calls = 0

    async def broken(ids: list[int]) -> dict[int, tuple[int, Item]]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise RuntimeError("database down")

    results = await asyncio.gather(
        *(tier.get_many(ITEMS, [1], broken) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results) and calls == 1
    assert tier.inflight == {}
    source = Source({1: (1, Item(1, "a"))})
    assert await tier.get_many(ITEMS, [1], source.fetch) == [Item(1, "a")]


async def test_generation_bumps_are_seen_at_once_here(tier: CacheTier) -> None:
    assert await tier.generation("videos") == 0
    await tier.bump_generation("videos")
    assert await tier.generation("videos") == 1


def test_breaker_opens_then_lets_one_probe_through() -> None:
    breaker = CircuitBreaker(cooldown_seconds=0.0)
    assert breaker.allow()
    breaker.failure()
    assert breaker.allow()  # cooldown over: the probe
    assert not breaker.allow()  # only one probe at a time
    assert breaker.success()
    assert breaker.allow() and not breaker.success()


def test_l1_and_single_flight_can_be_turned_off() -> None:
    settings = Settings(
        cache_l1_enabled=False, cache_single_flight=False, cache_redis_enabled=False
    )
    plain = CacheTier(settings, None)
    assert plain.redis is None and not plain.l1_enabled and not plain.single_flight
