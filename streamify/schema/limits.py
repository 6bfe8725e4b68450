"""Per-mutation guards."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.extensions import FieldExtension
from strawberry.types import Info

from streamify.resolvers.accounts import enforce_mutation_rate


class MutationRateLimit(FieldExtension):
    """Counts the mutation against its user (or, anonymous, its IP) per minute. A field
    extension on mutations only, so queries never pay for it."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        raise NotImplementedError("mutations are async")

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        await enforce_mutation_rate(info.context)
        return await next_(source, info, **kwargs)


RATE_LIMITED: list[FieldExtension] = [MutationRateLimit()]
