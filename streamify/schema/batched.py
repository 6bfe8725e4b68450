"""Batch forms of the resolvers a page repeats per item, for the compiled execution path:
each takes every parent of one level and answers one value (or exception) per parent, with
one loader call per parent in a single batch. Each must return exactly what the field's own
resolver returns for that parent; the differential tests hold them to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from streamify.core import videos as core_videos
from streamify.schema.context import GraphQLContext
from streamify.schema.types import RenditionType, UserType, VideoType


async def video_owners(ctx: GraphQLContext, parents: Sequence[VideoType]) -> list[Any]:
    found = await core_videos.owners_of(ctx, [p.record for p in parents])
    return [
        f if isinstance(f, BaseException) else (UserType.of(f) if f is not None else None)
        for f in found
    ]


async def video_renditions(ctx: GraphQLContext, parents: Sequence[VideoType]) -> list[Any]:
    found = await core_videos.renditions_of_each(ctx, [p.record for p in parents])
    return [f if isinstance(f, BaseException) else [RenditionType.of(r) for r in f] for f in found]


# (GraphQL type, field) → its batch form.
BATCHED: dict[tuple[str, str], Callable[[Any, Sequence[Any]], Awaitable[list[Any]]]] = {
    ("Video", "owner"): video_owners,
    ("Video", "renditions"): video_renditions,
}
