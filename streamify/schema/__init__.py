"""The GraphQL schema: types and the root Query / Mutation. No SQL, no Redis here."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from streamify.domain import StreamifyError
from streamify.infra.settings import Settings
from streamify.schema.limits import MutationRateLimit
from streamify.schema.root import Mutation, Query
from streamify.schema.scalars import SCALARS


def _should_mask(error: GraphQLError) -> bool:
    """Expected errors and the client's own mistakes are shown; anything else is masked."""
    original = error.original_error
    return original is not None and not isinstance(original, StreamifyError | GraphQLError)


def build_schema(settings: Settings) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(scalar_map=SCALARS),
        # Factories: a fresh extension per request. The parser and validation caches
        # themselves live at module level in Strawberry, shared across requests.
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
            lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
            lambda: ParserCache(maxsize=1024),
            lambda: ValidationCache(maxsize=1024),
            MutationRateLimit,
            lambda: MaskErrors(should_mask_error=_should_mask),
        ],
    )
