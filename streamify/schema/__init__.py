"""The GraphQL schema: types and the root Query / Mutation. No SQL, no Redis here."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, ParserCache, QueryDepthLimiter, ValidationCache
from strawberry.schema.config import StrawberryConfig

from streamify.domain import StreamifyError
from streamify.schema.root import Mutation, Query
from streamify.schema.scalars import SCALARS


def _should_mask(error: GraphQLError) -> bool:
    """Expected errors and the client's own mistakes are shown; anything else is masked."""
    original = error.original_error
    return original is not None and not isinstance(original, StreamifyError | GraphQLError)


def build_schema(*, max_depth: int = 12) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(scalar_map=SCALARS),
        # Factories: a fresh extension per request. The parser and validation caches
        # themselves live at module level in Strawberry, shared across requests.
        extensions=[
            lambda: QueryDepthLimiter(max_depth=max_depth),
            lambda: ParserCache(maxsize=1024),
            lambda: ValidationCache(maxsize=1024),
            lambda: MaskErrors(should_mask_error=_should_mask),
        ],
    )
