"""Videos' viewing totals as they stand: what PostgreSQL holds, plus what the counter shards
still hold (pending deltas, and a flush record not applied yet), kept by each API process for
`stats_max_staleness_seconds` and read for many videos at once (one Redis pipeline, one
PostgreSQL snapshot). A view never touches a video's cached record: these have their own."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cachetools import TTLCache

from streamify.infra.db import Database
from streamify.infra.redis_client import REDIS_DOWN_ERRORS, RedisClient
from streamify.infra.sql import stats as stats_sql
from streamify.names import RedisNames

log = logging.getLogger(__name__)
CACHED_VIDEOS = 100_000

# One shard's part of some videos' totals: its flush record's id, then per video the pending
# views and watch time, the live unique-viewer estimate, and the record's views and watch time.
READ = """
local prefix = ARGV[1]
local out = {redis.call('HGET', KEYS[1], '.id') or ''}
for i = 2, #ARGV do
  local video = ARGV[i]
  local pending = redis.call('HMGET', prefix .. 'p:' .. video, 'v', 'w')
  local flushing = redis.call('HMGET', KEYS[1], video .. '|v', video .. '|w')
  out[#out + 1] = tonumber(pending[1] or '0')
  out[#out + 1] = tonumber(pending[2] or '0')
  out[#out + 1] = redis.call('PFCOUNT', prefix .. 'u:' .. video)
  out[#out + 1] = tonumber(flushing[1] or '0')
  out[#out + 1] = tonumber(flushing[2] or '0')
end
return out
"""


@dataclass(frozen=True, slots=True)
class VideoStats:
    views: int
    unique_viewers: int
    watch_ms: int


ZERO = VideoStats(0, 0, 0)


@dataclass(frozen=True, slots=True)
class _Pending:
    views: int
    watch_ms: int
    uniques: dict[int, int]  # shard -> live estimate


class StatsReader:
    def __init__(
        self,
        client: RedisClient,
        names: RedisNames,
        db: Database,
        *,
        shards: int,
        max_staleness_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.names = names
        self.db = db
        self.shards = shards
        self.max_staleness = max_staleness_seconds
        self.clock = clock
        # (stats, when they were read) per video.
        self.cache: TTLCache[UUID, tuple[VideoStats, float]] = TTLCache(
            maxsize=CACHED_VIDEOS, ttl=max_staleness_seconds, timer=clock
        )
        self.inflight: dict[UUID, asyncio.Future[dict[UUID, tuple[VideoStats, float]]]] = {}
        self._read = client.register_script(READ)

    async def get_many(self, ids: Sequence[UUID]) -> list[tuple[VideoStats, float]]:
        """(stats, when read) per id, in order: cached, or read together with the others
        missing (a read already under way for an id is waited for, not repeated)."""
        found: dict[UUID, tuple[VideoStats, float]] = {}
        waits: list[asyncio.Future[dict[UUID, tuple[VideoStats, float]]]] = []
        missing: list[UUID] = []
        for video in dict.fromkeys(ids):
            hit = self.cache.get(video)
            if hit is not None:
                found[video] = hit
            elif video in self.inflight:
                waits.append(self.inflight[video])
            else:
                missing.append(video)
        if missing:
            future: asyncio.Future[dict[UUID, tuple[VideoStats, float]]] = (
                asyncio.get_running_loop().create_future()
            )
            for video in missing:
                self.inflight[video] = future
            try:
                read = await self._totals(missing)
                future.set_result(read)
            except BaseException as exc:
                future.set_exception(exc)
                future.exception()  # retrieved: the waiters see it, nobody else must
                raise
            finally:
                for video in missing:
                    if self.inflight.get(video) is future:
                        del self.inflight[video]
            found.update(read)
            self.cache.update(read)
        for wait in waits:
            found.update(await wait)
        return [found[video] for video in ids]

    async def _totals(self, ids: list[UUID]) -> dict[UUID, tuple[VideoStats, float]]:
        read_at = self.clock()
        pending, records = await self._pending(ids)
        stored, applied = await stats_sql.totals(
            self.db.pool, ids, [flush_id for flush_id, _ in records.values()]
        )
        out: dict[UUID, tuple[VideoStats, float]] = {}
        restores: list[tuple[str, bytes]] = []
        for video in ids:
            base = stored.get(video)
            views = base.views if base else 0
            watch = base.watch_ms if base else 0
            live = pending.get(video)
            if live is not None:
                views += live.views
                watch += live.watch_ms
            for flush_id, by_video in records.values():
                if flush_id not in applied and video in by_video:
                    views += by_video[video][0]
                    watch += by_video[video][1]
            uniques = 0
            for shard in range(self.shards):
                estimate = live.uniques.get(shard, 0) if live is not None else 0
                kept = base.sketches.get(shard) if base else None
                if estimate == 0 and kept is not None:
                    estimate = kept[0]
                    if live is not None:  # Redis answers, but lost the sketch: put it back
                        restores.append((self._key(shard, "u", video), kept[1]))
                uniques += estimate
            out[video] = (VideoStats(views, uniques, watch), read_at)
        if restores:
            await self._restore(restores)
        return out

    def _key(self, shard: int, kind: str, video: UUID) -> str:
        return f"{self.names.stats_shard(shard)}{kind}:{video}"

    async def _pending(
        self, ids: list[UUID]
    ) -> tuple[dict[UUID, _Pending], dict[int, tuple[str, dict[UUID, tuple[int, int]]]]]:
        """Per video, the shards' pending deltas and live unique-viewer estimates; per shard
        with a flush record, its id and the record's deltas for these videos. Empty while
        Redis does not answer (what is flushed still shows). One script per shard, all at
        once: each reads its slot alone."""
        try:
            replies = await asyncio.gather(
                *(self._read_shard(shard, ids) for shard in range(self.shards))
            )
        except REDIS_DOWN_ERRORS as exc:
            log.warning("viewing stats read without what Redis holds: %s", exc)
            return {}, {}
        pending: dict[UUID, _Pending] = {video: _Pending(0, 0, {}) for video in ids}
        records: dict[int, tuple[str, dict[UUID, tuple[int, int]]]] = {}
        for shard, reply in enumerate(replies):
            flush_id = reply[0]
            in_record: dict[UUID, tuple[int, int]] = {}
            for n, video in enumerate(ids):
                views, watch, estimate, flushing_views, flushing_watch = (
                    int(x) for x in reply[1 + 5 * n : 6 + 5 * n]
                )
                entry = pending[video]
                pending[video] = _Pending(
                    entry.views + views, entry.watch_ms + watch, entry.uniques
                )
                if estimate:
                    entry.uniques[shard] = estimate
                if flushing_views or flushing_watch:
                    in_record[video] = (flushing_views, flushing_watch)
            if flush_id:
                records[shard] = (flush_id.decode(), in_record)
        return pending, records

    async def _read_shard(self, shard: int, ids: list[UUID]) -> list[Any]:
        prefix = self.names.stats_shard(shard)
        reply: list[Any] = await self._read(keys=[prefix + "fl"], args=[prefix, *map(str, ids)])
        return reply

    async def _restore(self, sketches: list[tuple[str, bytes]]) -> None:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for key, sketch in sketches:
                    pipe.set(key, sketch, nx=True)
                await pipe.execute()
        except REDIS_DOWN_ERRORS:
            pass  # read from PostgreSQL meanwhile; restored by a later read
