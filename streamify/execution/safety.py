"""Which resolvers the compiled path may call itself.

graphql-core hands every resolver a full resolve info (path, field nodes, schema, variables,
...); the compiled path hands it a small object that has only `context`. That is safe exactly
when the resolver touches its info argument in no other way, which is proved from its source:
every use of the parameter's name must be `<name>.context`. A resolver whose source cannot be
read, or that passes its info on, reads other attributes or rebinds the name, is not proved
safe and its operations run on Strawberry."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from functools import cache
from typing import Any


@cache
def uses_only_context(func: Callable[..., Any], parameter: str) -> bool:
    try:
        source = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return False
    definition = tree.body[0] if tree.body else None
    if not isinstance(definition, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(definition):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    for node in ast.walk(definition):
        if isinstance(node, ast.Name) and node.id == parameter:
            parent = parents.get(node)
            read_context = (
                isinstance(parent, ast.Attribute)
                and parent.value is node
                and parent.attr == "context"
                and isinstance(node.ctx, ast.Load)
            )
            if not read_context:
                return False
    return True


class ContextOnlyInfo:
    """The info a proved-safe resolver gets: its context, nothing else."""

    __slots__ = ("context",)

    def __init__(self, context: Any) -> None:
        self.context = context
