"""Redis clients that fail fast, and the errors that mean Redis is not answering."""

from __future__ import annotations

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

# Errors that mean "Redis is not answering", as opposed to a bug in our call.
REDIS_DOWN_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


def create_redis(url: str, *, timeout: float | None) -> redis.Redis:
    """A client whose commands fail fast; pass timeout=None for a pub/sub reader that idles."""
    client: redis.Redis = redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout or 2.0,
        health_check_interval=10,
        # One immediate retry on a new connection: a pooled connection goes stale when Redis
        # restarts. Timeouts are not retried, so a hung Redis costs one timeout per call.
        retry=Retry(NoBackoff(), retries=1),
        retry_on_error=[RedisConnectionError],
    )
    return client
