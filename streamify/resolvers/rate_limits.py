"""Rate limits, enforced in the resolvers so every transport gets them: GraphQL answers
RATE_LIMITED, REST 429 with Retry-After (both from `domain.RateLimited`)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

from streamify.domain import RateLimited
from streamify.infra import rate_limit
from streamify.infra.settings import Settings
from streamify.resolvers.context import Context

P = ParamSpec("P")
R = TypeVar("R")


async def enforce(ctx: Context, scope: str, subject: str, *, limit: int) -> None:
    retry_after = await rate_limit.hit(ctx.redis, ctx.names.rate(scope, subject), limit=limit)
    if retry_after is not None:
        raise RateLimited(
            f"Too many attempts; try again in {retry_after} s.", retry_after_seconds=retry_after
        )


def caller_subject(ctx: Context) -> str:
    """Signed-in callers are counted by user, anonymous ones by address."""
    return str(ctx.viewer.user_id) if ctx.viewer else f"ip:{ctx.client_network}"


def _mutations(settings: Settings) -> int:
    return settings.rate_limit_mutations_per_minute


def rate_limited(
    scope: str = "mutation", limit: Callable[[Settings], int] = _mutations
) -> Callable[
    [Callable[Concatenate[Context, P], Awaitable[R]]],
    Callable[Concatenate[Context, P], Awaitable[R]],
]:
    """Count each call against its caller's per-minute allowance in `scope` before it runs."""

    def decorate(
        function: Callable[Concatenate[Context, P], Awaitable[R]],
    ) -> Callable[Concatenate[Context, P], Awaitable[R]]:
        @functools.wraps(function)
        async def limited(ctx: Context, /, *args: P.args, **kwargs: P.kwargs) -> R:
            await enforce(ctx, scope, caller_subject(ctx), limit=limit(ctx.settings))
            return await function(ctx, *args, **kwargs)

        return limited

    return decorate
