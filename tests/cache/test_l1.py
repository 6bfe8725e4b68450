"""The L1 cache: entries expire at their own deadline, the size stays bounded."""

from __future__ import annotations

from dataclasses import dataclass

from streamify.infra.cache.l1 import L1Cache
from tests.helpers import FakeClock


@dataclass(frozen=True)
class Entry:
    value: str
    ttl: float


def test_entries_expire_at_their_own_deadline() -> None:
    clock = FakeClock()
    cache: L1Cache[Entry] = L1Cache(10, clock)
    cache["short"] = Entry("s", 1.0)
    cache["long"] = Entry("l", 5.0)
    assert cache.get("short") == Entry("s", 1.0)
    clock.advance(1.0)
    assert cache.get("short") is None  # at the deadline: gone
    assert "short" not in cache
    assert cache.get("long") == Entry("l", 5.0)
    clock.advance(4.0)
    assert cache.get("long") is None
    assert len(cache) == 0


def test_a_full_cache_drops_the_entry_written_longest_ago() -> None:
    cache: L1Cache[Entry] = L1Cache(3, FakeClock())
    for key in "abc":
        cache[key] = Entry(key, 10.0)
    cache["a"] = Entry("a2", 10.0)  # rewritten: now the newest
    cache["d"] = Entry("d", 10.0)
    assert len(cache) == 3
    assert cache.get("b") is None
    assert [cache.get(k) for k in "acd"] == [Entry("a2", 10.0), Entry("c", 10.0), Entry("d", 10.0)]


def test_pop_and_clear() -> None:
    cache: L1Cache[Entry] = L1Cache(3, FakeClock())
    cache["a"] = Entry("a", 10.0)
    assert cache.pop("a") == Entry("a", 10.0)
    assert cache.pop("a") is None
    cache["b"] = Entry("b", 10.0)
    cache.clear()
    assert len(cache) == 0
