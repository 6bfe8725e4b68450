from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

MAX_SAFE = 2**53 - 1


def _parse_long(value: object) -> int:
    # bool is an int in Python; a client sending true for a size has made a mistake.
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError("Long must be a whole number.")
    if not -MAX_SAFE <= value <= MAX_SAFE:
        raise ValueError("Long must fit in 53 bits.")
    return int(value)


# GraphQL's Int is 32-bit; byte counts of video files are not.
Long = NewType("Long", int)

SCALARS: dict[object, ScalarDefinition] = {
    Long: strawberry.scalar(
        name="Long",
        description="A whole number up to 2^53 - 1, such as a size in bytes.",
        serialize=int,
        parse_value=_parse_long,
    )
}
