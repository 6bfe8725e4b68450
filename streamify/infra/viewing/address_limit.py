"""Beacon events per address (an IPv6 client's /64) per second, counted in this process: a
flood is refused before it costs Redis anything, and the count is bounded in memory."""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TTLCache

ADDRESSES_TRACKED = 100_000


class AddressLimiter:
    def __init__(self, per_second: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.clock = clock
        self.window: TTLCache[tuple[str, int], int] = TTLCache(
            maxsize=ADDRESSES_TRACKED, ttl=2, timer=clock
        )

    def allow(self, address: str, events: int) -> bool:
        """Count `events` from `address`; False when this second's allowance is spent."""
        key = (address, int(self.clock()))
        used = self.window.get(key, 0) + events
        self.window[key] = used
        return used <= self.per_second
