"""What a GraphQL document may ask for, computed in time linear in the document: depth, aliases
and a complexity that multiplies by list sizes (`first:`). Each fragment is summarised once and
reused at every spread, so a chain of fragments that each spread the previous one twice costs
one pass, not 2^n, and is refused by the numbers it adds up to. Runs before the standard rules,
so a refused document never reaches them."""

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

    def plus(self, other: Cost) -> Cost:
        return Cost(
            max(self.depth, other.depth),
            min(CEILING, self.aliases + other.aliases),
            min(CEILING, self.complexity + other.complexity),
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
        return Cost(
            depth=min(CEILING, inner.depth + 1),
            aliases=min(CEILING, inner.aliases + (1 if node.alias else 0)),
            complexity=min(CEILING, 1 + inner.complexity * size),
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
