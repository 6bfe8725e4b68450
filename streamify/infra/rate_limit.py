"""Fixed-window counters in Redis. Limits protect the service, not data: when Redis is down
they are not enforced rather than refusing every request."""

from __future__ import annotations

import logging
import time

import redis.asyncio as redis

from streamify.infra.cache import REDIS_DOWN_ERRORS

log = logging.getLogger(__name__)


async def allow(client: redis.Redis, key: str, *, limit: int, window_seconds: int = 60) -> bool:
    """Count one hit on `key` in the current window; False once the window's limit is passed."""
    window = int(time.time()) // window_seconds
    bucket = f"{key}:{window}"
    try:
        async with client.pipeline(transaction=False) as pipe:
            pipe.incr(bucket)
            pipe.expire(bucket, window_seconds * 2)
            count, _ = await pipe.execute()
    except REDIS_DOWN_ERRORS as exc:
        log.warning("rate limit not enforced, Redis unavailable: %s", exc)
        return True
    return int(count) <= limit
