"""Redis clients that fail fast, for one node or a Redis Cluster, and the errors that mean
Redis is not answering."""

from __future__ import annotations

from typing import Literal

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

# Errors that mean "Redis is not answering", as opposed to a bug in our call.
REDIS_DOWN_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)

RedisMode = Literal["single", "cluster"]
# Either client: every command the project sends works on both (one slot per script or
# transaction, multi-key reads split by the cluster client, sharded pub/sub).
RedisClient = redis.Redis | RedisCluster


def create_redis(url: str, *, timeout: float | None, mode: RedisMode = "single") -> RedisClient:
    """A client whose commands fail fast; pass timeout=None for a pub/sub reader that idles.
    In cluster mode `url` names any seed node; the client learns the rest."""
    # One immediate retry on a new connection: a pooled connection goes stale when Redis
    # restarts (in a cluster: a failover). Timeouts are not retried, so a hung Redis costs one
    # timeout per call, and the cache tier's breaker takes it from there.
    retry = Retry(NoBackoff(), retries=1)
    if mode == "cluster":
        cluster: RedisCluster = RedisCluster.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout or 2.0,
            health_check_interval=10,
            retry=retry,
        )
        return cluster
    client: redis.Redis = redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout or 2.0,
        health_check_interval=10,
        retry=retry,
        retry_on_error=[RedisConnectionError],
    )
    return client


def is_cluster(client: RedisClient) -> bool:
    return isinstance(client, RedisCluster)
