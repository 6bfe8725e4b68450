"""What a compiled operation is made of. Built once per operation (and per combination of
the variables its @skip/@include read); read by the runner on every request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from graphql import FieldNode, GraphQLField, GraphQLLeafType
from strawberry.types.field import StrawberryField

from streamify.schema.batched import BatchResolver


class Read(IntEnum):
    """How a field's value is read from its parent."""

    ATTRIBUTE = 0  # a plain attribute: getattr, as Strawberry's default resolver does
    RESOLVER = 1  # the field's own resolver, called per parent
    BATCHED = 2  # a batch form of the resolver, called once per level
    TYPENAME = 3  # __typename


class Shape(IntEnum):
    LEAF = 0
    LIST = 1
    OBJECT = 2


@dataclass(slots=True, eq=False)
class Completion:
    """A field's type with its wrappers unfolded: how a resolved value becomes JSON."""

    nullable: bool
    shape: Shape
    leaf: GraphQLLeafType | None = None
    # Values of exactly this Python type pass through unchanged (str for String and ID...).
    passthrough: type | None = None
    # Enum values serialize to the same name every time: remembered per value.
    memo: dict[Any, Any] | None = None
    # A DateTime (or Date, Time) whose scalar serializes with the value's own isoformat().
    isoformat: bool = False
    item: Completion | None = None
    plan: ObjectPlan | None = None


@dataclass(slots=True, eq=False)
class FieldPlan:
    key: str  # the response key (alias or name)
    name: str
    parent: str  # the parent type's name, for error messages
    nodes: list[FieldNode]  # every node merged under this key: error locations
    read: Read
    completion: Completion
    attribute: str = ""
    graphql_field: GraphQLField | None = None
    strawberry_field: StrawberryField | None = None
    batch: BatchResolver | None = None
    is_async: bool = False
    has_arguments: bool = False
    # Where the resolver wants its parent and info (Strawberry's self/root/parent/info).
    wants_self: bool = False
    parent_parameters: tuple[str, ...] = ()
    info_parameter: str | None = None


@dataclass(slots=True, eq=False)
class ObjectPlan:
    type_name: str
    fields: list[FieldPlan] = field(default_factory=list)
    # The generated function that fills an object of this plan (execution.codegen).
    visitor: Callable[[Any, Any], None] | None = None
    # For a plan of leaves only: the generated function that makes its object's data in one
    # go, or None where a value needs the general completion (execution.codegen.flat).
    flat: Callable[[Any], dict[str, Any] | None] | None = None
    flat_made: bool = False
