"""What a GraphQL document may ask for, computed in time linear in the document: depth, aliases
and a complexity that multiplies by list sizes (`first:`). Each fragment is summarised once and
reused at every spread, so a chain of fragments that each spread the previous one twice costs
one pass, not 2^n, and is refused by the numbers it adds up to. Runs before the standard rules,
so a refused document never reaches them.

Introspection (`__schema`, `__type`) is measured by limits of its own, since the standard
introspection queries nest 15 deep through `ofType` chains that cost one field a level: its
subtrees do not count toward `max_depth`, but may nest at most `INTROSPECTION_MAX_DEPTH`, may
nest the lists that multiply its cost (`types`, `fields`, `interfaces`, `possibleTypes`,
`inputFields`) at most `INTROSPECTION_MAX_LIST_NESTING` deep (graphql-js's
MaxIntrospectionDepthRule, with `types` counted too), and an
operation may ask for the whole schema (`__schema`) under one response key only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

from streamify.infra.settings import Settings

# Past this, numbers only need to say "too much": saturating keeps them small.
CEILING = 1 << 40

INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})
# The introspection lists whose nesting multiplies the answer by the schema's size.
INTROSPECTION_LISTS = frozenset({"types", "fields", "interfaces", "possibleTypes", "inputFields"})
# graphql-core's get_introspection_query(type_depth=9) nests 15; room for deeper TypeRefs.
INTROSPECTION_MAX_DEPTH = 24
# The standard queries' `__schema { types { fields { ... } } }` is 2; one more level of
# `fields { type { fields ...` multiplies the answer by the schema's size again.
INTROSPECTION_MAX_LIST_NESTING = 2


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_complexity: int
    # The list size a `first:` given as a variable (or left out) is counted as.
    default_list_size: int


@dataclass(frozen=True, slots=True)
class Cost:
    depth: int = 0
    aliases: int = 0
    complexity: int = 0
    # How deep INTROSPECTION_LISTS nest in this selection (only read below a root).
    list_nesting: int = 0
    # Below introspection roots: their depth, and their list nesting.
    introspection_depth: int = 0
    introspection_lists: int = 0
    # The response keys `__schema` is asked for under.
    schema_keys: frozenset[str] = frozenset()

    def plus(self, other: Cost) -> Cost:
        return Cost(
            max(self.depth, other.depth),
            min(CEILING, self.aliases + other.aliases),
            min(CEILING, self.complexity + other.complexity),
            max(self.list_nesting, other.list_nesting),
            max(self.introspection_depth, other.introspection_depth),
            max(self.introspection_lists, other.introspection_lists),
            self.schema_keys | other.schema_keys,
        )


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_complexity=settings.graphql_max_complexity,
        default_list_size=settings.graphql_max_page_size,
    )


class TooExpensive(Exception):
    """The document asks for more than the limits allow; the message says what."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class _Summariser:
    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode], limits: Limits) -> None:
        self.fragments = fragments
        self.limits = limits
        self.done: dict[str, Cost] = {}
        self.visiting: set[str] = set()

    def selection_set(self, node: SelectionSetNode | None) -> Cost:
        total = Cost()
        if node is None:
            return total
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                total = total.plus(self.field(selection))
            elif isinstance(selection, InlineFragmentNode):
                total = total.plus(self.selection_set(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                total = total.plus(self.fragment(selection.name.value))
        return total

    def field(self, node: FieldNode) -> Cost:
        inner = self.selection_set(node.selection_set)
        size = self._list_size(node)
        name = node.name.value
        aliases = min(CEILING, inner.aliases + (1 if node.alias else 0))
        complexity = min(CEILING, 1 + inner.complexity * size)
        if name in INTROSPECTION_ROOTS:
            key = node.alias.value if node.alias else name
            return Cost(
                depth=1,
                aliases=aliases,
                complexity=complexity,
                introspection_depth=min(CEILING, inner.depth + 1),
                introspection_lists=inner.list_nesting,
                schema_keys=inner.schema_keys | ({key} if name == "__schema" else set()),
            )
        return Cost(
            depth=min(CEILING, inner.depth + 1),
            aliases=aliases,
            complexity=complexity,
            list_nesting=inner.list_nesting + (1 if name in INTROSPECTION_LISTS else 0),
            introspection_depth=inner.introspection_depth,
            introspection_lists=inner.introspection_lists,
            schema_keys=inner.schema_keys,
        )

    def fragment(self, name: str) -> Cost:
        found = self.done.get(name)
        if found is not None:
            return found
        definition = self.fragments.get(name)
        if definition is None:
            return Cost()  # the standard rules report unknown fragments
        if name in self.visiting:
            raise TooExpensive(f"Fragment {name} spreads itself.", "FRAGMENT_CYCLE")
        self.visiting.add(name)
        cost = self.selection_set(definition.selection_set)
        self.visiting.discard(name)
        self.done[name] = cost
        return cost

    def _list_size(self, node: FieldNode) -> int:
        for argument in node.arguments or ():
            if argument.name.value in ("first", "last"):
                if isinstance(argument.value, IntValueNode):
                    return max(1, min(int(argument.value.value), CEILING))
                if isinstance(argument.value, VariableNode):
                    return self.limits.default_list_size
        return 1


def check_document(document: DocumentNode, limits: Limits) -> None:
    """Raise TooExpensive when any operation of the document is over a limit."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    summariser = _Summariser(fragments, limits)
    for name in fragments:
        summariser.fragment(name)  # every fragment, used or not, is walked once
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        cost = summariser.selection_set(definition.selection_set)
        label = f"Operation {definition.name.value}" if definition.name else "The operation"
        if cost.depth > limits.max_depth:
            raise TooExpensive(
                f"{label} is nested {cost.depth} deep; at most {limits.max_depth} is allowed.",
                "QUERY_TOO_DEEP",
            )
        if cost.aliases > limits.max_aliases:
            raise TooExpensive(
                f"{label} uses {cost.aliases} aliases; at most {limits.max_aliases} are allowed.",
                "QUERY_TOO_MANY_ALIASES",
            )
        if cost.introspection_depth > INTROSPECTION_MAX_DEPTH:
            raise TooExpensive(
                f"{label} nests introspection {cost.introspection_depth} deep; at most"
                f" {INTROSPECTION_MAX_DEPTH} is allowed.",
                "QUERY_TOO_DEEP",
            )
        if cost.introspection_lists > INTROSPECTION_MAX_LIST_NESTING:
            raise TooExpensive(
                f"{label} nests introspection lists (types, fields, interfaces, possibleTypes,"
                f" inputFields) {cost.introspection_lists} deep; at most"
                f" {INTROSPECTION_MAX_LIST_NESTING} is allowed.",
                "QUERY_TOO_DEEP",
            )
        if len(cost.schema_keys) > 1:
            raise TooExpensive(
                f"{label} asks for the schema {len(cost.schema_keys)} times; once is allowed.",
                "QUERY_TOO_COMPLEX",
            )
        if cost.complexity > limits.max_complexity:
            raise TooExpensive(
                f"{label} would resolve about {cost.complexity} fields (lists counted at their"
                f" `first:` size); at most {limits.max_complexity} are allowed.",
                "QUERY_TOO_COMPLEX",
            )


def budget_errors(document: DocumentNode, limits: Limits) -> list[GraphQLError]:
    try:
        check_document(document, limits)
    except TooExpensive as exc:
        return [GraphQLError(str(exc), extensions={"code": exc.code})]
    return []
