"""A validated document and operation name → a compiled operation, or the reason the
operation stays on Strawberry.

Compiling checks what Strawberry would check before running anything (the token limit, the
document budget, the standard validation rules): an operation that fails any of them is never
compiled, so Strawberry answers it with its own errors. Field selection follows graphql-core's
own field collection (fragments, aliases, merging, @skip/@include), once per combination of
the variables the directives read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLBoolean,
    GraphQLError,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    get_named_type,
    is_enum_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    parse,
    visit,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues
from graphql.language import Visitor
from graphql.validation import NoSchemaIntrospectionCustomRule, specified_rules
from strawberry import Schema
from strawberry.schema.schema import validate_document
from strawberry.schema.types.base_scalars import isoformat as strawberry_isoformat
from strawberry.types.field import StrawberryField

from streamify.execution.plan import (
    Completion,
    FieldPlan,
    ObjectPlan,
    Read,
    Shape,
)
from streamify.execution.safety import uses_only_context
from streamify.schema.batched import BatchResolver
from streamify.schema.document_cache import footprint

# Values of these scalars pass through unchanged when they already are of this exact type
# (what graphql-core's serializers return for them too).
PASSTHROUGH: dict[str, type] = {
    GraphQLString.name: str,
    GraphQLID.name: str,
    GraphQLBoolean.name: bool,
    GraphQLFloat.name: float,
}
STANDARD_SCALARS = {GraphQLString, GraphQLID, GraphQLBoolean, GraphQLFloat, GraphQLInt}


class Unsupported(Exception):
    """The compiler does not run this operation; the reason is counted in /metrics."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True, eq=False)
class CompiledOperation:
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDetails]
    root_type: GraphQLObjectType
    serial: bool  # mutations run their root fields one after another
    # Variables read by @skip/@include: the plan depends on their values.
    directive_variables: tuple[str, ...]
    # The bytes it keeps alive, estimated (schema.document_cache.footprint).
    size: int
    plans: dict[tuple[Any, ...], ObjectPlan | Unsupported] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rules:
    max_tokens: int
    introspection: bool


class Compiler:
    def __init__(
        self,
        schema: Schema,
        rules: Rules,
        batched: dict[tuple[str, str], BatchResolver],
        *,
        pre_checks: Any,
    ) -> None:
        self.strawberry = schema
        self.schema: GraphQLSchema = schema._schema
        self.rules = rules
        self.batched = batched
        # document → errors from the budget and text checks (the schema's own, shared).
        self.pre_checks = pre_checks
        self.validation_rules = (
            (*specified_rules,)
            if rules.introspection
            else (*specified_rules, NoSchemaIntrospectionCustomRule)
        )

    def compile(self, query: str, operation_name: str | None) -> CompiledOperation:
        try:
            document = parse(query, max_tokens=self.rules.max_tokens)
        except GraphQLError:
            raise Unsupported("invalid") from None
        if self.pre_checks(document) or validate_document(
            self.schema, document, self.validation_rules
        ):
            raise Unsupported("invalid")
        operation, fragments = self._operation(document, operation_name)
        if operation.operation is OperationType.SUBSCRIPTION:
            raise Unsupported("subscription")
        if _has_introspection(document):
            raise Unsupported("introspection")
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            raise Unsupported("invalid")
        return CompiledOperation(
            operation,
            fragments,
            root,
            serial=operation.operation is OperationType.MUTATION,
            directive_variables=_directive_variables(document),
            size=footprint(query, document),
        )

    def _operation(
        self, document: DocumentNode, name: str | None
    ) -> tuple[OperationDefinitionNode, dict[str, FragmentDetails]]:
        operation: OperationDefinitionNode | None = None
        fragments: dict[str, FragmentDetails] = {}
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                if name is None:
                    if operation is not None:
                        raise Unsupported("operation")
                    operation = definition
                elif definition.name is not None and definition.name.value == name:
                    operation = definition
            elif isinstance(definition, FragmentDefinitionNode):
                if definition.variable_definitions:
                    raise Unsupported("fragment_variables")
                fragments[definition.name.value] = FragmentDetails(definition)
        if operation is None:
            raise Unsupported("operation")
        return operation, fragments

    def plan(self, compiled: CompiledOperation, variables: VariableValues) -> ObjectPlan:
        key = tuple(variables.coerced.get(name) for name in compiled.directive_variables)
        found = compiled.plans.get(key)
        if found is None:
            try:
                found = _Planner(self, compiled, variables).root()
            except Unsupported as exc:
                found = exc
            compiled.plans[key] = found
        if isinstance(found, Unsupported):
            raise found
        return found


class _Planner:
    def __init__(
        self, compiler: Compiler, compiled: CompiledOperation, variables: VariableValues
    ) -> None:
        self.compiler = compiler
        self.schema = compiler.schema
        self.compiled = compiled
        self.variables = variables

    def root(self) -> ObjectPlan:
        collected = collect_fields(
            self.schema,
            self.compiled.fragments,
            self.variables,
            self.compiled.root_type,
            self.compiled.operation,
        )
        return self.object_plan(self.compiled.root_type, collected.grouped_field_set)

    def object_plan(
        self, parent: GraphQLObjectType, grouped: dict[str, list[FieldDetails]]
    ) -> ObjectPlan:
        plan = ObjectPlan(parent.name)
        for key, details in grouped.items():
            if any(d.defer_usage is not None for d in details):
                raise Unsupported("defer")
            nodes = [d.node for d in details]
            name = nodes[0].name.value
            if name == "__typename":
                plan.fields.append(
                    FieldPlan(
                        key,
                        name,
                        parent.name,
                        nodes,
                        Read.TYPENAME,
                        Completion(False, Shape.LEAF, GraphQLString, str),
                    )
                )
                continue
            if name.startswith("__"):
                raise Unsupported("introspection")
            graphql_field = parent.fields.get(name)
            if graphql_field is None:
                continue  # graphql-core leaves unknown fields out as well
            plan.fields.append(self.field_plan(parent, key, details, graphql_field))
        return plan

    def field_plan(
        self,
        parent: GraphQLObjectType,
        key: str,
        details: list[FieldDetails],
        graphql_field: Any,
    ) -> FieldPlan:
        nodes = [d.node for d in details]
        name = nodes[0].name.value
        definition = graphql_field.extensions.get("strawberry-definition")
        if not isinstance(definition, StrawberryField):
            raise Unsupported("foreign_field")
        if definition.extensions:
            raise Unsupported("field_extension")
        converter = self.compiler.strawberry.schema_converter
        if converter._get_field_exception_handlers(definition):
            raise Unsupported("exception_handler")
        completion = self.completion(graphql_field.type, details)
        has_arguments = bool(graphql_field.args) or any(n.arguments for n in nodes)
        plan = FieldPlan(
            key,
            name,
            parent.name,
            nodes,
            Read.ATTRIBUTE,
            completion,
            attribute=definition.python_name,
            graphql_field=graphql_field,
            strawberry_field=definition,
            has_arguments=has_arguments,
        )
        batch = self.compiler.batched.get((parent.name, name))
        if batch is not None and not has_arguments:
            plan.read, plan.batch, plan.is_async = Read.BATCHED, batch, True
            return plan
        resolver = definition.base_resolver
        if resolver is None:
            if not getattr(graphql_field.resolve, "_is_default", False):
                raise Unsupported("custom_resolve")
            return plan
        info = resolver.info_parameter
        if info is not None and not uses_only_context(resolver.wrapped_func, info.name):
            raise Unsupported("resolver_uses_info")
        plan.read = Read.RESOLVER
        plan.is_async = resolver.is_async
        plan.wants_self = resolver.self_parameter is not None
        plan.parent_parameters = tuple(
            p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p is not None
        )
        plan.info_parameter = info.name if info is not None else None
        return plan

    def completion(self, type_: GraphQLOutputType, details: list[FieldDetails]) -> Completion:
        nullable = True
        if is_non_null_type(type_):
            nullable = False
            type_ = type_.of_type
        if is_list_type(type_):
            item = self.completion(type_.of_type, details)
            return Completion(nullable, Shape.LIST, item=item)
        if is_leaf_type(type_):
            named = get_named_type(type_)
            passthrough = PASSTHROUGH.get(named.name) if named in STANDARD_SCALARS else None
            memo: dict[Any, Any] | None = {} if is_enum_type(named) else None
            completion = Completion(nullable, Shape.LEAF, named, passthrough, memo)  # type: ignore[arg-type]
            if named is GraphQLInt:
                completion.passthrough = int  # checked against the 32-bit range by the runner
            completion.isoformat = getattr(named, "serialize", None) is strawberry_isoformat
            return completion
        if is_object_type(type_):
            assert isinstance(type_, GraphQLObjectType)
            if type_.is_type_of is not None:
                raise Unsupported("is_type_of")
            collected = collect_subfields(
                self.schema,
                self.compiled.fragments,
                self.variables,
                self.compiled.operation,
                type_,
                details,
            )
            plan = self.object_plan(type_, collected.grouped_field_set)
            return Completion(nullable, Shape.OBJECT, plan=plan)
        raise Unsupported("abstract_type")


def _has_introspection(document: DocumentNode) -> bool:
    found = False

    class Finder(Visitor):
        def enter_field(self, node: Any, *_: Any) -> None:
            nonlocal found
            if node.name.value in ("__schema", "__type"):
                found = True

    visit(document, Finder())
    return found


def _directive_variables(document: DocumentNode) -> tuple[str, ...]:
    names: list[str] = []

    class Finder(Visitor):
        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            if node.name.value not in ("skip", "include"):
                return
            for argument in node.arguments or ():
                value = argument.value
                if isinstance(value, VariableNode) and value.name.value not in names:
                    names.append(value.name.value)

    visit(document, Finder())
    return tuple(names)
