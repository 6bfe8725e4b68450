"""The compiled path of one schema: compiled operations kept by document and operation name,
and the entry point the HTTP endpoint calls before Strawberry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import OperationType
from graphql.execution.values import get_variable_values
from strawberry.types.execution import ExecutionResult

from streamify.execution.compiler import CompiledOperation, Compiler, Rules, Unsupported
from streamify.execution.runner import Run
from streamify.infra.settings import Settings
from streamify.schema import StreamifySchema, client_errors, document_checks, log_errors
from streamify.schema.batched import BATCHED
from streamify.schema.document_cache import BoundedCache, digest, footprint
from streamify.schema.input_text import variable_text_errors

# Plans per operation for different @skip/@include values; beyond this they are not kept.
MAX_PLANS_PER_OPERATION = 16
# A compiled operation with its plans weighs about this many times its parsed document.
PLAN_ALLOWANCE = 3


@dataclass(frozen=True, slots=True)
class Outcome:
    """The compiled answer, or (result None) why Strawberry must answer instead."""

    result: ExecutionResult | None
    fallback: str | None = None


class CompiledExecution:
    def __init__(self, schema: StreamifySchema, settings: Settings) -> None:
        self.schema = schema
        self.graphql_schema = schema._schema
        self.config = schema.config
        self.scalar_registry = schema.schema_converter.scalar_registry
        self.max_string_length = settings.graphql_max_string_length
        self.compiler = Compiler(
            schema,
            Rules(max_tokens=settings.graphql_max_tokens, introspection=settings.introspection_on),
            BATCHED,
            pre_checks=document_checks(settings),
        )
        # By digest, bounded in bytes: a flood of distinct documents evicts, never grows.
        self.operations: BoundedCache[CompiledOperation | Unsupported] = BoundedCache(
            settings.graphql_document_cache_bytes
        )

    def operation(self, query: str, operation_name: str | None) -> CompiledOperation | Unsupported:
        return self.operations.get_or_make(
            digest(query, operation_name), lambda: self._compile(query, operation_name)
        )

    def _compile(
        self, query: str, operation_name: str | None
    ) -> tuple[CompiledOperation | Unsupported, int]:
        try:
            compiled = self.compiler.compile(query, operation_name)
        except Unsupported as exc:
            # A fresh one is kept: the raised one's traceback and context would keep the
            # document (and its text) alive beyond what the cache counts.
            return Unsupported(exc.reason), footprint("", None)
        # Plans for other @skip/@include values are made later: room for a few of them.
        return compiled, compiled.size * PLAN_ALLOWANCE

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
        *,
        queries_only: bool = False,
    ) -> Outcome:
        compiled = self.operation(query, operation_name)
        if isinstance(compiled, Unsupported):
            return Outcome(None, compiled.reason)
        if queries_only and compiled.operation.operation is not OperationType.QUERY:
            return Outcome(None, "operation type")  # Strawberry refuses it for the transport
        if variable_text_errors(variables, self.max_string_length):
            return Outcome(None, "variables")
        coerced = get_variable_values(
            self.graphql_schema, compiled.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):  # Strawberry reports these as it does
            return Outcome(None, "variables")
        try:
            plan = self.compiler.plan(compiled, coerced)
        except Unsupported as exc:
            return Outcome(None, exc.reason)
        if len(compiled.plans) > MAX_PLANS_PER_OPERATION:
            compiled.plans.clear()
        run = Run(self.graphql_schema, self.config, self.scalar_registry, context, coerced)
        data = await run.execute(plan, serial=compiled.serial)
        errors = run.errors
        if errors:
            named = compiled.operation.name
            log_errors(errors, query, operation_name or (named.value if named else None))
            errors = client_errors(errors)
        return Outcome(ExecutionResult(data=data, errors=errors or None))
