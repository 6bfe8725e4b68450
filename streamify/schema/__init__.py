"""The GraphQL schema: types and the root Query / Mutation. No SQL, no Redis here."""

from __future__ import annotations

from collections.abc import Iterator

import strawberry
from cachetools import LRUCache
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from streamify.domain import StreamifyError
from streamify.infra.settings import Settings
from streamify.schema.budget import Limits, budget_errors, limits_of
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


class BudgetedValidation(ValidationCache):
    """The document's budget (depth, aliases, complexity: linear in the document) first; only a
    document within it goes on to the standard rules, whose results are cached."""

    def __init__(self, limits: Limits, verdicts: LRUCache[str, list[GraphQLError]]) -> None:
        super().__init__(maxsize=1024)
        self.limits = limits
        self.verdicts = verdicts

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None
        key = context.query
        errors = self.verdicts.get(key) if key is not None else None
        if errors is None:
            errors = budget_errors(document, self.limits)
            if key is not None:
                self.verdicts[key] = errors
        if errors:
            context.pre_execution_errors = list(errors)
            yield
            return
        yield from super().on_validate()


def build_schema(settings: Settings) -> strawberry.Schema:
    limits = limits_of(settings)
    # One verdict cache per schema, shared by every request.
    verdicts: LRUCache[str, list[GraphQLError]] = LRUCache(maxsize=1024)
    closed = [] if settings.introspection_on else [DisableIntrospection]
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        # Factories: a fresh extension per request. The parser and validation caches
        # themselves live at module level in Strawberry, shared across requests.
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            lambda: ParserCache(maxsize=1024),
            lambda: BudgetedValidation(limits, verdicts),
            lambda: ErrorMasking(should_mask_error=_should_mask),
            *closed,
        ],
    )
