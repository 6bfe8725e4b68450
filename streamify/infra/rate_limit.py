"""Sliding-window rate limits in Redis (a sorted set of recent hits per key), so a burst cannot
double its allowance by straddling a window boundary. Limits protect the service, not data:
when Redis is down they are not enforced rather than refusing every request."""

from __future__ import annotations

import logging
import time
import uuid

import redis.asyncio as redis

from streamify.infra.cache import REDIS_DOWN_ERRORS

log = logging.getLogger(__name__)


async def allow(client: redis.Redis, key: str, *, limit: int, window_seconds: int = 60) -> bool:
    """Count one hit on `key`; False when more than `limit` hits fall in the last window."""
    now = time.time()
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, 0, now - window_seconds)
            pipe.zadd(key, {uuid.uuid4().hex: now})
            pipe.zcard(key)
            pipe.expire(key, window_seconds + 1)
            _, _, count, _ = await pipe.execute()
    except REDIS_DOWN_ERRORS as exc:
        log.warning("rate limit not enforced, Redis unavailable: %s", exc)
        return True
    return int(count) <= limit
