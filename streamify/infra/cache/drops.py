"""The L1-drop broadcast: every write publishes `<version> <key>` on one channel, and every API
process applies it to its own L1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import redis.asyncio as redis

from streamify.infra.redis_client import REDIS_DOWN_ERRORS

log = logging.getLogger(__name__)


async def listen_for_drops(
    client: redis.Redis,
    channel: str,
    on_drop: Callable[[str, int], None],
    on_reconnect: Callable[[], None],
    *,
    ready: asyncio.Event | None = None,
    retry_seconds: float = 0.5,
) -> None:
    """Apply every broadcast drop to this process's L1 until cancelled.

    While disconnected this process may miss drops, so after every reconnect the whole L1 is
    cleared (`on_reconnect`): a short burst of Redis reads beats serving stale rows.
    """
    first = True
    while True:
        try:
            async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(channel)
                if not first:
                    on_reconnect()
                first = False
                if ready is not None:
                    ready.set()
                async for message in pubsub.listen():
                    version, _, key = message["data"].decode().partition(" ")
                    on_drop(key, int(version))
        except asyncio.CancelledError:
            raise
        except REDIS_DOWN_ERRORS as exc:
            log.warning("L1 drop listener lost Redis (%s); retrying", exc)
            await asyncio.sleep(retry_seconds)
