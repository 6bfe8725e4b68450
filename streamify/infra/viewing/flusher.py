"""Write-behind of counted deltas to PostgreSQL, exactly once, by any number of API processes.

Per counter shard, a flush is three steps:

1. **Claim** (one script in the shard's slot): the shard's videos with pending deltas are
   taken from its dirty set and their deltas moved, atomically, into the shard's flush
   record (`fl`), stamped with a new flush id and a lease. A record already there whose lease
   ran out (its flusher died) is taken over as it is, id and all; one whose lease runs is
   left alone (another process is flushing it).
2. **Apply** (one PostgreSQL transaction): the flush id is inserted into `stats_flushes`; if
   it was there already, the record was applied before a crash and nothing is added again.
   Otherwise the deltas are added to the totals and hourly rows in the same transaction.
3. **Finish** (a script): the record is deleted if it still carries that id.

A crash before 1 ends changes nothing (the script is atomic); between 1 and 2's commit, the
record is applied by whoever takes it over; between 2 and 3, it is taken over, found applied,
and deleted. Nothing is lost or counted twice, and no event waits on PostgreSQL. Trending
scores are added after the commit by the process that applied it (a crash in between loses
them from the ranking, never from the counts)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID

from streamify.infra.db import Database
from streamify.infra.redis_client import REDIS_DOWN_ERRORS, RedisClient
from streamify.infra.sql import stats as stats_sql
from streamify.names import RedisNames

log = logging.getLogger(__name__)

LEASE_MS = 30_000
# How often applied flush ids older than a week are deleted.
FORGET_EVERY_SECONDS = 3600
VIDEOS_PER_FLUSH = 500

CLAIM = """
local record, dirty = KEYS[1], KEYS[2]
local prefix, now, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local flush_id, most = ARGV[4], tonumber(ARGV[5])
if redis.call('EXISTS', record) == 1 then
  if tonumber(redis.call('HGET', record, '.lease') or '0') > now then return false end
  redis.call('HSET', record, '.lease', now + lease)
  return redis.call('HGETALL', record)
end
local videos = redis.call('SPOP', dirty, most)
if #videos == 0 then return {} end
redis.call('HSET', record, '.id', flush_id, '.lease', now + lease)
for _, video in ipairs(videos) do
  local pending = prefix .. 'p:' .. video
  local fields = redis.call('HGETALL', pending)
  for i = 1, #fields, 2 do
    redis.call('HINCRBY', record, video .. '|' .. fields[i], fields[i + 1])
  end
  redis.call('DEL', pending)
  local sketch = prefix .. 'u:' .. video
  if redis.call('EXISTS', sketch) == 1 then
    redis.call('HSET', record, video .. '|.hll', redis.call('GET', sketch),
               video .. '|.hllc', redis.call('PFCOUNT', sketch))
  end
end
return redis.call('HGETALL', record)
"""

FINISH = """
if redis.call('HGET', KEYS[1], '.id') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass
class Deltas:
    """One flush record, by video."""

    flush_id: str
    views: dict[UUID, int] = field(default_factory=lambda: defaultdict(int))
    watch_ms: dict[UUID, int] = field(default_factory=lambda: defaultdict(int))
    hourly: dict[tuple[UUID, int], list[int]] = field(default_factory=dict)  # v, w, r, e
    startup: dict[tuple[UUID, int, int], int] = field(default_factory=dict)
    renditions: dict[tuple[UUID, int, int], int] = field(default_factory=dict)
    sketches: dict[UUID, tuple[int, bytes]] = field(default_factory=dict)

    @property
    def videos(self) -> set[UUID]:
        return (
            set(self.views) | set(self.watch_ms) | {v for v, _ in self.hourly} | set(self.sketches)
        )


_HOURLY_FIELD = {"v": 0, "w": 1, "r": 2, "e": 3}


def parse_record(flat: list[bytes]) -> Deltas | None:
    """The record's fields (HGETALL's flat list) as deltas; None without an id."""
    pairs = dict(zip(flat[::2], flat[1::2], strict=True))
    flush_id = pairs.pop(b".id", None)
    pairs.pop(b".lease", None)
    if flush_id is None:
        return None
    deltas = Deltas(flush_id.decode())
    sketch_counts: dict[UUID, int] = {}
    sketch_bytes: dict[UUID, bytes] = {}
    for name, value in pairs.items():
        video_text, _, what = name.decode().partition("|")
        video = UUID(video_text)
        if what == ".hll":
            sketch_bytes[video] = value
            continue
        number = int(value)
        if what == ".hllc":
            sketch_counts[video] = number
        elif what == "v":
            deltas.views[video] += number
        elif what == "w":
            deltas.watch_ms[video] += number
        else:
            kind, _, rest = what.partition(":")
            if kind in _HOURLY_FIELD:
                row = deltas.hourly.setdefault((video, int(rest)), [0, 0, 0, 0])
                row[_HOURLY_FIELD[kind]] += number
            elif kind == "s":
                hour, _, bucket = rest.partition(":")
                deltas.startup[(video, int(hour), int(bucket))] = number
            elif kind == "h":
                hour, _, height = rest.partition(":")
                deltas.renditions[(video, int(hour), int(height))] = number
    for video, sketch in sketch_bytes.items():
        deltas.sketches[video] = (sketch_counts.get(video, 0), sketch)
    return deltas


TrendingUpdate = Callable[[dict[UUID, list[tuple[int, int]]]], Awaitable[None]]


class StatsFlusher:
    def __init__(
        self,
        client: RedisClient,
        names: RedisNames,
        db: Database,
        *,
        shards: int,
        trending: TrendingUpdate | None = None,
    ) -> None:
        self.client = client
        self.names = names
        self.db = db
        self.shards = shards
        self.trending = trending
        self._claim = client.register_script(CLAIM)
        self._finish = client.register_script(FINISH)
        self.flushed = 0  # flushes this process applied, for metrics and tests

    async def flush_shard(self, shard: int) -> bool:
        """One flush of one shard; whether there was anything to flush."""
        prefix = self.names.stats_shard(shard)
        record = prefix + "fl"
        flat = await self._claim(
            keys=[record, prefix + "dirty"],
            args=[prefix, int(time.time() * 1000), LEASE_MS, uuid.uuid4().hex, VIDEOS_PER_FLUSH],
        )
        if not flat:
            return False
        deltas = parse_record(flat)
        if deltas is None:
            return False
        async with self.db.pool.acquire() as conn, conn.transaction():
            applied = await stats_sql.apply(conn, deltas, shard=shard)
            public = await stats_sql.public_ready(conn, list(deltas.views)) if applied else []
        if applied:
            self.flushed += 1
            if self.trending is not None and public:
                hourly: dict[UUID, list[tuple[int, int]]] = defaultdict(list)
                for (video, hour), row in deltas.hourly.items():
                    if video in public and row[0]:
                        hourly[video].append((hour, row[0]))
                try:
                    await self.trending(hourly)
                except REDIS_DOWN_ERRORS as exc:
                    log.warning("trending not updated for a flush: %s", exc)
        await self._finish(keys=[record], args=[deltas.flush_id])
        return True

    async def flush_all(self) -> int:
        """Flush every shard until none has anything pending; how many flushes applied."""
        before = self.flushed
        for shard in range(self.shards):
            while await self.flush_shard(shard):
                pass
        return self.flushed - before

    async def run(self, interval: float) -> None:
        """Flush every `interval` seconds until cancelled; Redis or PostgreSQL away costs a
        round, never the deltas (they wait in Redis)."""
        forget_at = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush_all()
                if time.monotonic() >= forget_at:  # an hourly chore, not a statement a round
                    await stats_sql.forget_old_flushes(self.db.pool)
                    forget_at = time.monotonic() + FORGET_EVERY_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("a stats flush did not finish; its deltas wait in Redis", exc_info=True)
