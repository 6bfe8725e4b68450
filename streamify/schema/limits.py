"""Per-request guards that run before execution."""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from streamify.resolvers.accounts import RateLimited, enforce_mutation_rate
from streamify.schema.context import Context


class MutationRateLimit(SchemaExtension):
    """Every mutation counts against its user (or, anonymous, its IP) per minute."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        if execution.operation_type == OperationType.MUTATION:
            context: Context = execution.context
            try:
                await enforce_mutation_rate(context)
            except RateLimited as exc:
                execution.result = ExecutionResult(
                    data=None, errors=[GraphQLError(exc.message, extensions={"code": exc.code})]
                )
        yield
