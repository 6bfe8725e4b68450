"""The base of every loader that reads through the cache tier."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from strawberry.dataloader import DataLoader

from streamify.infra.cache.tier import MISS, CacheTier, Namespace

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Fetch = Callable[[list[K]], Awaitable[dict[K, tuple[int, V]]]]


class TieredLoader(DataLoader[K, V | None], Generic[K, V]):
    """Batches a request's reads of one namespace into one `CacheTier.get_many`. A key L1
    already holds is answered at once with a settled future (the same value and accounting
    as get_many's L1 step): a warm page costs no batch, no task and no event-loop turn."""

    def __init__(
        self,
        tier: CacheTier,
        namespace: Namespace[V],
        fetch: Fetch[K, V],
        deps: dict[str, int] | None,
    ) -> None:
        async def load(ids: list[K]) -> list[V | None]:
            return await tier.get_many(namespace, ids, fetch, record=deps)

        super().__init__(load_fn=load)
        self.tier = tier
        self.namespace = namespace
        self.deps = deps

    def load(self, key: K) -> Awaitable[V | None]:
        memo = self.cache_map.get(key)
        if memo is not None and not memo.cancelled():
            return memo
        value = self.tier.peek(self.namespace, key, record=self.deps)
        if value is MISS:
            return super().load(key)
        future: asyncio.Future[V | None] = self.loop.create_future()
        future.set_result(value)
        self.cache_map.set(key, future)
        return future
