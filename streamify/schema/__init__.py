"""The GraphQL schema: types and the root Query / Mutation. No SQL, no Redis here."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import strawberry
from graphql import DocumentNode, GraphQLError, parse, validate
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError

from streamify.domain import StreamifyError
from streamify.infra.settings import Settings
from streamify.resolvers.outages import outage_of
from streamify.schema.budget import Limits, budget_errors, limits_of
from streamify.schema.document_cache import BoundedCache, digest, footprint
from streamify.schema.input_text import document_text_errors, variable_text_errors
from streamify.schema.root import Mutation, Query, Subscription
from streamify.schema.scalars import SCALARS

log = logging.getLogger(__name__)


def _should_mask(error: GraphQLError) -> bool:
    """Expected errors and the client's own mistakes are shown; anything else is masked."""
    original = error.original_error
    return original is not None and not isinstance(original, StreamifyError | GraphQLError)


class ErrorMasking(MaskErrors):
    """MaskErrors without its runtime Protocol check, which costs more than the masking."""

    def _process_result(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            if isinstance(result, PreExecutionError):
                for error in errors:
                    name_pre_execution_error(error)
            result.errors = client_errors(errors)  # type: ignore[attr-defined]


_MASKING = ErrorMasking(should_mask_error=_should_mask)


def client_errors(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Execution errors as clients see them: outages named UNAVAILABLE, the unexpected masked.
    Both execution paths answer through this."""
    return _MASKING._process_errors([_named_outage(error) for error in errors])


def _named_outage(error: GraphQLError) -> GraphQLError:
    """A dependency that did not answer (PostgreSQL, S3) is UNAVAILABLE, not masked."""
    outage = outage_of(error.original_error)
    if outage is None or outage is error.original_error:
        return error
    return GraphQLError(
        outage.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=outage,
        extensions=outage.extensions,
    )


def name_pre_execution_error(error: GraphQLError) -> None:
    """Errors before execution carry a code too: the document did not parse, a variable had a
    bad value, or the document did not validate."""
    if (error.extensions or {}).get("code"):
        return
    if error.message.startswith("Syntax Error"):
        code = "GRAPHQL_PARSE_FAILED"
    elif error.message.startswith("Variable '$"):
        code = "BAD_USER_INPUT"
    else:
        code = "GRAPHQL_VALIDATION_FAILED"
    error.extensions = {**(error.extensions or {}), "code": code}


class CachedParsing(SchemaExtension):
    """Parsed documents by digest, in a cache bounded in bytes (Strawberry's ParserCache keys
    an LRU of entries by the whole text)."""

    def __init__(self, documents: BoundedCache[DocumentNode]) -> None:
        super().__init__()
        self.documents = documents

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query or ""

        def parse_it() -> tuple[DocumentNode, int]:
            document = parse(query, **context.parse_options)
            return document, footprint(query, document)

        context.graphql_document = self.documents.get_or_make(digest(query), parse_it)
        yield


@dataclass(slots=True)
class Verdict:
    """What is wrong with a document: its budget and literal text (checked first), then the
    standard rules (run only for a document within the budget whose variables are sound)."""

    checks: list[GraphQLError]
    rules: list[GraphQLError] | None = None


class BudgetedValidation(SchemaExtension):
    """The document's budget (depth, aliases, complexity: linear in the document) first, then
    its variables' text; only then the standard rules. Verdicts are kept by the document's
    digest in a cache bounded in bytes (errors keep their document's nodes alive)."""

    def __init__(
        self,
        limits: Limits,
        verdicts: BoundedCache[Verdict],
        *,
        max_string_length: int,
    ) -> None:
        super().__init__()
        self.limits = limits
        self.verdicts = verdicts
        self.max_string_length = max_string_length

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None
        query = context.query or ""

        def judge() -> tuple[Verdict, int]:
            checks = budget_errors(document, self.limits) or document_text_errors(
                document, self.max_string_length
            )
            return Verdict(checks), footprint(query, document)

        verdict = self.verdicts.get_or_make(digest(query), judge)
        errors = verdict.checks or variable_text_errors(context.variables, self.max_string_length)
        if not errors:
            if verdict.rules is None:
                verdict.rules = validate(context.schema._schema, document, context.validation_rules)
            errors = verdict.rules
        context.pre_execution_errors = list(errors)
        yield


class StreamifySchema(strawberry.Schema):
    """Strawberry's schema, logging errors without the document or variables: an expected
    error (a code the client caused) at INFO without a traceback, anything else at ERROR with
    one. Either way the log names the operation and the document's hash, never its text, so a
    password in a logIn literal or variable cannot reach the log."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(
            errors,
            execution_context.query if execution_context is not None else None,
            execution_context.operation_name if execution_context is not None else None,
        )


def log_errors(errors: list[GraphQLError], query: str | None, operation_name: str | None) -> None:
    """Logs execution errors by operation and document hash (see StreamifySchema)."""
    operation = operation_name or "-"
    document = hashlib.sha256(query.encode()).hexdigest()[:16] if query else "-"
    for error in errors:
        original = error.original_error
        code = (error.extensions or {}).get("code", "GRAPHQL_ERROR")
        path = ".".join(str(p) for p in error.path or ()) or "-"
        expected = StreamifyError | GraphQLError | CannotGetOperationTypeError
        if outage_of(original) is not None and not isinstance(original, StreamifyError):
            log.warning(
                "UNAVAILABLE at %s in operation %s (document %s): %s",
                path,
                operation,
                document,
                type(original).__name__,
            )
        elif original is None or isinstance(original, expected):
            # Our own messages are safe to log; graphql-core's may quote the document.
            said = error.message if isinstance(original, StreamifyError) else ""
            log.info(
                "%s at %s in operation %s (document %s) %s",
                code,
                path,
                operation,
                document,
                said,
            )
        else:
            log.error(
                "unexpected %s at %s in operation %s (document %s)",
                type(original).__name__,
                path,
                operation,
                document,
                exc_info=original,
            )


def document_checks(settings: Settings) -> Callable[[DocumentNode], list[GraphQLError]]:
    """The checks BudgetedValidation runs on a document before the standard rules."""
    limits = limits_of(settings)
    max_string_length = settings.graphql_max_string_length

    def check(document: DocumentNode) -> list[GraphQLError]:
        return budget_errors(document, limits) or document_text_errors(document, max_string_length)

    return check


def build_schema(settings: Settings) -> StreamifySchema:
    limits = limits_of(settings)
    # One cache of documents and one of verdicts per schema, shared by every request.
    documents: BoundedCache[DocumentNode] = BoundedCache(settings.graphql_document_cache_bytes)
    verdicts: BoundedCache[Verdict] = BoundedCache(settings.graphql_document_cache_bytes)
    closed = [] if settings.introspection_on else [DisableIntrospection]
    return StreamifySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        # Factories: a fresh extension per request, over the caches above.
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            lambda: CachedParsing(documents),
            lambda: BudgetedValidation(
                limits, verdicts, max_string_length=settings.graphql_max_string_length
            ),
            lambda: ErrorMasking(should_mask_error=_should_mask),
            *closed,
        ],
    )
