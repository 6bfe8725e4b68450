"""Sliding-window rate limits in Redis (a sorted set of recent hits per key), so a burst cannot
double its allowance by straddling a window boundary. Limits protect the service, not data:
when Redis is down they are not enforced rather than refusing every request."""

from __future__ import annotations

import logging
import math
import time
import uuid

from streamify.infra.redis_client import REDIS_DOWN_ERRORS, RedisClient

log = logging.getLogger(__name__)


async def hit(client: RedisClient, key: str, *, limit: int, window_seconds: int = 60) -> int | None:
    """Count one hit on `key`. None while at most `limit` hits fall in the last window;
    otherwise the whole seconds until enough of them leave it for one more to pass.
    Refused hits count too, so hammering a limit keeps it closed."""
    now = time.time()
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, 0, now - window_seconds)
            pipe.zadd(key, {uuid.uuid4().hex: now})
            pipe.zcard(key)
            pipe.expire(key, window_seconds + 1)
            _, _, count, _ = await pipe.execute()
        if int(count) <= limit:
            return None
        # The hit that must leave the window before a new one passes: count - limit oldest.
        oldest = await client.zrange(
            key, int(count) - limit - 1, int(count) - limit - 1, withscores=True
        )
    except REDIS_DOWN_ERRORS as exc:
        log.warning("rate limit not enforced, Redis unavailable: %s", exc)
        return None
    leaves_at = float(oldest[0][1]) + window_seconds if oldest else now + window_seconds
    return max(1, math.ceil(leaves_at - now))
