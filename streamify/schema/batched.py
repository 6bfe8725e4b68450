"""Batch forms of the resolvers a page repeats per item, for the compiled execution path:
for every parent of one wave, one loader call each (all issued before anything is awaited),
and per loaded value exactly what the field's own resolver returns for that parent; the
differential tests hold them to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from streamify import domain
from streamify.resolvers import videos as video_resolvers
from streamify.schema.context import GraphQLContext
from streamify.schema.types import RenditionType, UserType, VideoType, rendition_objects


@dataclass(frozen=True, slots=True)
class BatchResolver:
    """A field resolved for every parent of one wave at once: `loads` issues one loader
    call per parent (all before anything is awaited); `finish` turns one loaded value into
    what the field's own resolver returns."""

    loads: Callable[[Any, Sequence[Any]], list[Awaitable[Any]]]
    finish: Callable[[Any, Any], Any]  # (context, loaded value)


def _owner_loads(ctx: GraphQLContext, parents: Sequence[VideoType]) -> list[Awaitable[Any]]:
    return list(video_resolvers.owner_loads(ctx, [p.record for p in parents]))


def _owner(ctx: GraphQLContext, user: domain.User | None) -> UserType | None:
    return UserType.of(ctx, user) if user is not None else None


def _rendition_loads(ctx: GraphQLContext, parents: Sequence[VideoType]) -> list[Awaitable[Any]]:
    return list(video_resolvers.rendition_loads(ctx, [p.record for p in parents]))


def _renditions(ctx: GraphQLContext, found: domain.VideoRenditions | None) -> list[RenditionType]:
    return rendition_objects(ctx, found)


# (GraphQL type, field) → its batch form.
BATCHED: dict[tuple[str, str], BatchResolver] = {
    ("Video", "owner"): BatchResolver(_owner_loads, _owner),
    ("Video", "renditions"): BatchResolver(_rendition_loads, _renditions),
}
