"""The store of automatic persisted queries in Redis, bounded in bytes: documents by digest,
with a TTL, plus an index by registration time, each document's size and the total. A new
registration that takes the total over the bound evicts the oldest documents first, in the
same script, so no flood of unique documents can grow Redis past the bound (and so push out
sessions or rate-limit counters). Every key shares one hash tag: one slot, one script."""

from __future__ import annotations

import time

from streamify.infra.redis_client import RedisClient
from streamify.names import RedisNames

REGISTER_SCRIPT = """
local document_key, index_key, sizes_key, total_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local digest, document = ARGV[1], ARGV[2]
local ttl, now, cap, prefix = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
-- Scores are registration times in ms, made strictly increasing: documents registered in one
-- millisecond still leave oldest first (equal scores would go in digest order).
local newest = redis.call('ZRANGE', index_key, -1, -1, 'WITHSCORES')[2]
if newest and tonumber(newest) >= now then now = tonumber(newest) + 1 end
if redis.call('EXISTS', document_key) == 1 then
  redis.call('EXPIRE', document_key, ttl)
  redis.call('ZADD', index_key, now, digest)
  return 0
end
local function forget(old)
  local size = tonumber(redis.call('HGET', sizes_key, old) or '0')
  redis.call('HDEL', sizes_key, old)
  redis.call('ZREM', index_key, old)
  redis.call('DECRBY', total_key, size)
  redis.call('DEL', prefix .. old)
end
-- What expired by its TTL is no longer there: take it off the books.
for _, old in ipairs(redis.call('ZRANGEBYSCORE', index_key, '-inf', now - ttl * 1000)) do
  forget(old)
end
local size = string.len(document)
redis.call('SET', document_key, document, 'EX', ttl)
redis.call('ZADD', index_key, now, digest)
redis.call('HSET', sizes_key, digest, size)
local total = redis.call('INCRBY', total_key, size)
while total > cap do
  local oldest = redis.call('ZRANGE', index_key, 0, 0)[1]
  if oldest == nil then break end
  forget(oldest)
  total = tonumber(redis.call('GET', total_key) or '0')
end
return 1
"""


class PersistedStore:
    def __init__(self, client: RedisClient, names: RedisNames, *, max_bytes: int, ttl_seconds: int):
        self.client = client
        self.names = names
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self._register = client.register_script(REGISTER_SCRIPT)

    async def known(self, digest: str) -> bool:
        return bool(await self.client.exists(self.names.persisted_query(digest)))

    async def get(self, digest: str) -> str | None:
        raw = await self.client.get(self.names.persisted_query(digest))
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def put(self, digest: str, document: str) -> bool:
        """Store `document`; True when it was new. Older documents go to make room."""
        names = self.names
        stored = await self._register(
            keys=[
                names.persisted_query(digest),
                names.persisted_index,
                names.persisted_sizes,
                names.persisted_bytes,
            ],
            args=[
                digest,
                document,
                self.ttl_seconds,
                int(time.time() * 1000),
                self.max_bytes,
                names.persisted_query(""),
            ],
        )
        return bool(stored)

    async def total_bytes(self) -> int:
        return int(await self.client.get(self.names.persisted_bytes) or 0)
