"""Beacon events counted in Redis: one script per counter shard a beacon touches (a beacon
is one session's, so one shard, one round trip), never a PostgreSQL statement.

A session belongs to shard crc32(session) % shards; every key of a shard shares its hash
tag, so one script reads and writes them in one slot, and a viral video's counters are spread
over all the shards' slots. Per shard and video:

- `s:<video>:<session>`: the session's state (first seen, watch and rebuffer time accounted,
  whether its view and an error were counted), expiring after the view window of idleness;
- `p:<video>`: deltas not yet flushed (`v`, `w` totals; `v:<hour>`, `w:<hour>`, `r:<hour>`,
  `e:<hour>`, `s:<hour>:<bucket>`, `h:<hour>:<height>` per hour since the epoch);
- `u:<video>`: a HyperLogLog of the shard's sessions (sessions never share a shard, so the
  shards' estimates add up to the video's);
- `dirty`: the videos with deltas pending, which the flusher takes;
- `rate:<session>`: the session's events this minute."""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import defaultdict
from collections.abc import Sequence

from streamify.infra.redis_client import RedisClient
from streamify.infra.viewing.events import Event
from streamify.names import RedisNames

# Grace for the first event of a session the counter has not seen start (its start may have
# been lost), and for clocks: watch time accounted never runs ahead of the wall clock by more.
FIRST_SEEN_GRACE_MS = 12_000
SLACK_MS = 2_000

COUNT = """
local prefix = ARGV[1]
local now, window, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local hour, grace, slack = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local counted = {}
for i = 8, #ARGV, 7 do
  local video, session, kind = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local watched, bucket = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  local rebuffer, height = tonumber(ARGV[i + 5]), ARGV[i + 6]
  local rate = prefix .. 'rate:' .. session
  local sent = redis.call('INCR', rate)
  if sent == 1 then redis.call('EXPIRE', rate, 60) end
  counted[#counted + 1] = 0
  if sent <= limit then
    counted[#counted] = 1
    local state = prefix .. 's:' .. video .. ':' .. session
    local pending = prefix .. 'p:' .. video
    local first = tonumber(redis.call('HGET', state, 'f') or '0')
    if first == 0 then
      first = now
      if kind ~= 'start' then first = now - grace end
      redis.call('HSET', state, 'f', first)
    end
    -- What the session may still account: the wall clock since it was first seen.
    local allowed = now - first + slack
    if watched > 0 then
      local so_far = tonumber(redis.call('HGET', state, 'w') or '0')
      if watched > allowed - so_far then watched = math.max(0, allowed - so_far) end
    end
    if rebuffer > 0 then
      local so_far = tonumber(redis.call('HGET', state, 'r') or '0')
      if rebuffer > allowed - so_far then rebuffer = math.max(0, allowed - so_far) end
    end
    if kind == 'start' and redis.call('HSETNX', state, 'v', '1') == 1 then
      redis.call('HINCRBY', pending, 'v', 1)
      redis.call('HINCRBY', pending, 'v:' .. hour, 1)
      redis.call('PFADD', prefix .. 'u:' .. video, session)
      if bucket >= 0 then redis.call('HINCRBY', pending, 's:' .. hour .. ':' .. bucket, 1) end
    end
    if kind == 'error' and redis.call('HSETNX', state, 'e', '1') == 1 then
      redis.call('HINCRBY', pending, 'e:' .. hour, 1)
    end
    if watched > 0 then
      redis.call('HINCRBY', state, 'w', watched)
      redis.call('HINCRBY', pending, 'w', watched)
      redis.call('HINCRBY', pending, 'w:' .. hour, watched)
      if height ~= '0' then
        redis.call('HINCRBY', pending, 'h:' .. hour .. ':' .. height, watched)
      end
    end
    if rebuffer > 0 then
      redis.call('HINCRBY', state, 'r', rebuffer)
      redis.call('HINCRBY', pending, 'r:' .. hour, rebuffer)
    end
    redis.call('EXPIRE', state, window)
    redis.call('SADD', prefix .. 'dirty', video)
  end
end
return counted
"""


def shard_of(session: str, shards: int) -> int:
    return zlib.crc32(session.encode()) % shards


Waiting = list[tuple[list[Event], "asyncio.Future[list[int]]"]]
# Events one script counts at most (a shard's beacons that arrive together share one).
MOST_PER_SCRIPT = 500


class BeaconCounter:
    """Counts beacons, one script per shard and turn of the event loop: the beacons of a shard
    that arrive together are counted by one script (group commit), each request answered
    once its events are counted, so a beacon costs at most one round trip, and under a flood
    a fraction of one."""

    def __init__(
        self,
        client: RedisClient,
        names: RedisNames,
        *,
        shards: int,
        view_window_seconds: int,
        events_per_session_per_minute: int,
    ) -> None:
        self.client = client
        self.names = names
        self.shards = shards
        self.view_window = view_window_seconds
        self.per_session = events_per_session_per_minute
        self._count = client.register_script(COUNT)
        self._waiting: dict[int, Waiting] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def count(self, events: Sequence[Event]) -> int:
        """Count the events; how many were counted (the rest were over a session's rate).
        Raises what the Redis client raises when Redis does not answer."""
        loop = asyncio.get_running_loop()
        by_shard: dict[int, list[Event]] = defaultdict(list)
        for event in events:
            by_shard[shard_of(event.session, self.shards)].append(event)
        futures = []
        for shard, batch in by_shard.items():
            future: asyncio.Future[list[int]] = loop.create_future()
            waiting = self._waiting.setdefault(shard, [])
            waiting.append((batch, future))
            if len(waiting) == 1:
                loop.call_soon(self._send_later, shard)
            futures.append(future)
        flags = await asyncio.gather(*futures)
        return sum(sum(part) for part in flags)

    def _send_later(self, shard: int) -> None:
        waiting = self._waiting.pop(shard, [])
        while waiting:
            group: Waiting = []
            size = 0
            while waiting and (not group or size + len(waiting[0][0]) <= MOST_PER_SCRIPT):
                batch, future = waiting.pop(0)
                group.append((batch, future))
                size += len(batch)
            task = asyncio.create_task(self._send(shard, group))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, shard: int, group: Waiting) -> None:
        moment = time.time()
        prefix = self.names.stats_shard(shard)
        args: list[str | int] = [
            prefix,
            int(moment * 1000),
            self.view_window,
            self.per_session,
            int(moment // 3600),
            FIRST_SEEN_GRACE_MS,
            SLACK_MS,
        ]
        for batch, _ in group:
            for e in batch:
                args += [
                    str(e.video_id),
                    e.session,
                    e.kind.value,
                    e.watched_ms,
                    e.startup_bucket,
                    e.rebuffer_ms,
                    e.height,
                ]
        try:
            # The shard's dirty set names the slot the script runs in (cluster mode); every
            # key it touches shares that slot's hash tag.
            flags = [int(x) for x in await self._count(keys=[prefix + "dirty"], args=args)]
        except BaseException as exc:
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        at = 0
        for batch, future in group:
            if not future.done():
                future.set_result(flags[at : at + len(batch)])
            at += len(batch)
