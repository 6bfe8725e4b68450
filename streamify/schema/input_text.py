"""What a client sends — in the document or in variables — is checked before anything runs: no
NUL characters in text (PostgreSQL cannot store them), no string longer than
`graphql_max_string_length` (a caption's `content`: 512 Ki characters), and no number
literal beyond what any of our numeric types holds (2^53). The error names the argument or
variable, as BAD_USER_INPUT."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FloatValueNode,
    GraphQLError,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    visit,
)
from graphql.language import Visitor

MAX_NUMBER = 2**53 - 1
# A caption file (AddCaptionInput.content, at most 512 KiB, checked in bytes by its parser)
# is the one longer text: the limit of a string whose field or variable is named `content`.
CONTENT_CHARS = 512 * 1024


def _limit_at(where: str, limit: int) -> int:
    last = where.rsplit(".", 1)[-1].lstrip("$")
    return max(limit, CONTENT_CHARS) if last == "content" else limit


# (where, the value, whether it is a number literal)
Found = tuple[str, str, bool]


def _problem(value: str, limit: int, *, number: bool) -> str | None:
    if number:
        try:
            parsed = float(value)
        except ValueError:
            return None
        if not math.isfinite(parsed) or abs(parsed) > MAX_NUMBER:
            return "value is a number out of range"
        return None
    if "\x00" in value:
        return "text must not contain NUL characters"
    if len(value) > limit:
        return f"text must be at most {limit} characters"
    return None


def _literals(value: ValueNode, path: str) -> Iterator[Found]:
    if isinstance(value, StringValueNode):
        yield path, value.value, False
    elif isinstance(value, IntValueNode | FloatValueNode):
        yield path, value.value, True
    elif isinstance(value, ListValueNode):
        for item in value.values:
            yield from _literals(item, path)
    elif isinstance(value, ObjectValueNode):
        for field in value.fields:
            yield from _literals(field.value, f"{path}.{field.name.value}")


def _variables(value: Any, path: str) -> Iterator[Found]:
    if isinstance(value, str):
        yield path, value, False
    elif isinstance(value, list):
        for item in value:
            yield from _variables(item, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _variables(key, path)
            yield from _variables(item, f"{path}.{key}")


class _Arguments(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[Found] = []

    def enter_field(self, node: FieldNode, *_: object) -> None:
        for argument in node.arguments or ():
            where = f"{node.name.value}({argument.name.value})"
            self.found.extend(_literals(argument.value, where))


def document_text_errors(document: DocumentNode, limit: int) -> list[GraphQLError]:
    arguments = _Arguments()
    visit(document, arguments)
    return _errors(arguments.found, limit, "Argument")


def variable_text_errors(variables: dict[str, Any] | None, limit: int) -> list[GraphQLError]:
    if not variables:
        return []
    found = [item for name, value in variables.items() for item in _variables(value, f"${name}")]
    return _errors(found, limit, "Variable")


def _errors(found: list[Found], limit: int, kind: str) -> list[GraphQLError]:
    for where, value, number in found:
        problem = _problem(value, _limit_at(where, limit), number=number)
        if problem is not None:
            return [
                GraphQLError(
                    f"{kind} {where}: {problem}.",
                    extensions={"code": "BAD_USER_INPUT", "argument": where},
                )
            ]
    return []
