"""The GraphQL schema: types and the root Query / Mutation. No SQL, no Redis here."""

from __future__ import annotations

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.config import StrawberryConfig

from streamify.domain import StreamifyError
from streamify.infra.settings import Settings
from streamify.schema.root import Mutation, Query, Subscription
from streamify.schema.scalars import SCALARS


def _should_mask(error: GraphQLError) -> bool:
    """Expected errors and the client's own mistakes are shown; anything else is masked."""
    original = error.original_error
    return original is not None and not isinstance(original, StreamifyError | GraphQLError)


class ErrorMasking(MaskErrors):
    """MaskErrors without its runtime Protocol check, which costs more than the masking."""

    def _process_result(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]


def build_schema(settings: Settings) -> strawberry.Schema:
    # Rule classes built once: the validation cache is keyed by the rule classes too, so a
    # limiter made per request (new classes each time) would make every validation a miss.
    rules: list[type[ASTValidationRule]] = [
        depth_rule(settings.graphql_max_depth, None, None),
        alias_rule(settings.graphql_max_aliases),
    ]
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        # Factories: a fresh extension per request. The parser and validation caches
        # themselves live at module level in Strawberry, shared across requests.
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            lambda: AddValidationRules(rules),
            lambda: ParserCache(maxsize=1024),
            lambda: ValidationCache(maxsize=1024),
            lambda: ErrorMasking(should_mask_error=_should_mask),
        ],
    )
