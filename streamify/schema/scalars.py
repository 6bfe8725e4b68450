from __future__ import annotations

import math
from typing import NewType

import strawberry
from graphql import FloatValueNode, IntValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition

from streamify.domain import BadUserInput

MAX_SAFE = 2**53 - 1


def _parse_long(value: object) -> int:
    # bool is an int in Python; a client sending true for a size has made a mistake.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadUserInput("Long must be a whole number.")
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        raise BadUserInput("Long must be a whole number.")
    if not -MAX_SAFE <= value <= MAX_SAFE:
        raise BadUserInput("Long must fit in 53 bits.")
    return int(value)


def _parse_long_literal(node: ValueNode, _variables: object = None) -> int:
    if isinstance(node, IntValueNode):
        return _parse_long(int(node.value))
    if isinstance(node, FloatValueNode):
        return _parse_long(float(node.value))
    raise BadUserInput("Long must be a whole number.")


# GraphQL's Int is 32-bit; byte counts of video files are not.
Long = NewType("Long", int)

SCALARS: dict[object, ScalarDefinition] = {
    Long: strawberry.scalar(
        name="Long",
        description="A whole number up to 2^53 - 1, such as a size in bytes.",
        serialize=int,
        parse_value=_parse_long,
        parse_literal=_parse_long_literal,
    )
}
