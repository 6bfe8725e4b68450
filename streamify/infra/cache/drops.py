"""The L1-drop broadcast: every write publishes `<version> <key>` on one channel, and
every API process applies it to its own L1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from streamify.infra import pubsub
from streamify.infra.redis_client import RedisClient


async def listen_for_drops(
    client: RedisClient,
    channel: str,
    on_drop: Callable[[str, int], None],
    on_reconnect: Callable[[], None],
    *,
    ready: asyncio.Event | None = None,
    retry_seconds: float = 0.5,
) -> None:
    """Apply every broadcast drop to this process's L1 until cancelled.

    While disconnected this process may miss drops, so after every resubscription the whole L1
    is cleared (`on_reconnect`): a short burst of Redis reads beats serving stale rows.
    """

    def apply(data: bytes) -> None:
        version, _, key = data.decode().partition(" ")
        on_drop(key, int(version))

    await pubsub.listen(
        client,
        channel,
        on_message=apply,
        on_resubscribed=on_reconnect,
        ready=ready,
        retry_seconds=retry_seconds,
    )
