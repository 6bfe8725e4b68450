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
local counted = 0
for i = 8, #ARGV, 7 do
  local video, session, kind = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local watched, bucket = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  local rebuffer, height = tonumber(ARGV[i + 5]), ARGV[i + 6]
  local rate = prefix .. 'rate:' .. session
  local sent = redis.call('INCR', rate)
  if sent == 1 then redis.call('EXPIRE', rate, 60) end
  if sent <= limit then
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
    counted = counted + 1
  end
end
return counted
"""


def shard_of(session: str, shards: int) -> int:
    return zlib.crc32(session.encode()) % shards


class BeaconCounter:
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

    async def count(self, events: Sequence[Event], *, now: float | None = None) -> int:
        """Count the events; how many were counted (the rest were over a session's rate).
        Raises what the Redis client raises when Redis does not answer."""
        moment = time.time() if now is None else now
        by_shard: dict[int, list[Event]] = defaultdict(list)
        for event in events:
            by_shard[shard_of(event.session, self.shards)].append(event)
        counted = 0
        for shard, batch in by_shard.items():
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
            # The shard's dirty set names the slot the script runs in (cluster mode); every
            # key it touches shares that slot's hash tag.
            counted += int(await self._count(keys=[prefix + "dirty"], args=args))
        return counted
