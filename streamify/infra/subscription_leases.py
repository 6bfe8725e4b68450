"""How many processing subscriptions a subscriber holds across every API process: one sorted
set per subscriber in Redis, a lease per open subscription (member: its id, score: when it
lapses). Each process renews its own leases while they are open, so the leases of a process
that died lapse on their own instead of counting forever.

When Redis is down the count is not shared: each process still holds the subscriber to the
cap on its own (the caller's local count), as rate limits are not enforced without Redis."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Hashable

from streamify.infra.redis_client import REDIS_DOWN_ERRORS, RedisClient
from streamify.names import RedisNames

log = logging.getLogger(__name__)

# Drop lapsed leases, then add one unless the subscriber is at the cap. KEYS[1]: the set;
# ARGV: now (ms), cap, lapses at (ms), lease id, key TTL (ms).
ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


class SubscriptionLeases:
    def __init__(
        self, client: RedisClient, names: RedisNames, *, cap: int, lease_seconds: float = 30.0
    ) -> None:
        self.client = client
        self.names = names
        self.cap = cap
        self.lease_seconds = lease_seconds
        # This process's open leases: id -> subscriber.
        self.held: dict[str, Hashable] = {}
        self._acquire = client.register_script(ACQUIRE)

    def _key(self, subscriber: Hashable) -> str:
        return self.names.subscription_leases(str(subscriber))

    async def acquire(self, subscriber: Hashable) -> str | None:
        """A lease id; None when the subscriber is at the cap. Raises REDIS_DOWN_ERRORS."""
        lease = uuid.uuid4().hex
        now_ms = int(time.time() * 1000)
        lease_ms = int(self.lease_seconds * 1000)
        taken = await self._acquire(
            keys=[self._key(subscriber)],
            args=[now_ms, self.cap, now_ms + lease_ms, lease, 2 * lease_ms],
        )
        if not int(taken):
            return None
        self.held[lease] = subscriber
        return lease

    async def release(self, lease: str) -> None:
        subscriber = self.held.pop(lease, None)
        if subscriber is None:
            return
        try:
            await self.client.zrem(self._key(subscriber), lease)
        except REDIS_DOWN_ERRORS as exc:
            # It lapses within lease_seconds: at worst the subscriber waits that long.
            log.warning("could not release a subscription lease: %s", exc)

    async def renew(self) -> None:
        """Push back the lapse of every lease this process holds, in one pipeline."""
        if not self.held:
            return
        lapses_at = int((time.time() + self.lease_seconds) * 1000)
        async with self.client.pipeline(transaction=False) as pipe:
            for lease, subscriber in list(self.held.items()):
                key = self._key(subscriber)
                pipe.zadd(key, {lease: lapses_at}, xx=True)
                pipe.pexpire(key, int(2 * self.lease_seconds * 1000))
            await pipe.execute()

    async def keep_renewed(self) -> None:
        """Renew a third of a lease apart, until cancelled."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.renew()
            except REDIS_DOWN_ERRORS as exc:
                log.warning("could not renew subscription leases: %s", exc)
