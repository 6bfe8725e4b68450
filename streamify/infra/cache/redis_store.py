"""Redis side of the cache tier: the entry format, version-checked fills and invalidations
(Lua, one key per script call so each runs on one cluster slot), and the L1-drop broadcast
they send. An entity's value, version and tombstone are one key, so nothing needs a hash tag.

On a Redis Cluster a batch costs one round trip per node: the MGET is split by slot and the
parts pipelined per node, concurrently (`mget_nonatomic`), and redis-py's cluster pipeline
sends each node its share of a pipeline of scripts in one write.

An entry is `<tag><version>:<payload>`:
  v<version>:<json>  a cached row at that version
  n0:                a negative entry (the id does not exist)
  t<version>:        a tombstone left by a write of <version>; older fills are refused
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from redis.asyncio.cluster import RedisCluster

from streamify.infra import pubsub
from streamify.infra.redis_client import REDIS_DOWN_ERRORS, RedisClient, is_cluster

# Lua prelude of both scripts: stop when Redis already holds a newer version (row or tombstone)
# than ARGV[1].
REFUSE_OLDER = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, ':', 2, true)
  local curv = tonumber(string.sub(cur, 2, sep - 1))
  if curv and tonumber(ARGV[1]) < curv then return 0 end
end
"""
# Fill: set the entry (ARGV[2]) with its TTL (ARGV[3]).
FILL_SCRIPT = REFUSE_OLDER + "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])\nreturn 1\n"
# Invalidate: leave a tombstone of the written version for ARGV[2] milliseconds.
INVALIDATE_SCRIPT = (
    REFUSE_OLDER + "redis.call('SET', KEYS[1], 't' .. ARGV[1] .. ':', 'PX', ARGV[2])\nreturn 1\n"
)

VALUE = ord("v")
NEGATIVE = ord("n")
TOMBSTONE = ord("t")


@dataclass(frozen=True, slots=True)
class Entry:
    """A decoded Redis entry: a value (payload set), a negative entry, or a tombstone."""

    tag: int
    version: int
    payload: bytes

    @property
    def is_tombstone(self) -> bool:
        return self.tag == TOMBSTONE

    @property
    def is_negative(self) -> bool:
        return self.tag == NEGATIVE


def encode_value(version: int, payload: bytes) -> bytes:
    return b"v%d:%s" % (version, payload)


NEGATIVE_ENTRY = b"n0:"


def decode_entry(raw: bytes) -> Entry | None:
    sep = raw.find(b":", 1)
    if sep < 0 or raw[0] not in (VALUE, NEGATIVE, TOMBSTONE):
        return None
    return Entry(tag=raw[0], version=int(raw[1:sep]), payload=raw[sep + 1 :])


def jittered_ms(seconds: float, jitter: float) -> int:
    spread = seconds * jitter
    # Jitter only spreads expiries apart; it is not security-sensitive.
    return max(1, int((seconds + random.uniform(-spread, spread)) * 1000))  # noqa: S311


@dataclass(frozen=True, slots=True)
class Fill:
    key: str
    version: int
    entry: bytes
    ttl_ms: int


class RedisCache:
    """Commands the tier sends to Redis; every method raises REDIS_DOWN_ERRORS when it is down."""

    def __init__(self, client: RedisClient, *, channel: str) -> None:
        self.client = client
        self.channel = channel
        self.sharded = is_cluster(client)
        self.commands = 0

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        self.commands += 1
        # Without decode_responses, redis-py returns bytes.
        if isinstance(self.client, RedisCluster):
            # One MGET per slot, pipelined per node: one round trip to each node holding keys.
            return cast(list[bytes | None], await self.client.mget_nonatomic(keys))
        return cast(list[bytes | None], await self.client.mget(keys))

    async def get(self, key: str) -> bytes | None:
        self.commands += 1
        return cast(bytes | None, await self.client.get(key))

    async def fill(self, fills: Sequence[Fill]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            # EVAL, not EVALSHA: a pipeline cannot load a script a node (a promoted replica)
            # lacks, and Redis caches the compiled script by its digest either way.
            for f in fills:
                pipe.eval(FILL_SCRIPT, 1, f.key, f.version, f.entry, f.ttl_ms)
            self.commands += len(fills)
            await pipe.execute()

    async def invalidate(self, keys: Sequence[tuple[str, int]], *, tombstone_ms: int) -> None:
        """Tombstone each (key, version) and broadcast the L1 drop, in one round trip."""
        async with self.client.pipeline(transaction=False) as pipe:
            for key, version in keys:
                pipe.eval(INVALIDATE_SCRIPT, 1, key, version, tombstone_ms)
                pubsub.publish(pipe, self.channel, f"{version} {key}", sharded=self.sharded)
            self.commands += 2 * len(keys)
            await pipe.execute()

    async def bump(self, key: str, *, ttl_ms: int) -> int:
        """Increment a generation counter (kept alive longer than anything keyed by it)."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.pexpire(key, ttl_ms)
            pubsub.publish(pipe, self.channel, f"0 {key}", sharded=self.sharded)
            self.commands += 3
            generation, _, _ = await pipe.execute()
        return int(generation)

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except REDIS_DOWN_ERRORS:
            return False
