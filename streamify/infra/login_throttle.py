"""Log-in throttling that slows guessing without locking the owner out.

- Per (email, client address): the first `free_failures` wrong passwords cost nothing, then
  each one doubles the wait before that address may try that email again (1 s, 2 s, 4 s, …,
  at most `max_delay`). A success clears it.
- Per email: past `email_ceiling` failures in `window` (many addresses guessing), addresses
  that never logged in to that account may try, all of them together, once per
  `short_wait` (a new address's first try waits too); an address that did log in before
  passes at once. So the account takes at most one guess per short wait from however many
  addresses, while a correct password from the owner's usual place opens it at once, and
  from a new place after a short wait (sooner or later, while a flood takes the turns).

Addresses are counted as `client_address.limit_subject` says: an IPv6 client by its /64, so
the 2^64 addresses of one network guess as one.

Emails are keyed as PostgreSQL compares them (`lower()` in the database), hashed, under one
hash tag per email so each script touches one cluster slot. When Redis is down nothing is
enforced, as with every rate limit."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from streamify.infra.redis_client import REDIS_DOWN_ERRORS, RedisClient
from streamify.names import RedisNames

log = logging.getLogger(__name__)

BEFORE_ATTEMPT = """
local pair, failures, known, gate = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, address = tonumber(ARGV[1]), ARGV[2]
local short_wait, ceiling, window = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ready_at = tonumber(redis.call('HGET', pair, 'next') or '0')
-- Redis hands Lua numbers back as integers, truncated: round a wait up.
if now < ready_at then return math.ceil(ready_at - now) end
local failed = tonumber(redis.call('GET', failures) or '0')
if failed >= ceiling and redis.call('SISMEMBER', known, address) == 0 then
  local waited = redis.call('HGET', pair, 'waited')
  redis.call('HSET', pair, 'waited', '1', 'next', now + short_wait)
  redis.call('EXPIRE', pair, 3600)
  if not waited then return short_wait end
  -- One turn per short wait for every new address together.
  local open_at = tonumber(redis.call('GET', gate) or '0')
  if now < open_at then return math.ceil(open_at - now) end
  redis.call('SET', gate, now + short_wait, 'EX', window)
end
return 0
"""

FAILED = """
local pair, failures = KEYS[1], KEYS[2]
local now, free = tonumber(ARGV[1]), tonumber(ARGV[2])
local max_delay, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local count = redis.call('HINCRBY', pair, 'failures', 1)
if count > free then
  local delay = math.min(2 ^ (count - free - 1), max_delay)
  local ready_at = math.max(tonumber(redis.call('HGET', pair, 'next') or '0'), now + delay)
  redis.call('HSET', pair, 'next', ready_at)
end
redis.call('EXPIRE', pair, 3600)
if redis.call('INCR', failures) == 1 then redis.call('EXPIRE', failures, window) end
return count
"""


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    free_failures: int = 3
    max_delay_seconds: int = 900
    email_ceiling: int = 20
    window_seconds: int = 900
    short_wait_seconds: int = 10
    known_for_seconds: int = 30 * 24 * 3600


class LoginThrottle:
    def __init__(self, client: RedisClient, names: RedisNames, policy: LoginPolicy) -> None:
        self.client = client
        self.names = names
        self.policy = policy
        self._before = client.register_script(BEFORE_ATTEMPT)
        self._failed = client.register_script(FAILED)

    def _keys(self, email_key: str, address: str) -> tuple[str, str, str, str]:
        tag = hashlib.sha256(email_key.encode()).hexdigest()[:32]
        return (
            self.names.login_pair(tag, address),
            self.names.login_failures(tag),
            self.names.login_known(tag),
            self.names.login_gate(tag),
        )

    async def before_attempt(self, email_key: str, address: str) -> int | None:
        """None: go ahead; otherwise the whole seconds to wait before trying again."""
        try:
            wait = await self._before(
                keys=list(self._keys(email_key, address)),
                args=[
                    time.time(),
                    address,
                    self.policy.short_wait_seconds,
                    self.policy.email_ceiling,
                    self.policy.window_seconds,
                ],
            )
        except REDIS_DOWN_ERRORS as exc:
            log.warning("log-in throttling not enforced, Redis unavailable: %s", exc)
            return None
        seconds = int(wait)
        return None if seconds <= 0 else seconds

    async def failed(self, email_key: str, address: str) -> None:
        pair, failures, _, _ = self._keys(email_key, address)
        try:
            await self._failed(
                keys=[pair, failures],
                args=[
                    time.time(),
                    self.policy.free_failures,
                    self.policy.max_delay_seconds,
                    self.policy.window_seconds,
                ],
            )
        except REDIS_DOWN_ERRORS as exc:
            log.warning("log-in failure not counted, Redis unavailable: %s", exc)

    async def succeeded(self, email_key: str, address: str) -> None:
        pair, _, known, _ = self._keys(email_key, address)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(pair)
                pipe.sadd(known, address)
                pipe.expire(known, self.policy.known_for_seconds)
                await pipe.execute()
        except REDIS_DOWN_ERRORS as exc:
            log.warning("log-in success not recorded, Redis unavailable: %s", exc)
