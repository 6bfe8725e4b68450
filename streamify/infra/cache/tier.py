"""The cache tier every read goes through and every write invalidates (see
docs/architecture.md, "The read path").

L1 (in-process, bounded, short TTL) -> single-flight (one fetch per key per process) ->
Redis MGET -> one batched PostgreSQL fetch -> version-checked fill of Redis and L1.
Writes call `invalidate`, which tombstones the Redis key and broadcasts an L1 drop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
from cachetools import TTLCache

from streamify.infra.cache.l1 import L1Cache
from streamify.infra.cache.redis_store import (
    NEGATIVE_ENTRY,
    Fill,
    RedisCache,
    decode_entry,
    encode_value,
    jittered_ms,
)
from streamify.infra.redis_client import REDIS_DOWN_ERRORS
from streamify.infra.settings import Settings
from streamify.names import RedisNames

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# What a loader's batch function returns: id -> (row version, value) for the ids that exist.
Fetch = Callable[[list[K]], Awaitable[dict[K, tuple[int, V]]]]
Clock = Callable[[], float]

_ENCODER = msgspec.json.Encoder()
_DECODERS: dict[object, msgspec.json.Decoder[Any]] = {}


def _decoder(type_: object) -> msgspec.json.Decoder[Any]:
    found = _DECODERS.get(type_)
    if found is None:
        found = _DECODERS[type_] = msgspec.json.Decoder(type_)
    return found


@dataclass(frozen=True, slots=True)
class Namespace(Generic[V]):
    """One cached entity type: its key prefix, value type and TTL. Its values must be
    immutable (frozen records, tuples): L1 hands the same object to every request."""

    name: str
    type: type[V]
    ttl_seconds: float | None = None  # None: the tier's default TTL for its kind
    # A listing (pages of ids): kept for `cache_list_ttl_seconds`, not the entity TTL.
    is_listing: bool = False

    def encode(self, value: V) -> bytes:
        return _ENCODER.encode(value)

    def decode(self, payload: bytes) -> V:
        value: V = _decoder(self.type).decode(payload)
        return value


@dataclass(frozen=True, slots=True)
class _L1Entry:
    version: int
    value: Any  # None is a negative entry
    ttl: float


class CircuitBreaker:
    """Closed: use Redis. Open: skip it until the cooldown ends, then let one probe through."""

    def __init__(self, cooldown_seconds: float, *, clock: Clock = time.monotonic) -> None:
        self.cooldown = cooldown_seconds
        self.clock = clock
        self.open_until = 0.0
        self.is_open = False
        self._probing = False

    def allow(self) -> bool:
        if not self.is_open:
            return True
        if self._probing or self.clock() < self.open_until:
            return False
        self._probing = True
        return True

    def success(self) -> bool:
        """Record a success; True when this closed an open breaker."""
        recovered = self.is_open
        self.is_open = self._probing = False
        return recovered

    def failure(self) -> None:
        self.is_open = True
        self._probing = False
        self.open_until = self.clock() + self.cooldown


# What peek() answers for a key L1 does not hold.
MISS: Any = object()


class CacheTier:
    def __init__(
        self, settings: Settings, redis: RedisCache | None, *, clock: Clock = time.monotonic
    ) -> None:
        """`clock` (seconds, monotonic) drives L1 expiry and the breaker; tests inject one."""
        self.settings = settings
        self.redis = redis if settings.cache_redis_enabled else None
        self.names = RedisNames(settings.cache_key_prefix)
        self.l1_enabled = settings.cache_l1_enabled
        self.single_flight = settings.cache_single_flight
        self.l1: L1Cache[_L1Entry] = L1Cache(settings.cache_l1_max_entries, clock)
        # Versions written recently, so a late L1 fill of an older row is refused here too.
        self.l1_tombstones: TTLCache[str, int] = TTLCache(
            maxsize=settings.cache_l1_max_entries,
            ttl=settings.cache_tombstone_ttl_seconds,
            timer=clock,
        )
        self.inflight: dict[str, asyncio.Future[dict[str, tuple[int, Any]]]] = {}
        self.breaker = CircuitBreaker(settings.redis_breaker_cooldown_seconds, clock=clock)
        self.db_gate = asyncio.Semaphore(settings.db_fallback_concurrency)
        # Invalidations Redis missed while down, replayed when it answers again.
        self.pending_invalidations: dict[str, int] = {}
        self.stats: Counter[tuple[str, str]] = Counter()

    # -- keys -----------------------------------------------------------------------------

    def key(self, ns: Namespace[Any], id_: Hashable) -> str:
        return self.names.entity(ns.name, id_)

    # -- reads ----------------------------------------------------------------------------

    def peek(self, ns: Namespace[V], id_: Hashable, *, record: dict[str, int] | None = None) -> Any:
        """What L1 holds for `id_` (None: known to be absent), or MISS: the L1 part of
        get_many, answered without a batch or a turn of the event loop."""
        if not self.l1_enabled:
            return MISS
        key = self.names.entity(ns.name, id_)
        hit = self.l1.get(key)
        if hit is None:
            return MISS
        self.stats[ns.name, "l1_hit"] += 1
        if record is not None:
            record[key] = hit.version
        return hit.value

    async def get_many(
        self,
        ns: Namespace[V],
        ids: Sequence[K],
        fetch: Fetch[K, V],
        *,
        record: dict[str, int] | None = None,
    ) -> list[V | None]:
        """Values in key order (None for absent ids). With `record`, the key and version of
        everything read are added to it, so a response built from them can be revalidated."""
        keys = [self.key(ns, i) for i in ids]
        found: dict[str, tuple[int, Any]] = {}
        owned: dict[str, K] = {}
        waits: dict[str, asyncio.Future[dict[str, tuple[int, Any]]]] = {}
        for key, id_ in zip(keys, ids, strict=True):
            if key in found or key in owned or key in waits:
                continue
            if self.l1_enabled:
                hit = self.l1.get(key)
                if hit is not None:
                    found[key] = (hit.version, hit.value)
                    self.stats[ns.name, "l1_hit"] += 1
                    continue
            if self.single_flight and (running := self.inflight.get(key)) is not None:
                waits[key] = running
                self.stats[ns.name, "single_flight_wait"] += 1
                continue
            owned[key] = id_
        if owned:
            task = asyncio.ensure_future(self._load(ns, owned, fetch))
            # The batch outlives a cancelled request: other requests may be waiting on it.
            task.add_done_callback(_consume_exception)
            if self.single_flight:
                for key in owned:
                    self.inflight[key] = task
            found.update(await asyncio.shield(task))
        for key, running in waits.items():
            found[key] = (await asyncio.shield(running))[key]
        if record is not None:
            for key, (version, _) in found.items():
                record[key] = version
        return [found[k][1] for k in keys]

    def still_current(self, deps: dict[str, int]) -> bool:
        """True while L1 holds every (key, version) of `deps`: nothing read for a response has
        been invalidated (drops reach L1 from every process) or expired since."""
        l1 = self.l1
        for key, version in deps.items():
            entry = l1.get(key)
            if entry is None or entry.version != version:
                return False
        return True

    async def _load(
        self, ns: Namespace[V], owned: dict[str, K], fetch: Fetch[K, V]
    ) -> dict[str, tuple[int, Any]]:
        try:
            found: dict[str, tuple[int, Any]] = {}
            misses = await self._read_redis(ns, list(owned), found)
            if misses:
                await self._read_db(ns, {k: owned[k] for k in misses}, fetch, found)
            return found
        finally:
            for key in owned:
                if self.inflight.get(key) is asyncio.current_task():
                    del self.inflight[key]

    async def _read_redis(
        self, ns: Namespace[V], keys: list[str], found: dict[str, tuple[int, Any]]
    ) -> list[str]:
        """Fill `found` from Redis; return the keys still missing."""
        if self.redis is None or not self.breaker.allow():
            return keys
        try:
            raws = await self.redis.mget(keys)
        except REDIS_DOWN_ERRORS as exc:
            self._redis_failed("mget", exc)
            return keys
        if await self._redis_ok():
            # Redis was down: what it holds may predate writes it missed (now replayed).
            return keys
        misses = []
        for key, raw in zip(keys, raws, strict=True):
            entry = decode_entry(raw) if raw is not None else None
            if entry is None or entry.is_tombstone:
                misses.append(key)
                continue
            value = None if entry.is_negative else ns.decode(entry.payload)
            found[key] = (entry.version, value)
            self._l1_set(ns, key, entry.version, value)
            self.stats[ns.name, "redis_hit"] += 1
        return misses

    async def _read_db(
        self,
        ns: Namespace[V],
        wanted: dict[str, K],
        fetch: Fetch[K, V],
        found: dict[str, tuple[int, Any]],
    ) -> None:
        self.stats[ns.name, "miss"] += len(wanted)
        if self.redis is not None and self.breaker.is_open:
            # Redis is down: bound how many requests reach PostgreSQL at once.
            async with self.db_gate:
                rows = await fetch(list(wanted.values()))
        else:
            rows = await fetch(list(wanted.values()))
        fills = []
        ttl = self._ttl(ns)
        for key, id_ in wanted.items():
            row = rows.get(id_)
            if row is None:
                found[key] = (0, None)
                self._l1_set(ns, key, 0, None)
                fills.append(self._negative_fill(key))
            else:
                version, value = row
                found[key] = row
                self._l1_set(ns, key, version, value)
                fills.append(self._value_fill(ns, key, version, value, ttl))
        await self._fill_redis(ns, fills)

    # -- fills ----------------------------------------------------------------------------

    def _ttl(self, ns: Namespace[Any]) -> float:
        if ns.ttl_seconds is not None:
            return ns.ttl_seconds
        if ns.is_listing:
            return self.settings.cache_list_ttl_seconds
        return self.settings.cache_ttl_seconds

    def _value_fill(self, ns: Namespace[V], key: str, version: int, value: V, ttl: float) -> Fill:
        entry = encode_value(version, ns.encode(value))
        return Fill(key, version, entry, jittered_ms(ttl, self.settings.cache_ttl_jitter))

    def _negative_fill(self, key: str) -> Fill:
        ttl_ms = jittered_ms(
            self.settings.cache_negative_ttl_seconds, self.settings.cache_ttl_jitter
        )
        return Fill(key, 0, NEGATIVE_ENTRY, ttl_ms)

    def _l1_set(self, ns: Namespace[Any], key: str, version: int, value: Any) -> None:
        if not self.l1_enabled or version < self.l1_tombstones.get(key, 0):
            return
        ttl = self.settings.cache_l1_ttl_seconds
        if value is None:
            ttl = min(ttl, self.settings.cache_negative_ttl_seconds)
        self.l1[key] = _L1Entry(version, value, ttl)

    async def _fill_redis(self, ns: Namespace[Any], fills: list[Fill]) -> None:
        if not fills or self.redis is None or self.breaker.is_open:
            return
        try:
            await self.redis.fill(fills)
        except REDIS_DOWN_ERRORS as exc:
            self._redis_failed("fill", exc)
            return
        self.stats[ns.name, "fill"] += len(fills)

    async def put_many(self, ns: Namespace[V], items: Sequence[tuple[Hashable, int, V]]) -> None:
        """Cache rows read elsewhere (a list page), with the same version checks as a fill."""
        ttl = self._ttl(ns)
        fills = []
        for id_, version, value in items:
            key = self.key(ns, id_)
            self._l1_set(ns, key, version, value)
            fills.append(self._value_fill(ns, key, version, value, ttl))
        await self._fill_redis(ns, fills)

    # -- writes ---------------------------------------------------------------------------

    async def invalidate(self, ns: Namespace[Any], items: Sequence[tuple[Hashable, int]]) -> None:
        """After a committed write of (id, new version): drop L1 here, tombstone Redis, and
        broadcast the drop. A Redis failure is logged and replayed later, never raised."""
        pairs = [(self.key(ns, id_), version) for id_, version in items]
        for key, version in pairs:
            self.drop_l1(key, version)
        self.stats[ns.name, "invalidation"] += len(pairs)
        await self._invalidate_redis(pairs)

    async def _invalidate_redis(self, pairs: list[tuple[str, int]]) -> None:
        if self.redis is None:
            return
        try:
            await self.redis.invalidate(
                pairs, tombstone_ms=int(self.settings.cache_tombstone_ttl_seconds * 1000)
            )
        except REDIS_DOWN_ERRORS as exc:
            for key, version in pairs:
                self.pending_invalidations[key] = max(
                    version, self.pending_invalidations.get(key, 0)
                )
            self._redis_failed("invalidate", exc)

    def drop_l1(self, key: str, version: int) -> None:
        self.l1.pop(key, None)
        if version > self.l1_tombstones.get(key, 0):
            self.l1_tombstones[key] = version

    def clear_l1(self) -> None:
        self.l1.clear()

    # -- generations: a counter that list caches put in their keys ----------------------------

    def generation_key(self, name: str) -> str:
        return self.names.generation(name)

    async def generation(self, name: str, *, record: dict[str, int] | None = None) -> int:
        key = self.generation_key(name)
        if self.l1_enabled and (hit := self.l1.get(key)) is not None:
            if record is not None:
                record[key] = hit.version
            return int(hit.value)
        value = 0
        if self.redis is not None and self.breaker.allow():
            try:
                raw = await self.redis.get(key)
            except REDIS_DOWN_ERRORS as exc:
                self._redis_failed("get", exc)
            else:
                await self._redis_ok()
                value = int(raw) if raw else 0
        if self.l1_enabled:
            # The generation is its own version, so still_current() can check it like a row.
            self.l1[key] = _L1Entry(value, value, self.settings.cache_l1_ttl_seconds)
        if record is not None:
            record[key] = value
        return value

    async def bump_generation(self, name: str) -> None:
        key = self.generation_key(name)
        self.l1.pop(key, None)
        if self.redis is None:
            return
        try:
            # Outlives every list entry keyed by it, so a generation never goes back to 0 early.
            await self.redis.bump(key, ttl_ms=int(self.settings.cache_list_ttl_seconds * 4000))
        except REDIS_DOWN_ERRORS as exc:
            self.pending_invalidations[key] = 0
            self._redis_failed("bump", exc)

    # -- Redis health ---------------------------------------------------------------------

    def _redis_failed(self, operation: str, exc: BaseException) -> None:
        if not self.breaker.is_open:
            log.warning("Redis %s failed (%s); serving from PostgreSQL", operation, exc)
        self.stats["redis", "error"] += 1
        self.breaker.failure()

    async def _redis_ok(self) -> bool:
        """Record a Redis success; True when it just came back (invalidations replayed)."""
        if not self.breaker.success():
            return False
        log.info("Redis is back; replaying %d invalidations", len(self.pending_invalidations))
        await self._replay_invalidations()
        return True

    async def _replay_invalidations(self) -> None:
        pending, self.pending_invalidations = self.pending_invalidations, {}
        generations = [k for k, v in pending.items() if v == 0]
        pairs = [(k, v) for k, v in pending.items() if v > 0]
        if pairs:
            await self._invalidate_redis(pairs)
        for key in generations:
            name = self.names.generation_name(key)
            await self.bump_generation(name)

    @property
    def redis_degraded(self) -> bool:
        return self.redis is not None and self.breaker.is_open


def _consume_exception(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
