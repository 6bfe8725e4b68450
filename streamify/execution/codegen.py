"""Each object plan becomes one Python function, generated from the plan and compiled once:
it reads the object's fields in order and writes the common case of each (a value that is
already of the field's JSON type) without a call; anything else (None, an error, a value to
serialize, a list, an object) goes to the runner's general completion, which has the error
semantics. This is what graphql-jit does for JavaScript: the per-field decisions are taken at
compile time, not once per value.

Nothing from the document is written into the source: response keys, attribute names and
field plans are passed in as constants, so an alias cannot inject code."""

from __future__ import annotations

import inspect
import keyword
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamify.execution.plan import Completion, FieldPlan, ObjectPlan, Read, Shape

if TYPE_CHECKING:
    from streamify.execution.runner import Run, Slot

Visitor = Callable[["Run", "Slot"], None]

INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def visitor(plan: ObjectPlan) -> Visitor:
    """The plan's generated function (made on first use, then kept on the plan)."""
    if plan.visitor is None:
        plan.visitor = _generate(plan)
    return plan.visitor


def _generate(plan: ObjectPlan) -> Visitor:
    constants: dict[str, Any] = {
        "isawaitable": inspect.isawaitable,
        "INT_MIN": INT_MIN,
        "INT_MAX": INT_MAX,
        "isfinite": math.isfinite,
        "all_str": _all_str,
    }
    lines = ["def visit(run, slot):", "    source = slot.source", "    data = slot.data"]
    for index, field in enumerate(plan.fields):
        constants[f"F{index}"], constants[f"K{index}"] = field, field.key
        lines += _field(field, index, constants)
    namespace = dict(constants)
    exec(compile("\n".join(lines), f"<plan {plan.type_name}>", "exec"), namespace)  # noqa: S102
    generated: Visitor = namespace["visit"]
    return generated


def _field(field: FieldPlan, index: int, constants: dict[str, Any]) -> list[str]:
    """The lines that read one field and write its common case (value in `v`)."""
    f, k = f"F{index}", f"K{index}"
    if field.read is Read.TYPENAME:
        constants[f"T{index}"] = field.parent
        return [f"    data[{k}] = T{index}"]
    if field.is_async:
        return [f"    run.defer({f}, slot)", f"    data[{k}] = None"]
    if field.read is not Read.ATTRIBUTE:
        return [
            f"    v = run.call({f}, slot)",
            "    if isawaitable(v):",
            f"        run.await_one({f}, slot, v)",
            f"        data[{k}] = None",
            "    else:",
            f"        run.complete_field({f}, slot, v)",
        ]
    read = [
        "    try:",
        f"        v = {_attribute(field, index, constants)}",
        "    except Exception as exc:",
        "        v = exc",
    ]
    shape = field.completion.shape
    if shape is Shape.OBJECT:
        return read + _object(field, index)
    if shape is Shape.LIST:
        return read + _list(field, index)
    return read + _leaf(field, index, constants)


def _object(field: FieldPlan, index: int) -> list[str]:
    f, k = f"F{index}", f"K{index}"
    if not field.completion.nullable:
        return [f"    run.object({f}, slot, v)"]
    # A null where null is allowed is written as it is.
    return [
        "    if v is None:",
        f"        data[{k}] = None",
        "    else:",
        f"        run.object({f}, slot, v)",
    ]


def _list(field: FieldPlan, index: int) -> list[str]:
    f, k = f"F{index}", f"K{index}"
    item = field.completion.item
    assert item is not None
    if item.shape is Shape.OBJECT:
        return [f"    run.objects({f}, slot, v)"]
    if item.shape is Shape.LEAF and item.passthrough is str and not item.nullable:
        # A list of strings is written as a copy once every item is checked.
        return [
            "    if type(v) is list and all_str(v):",
            f"        data[{k}] = v[:]",
            "    else:",
            f"        run.complete_field({f}, slot, v)",
        ]
    return [f"    run.complete_field({f}, slot, v)"]


def _leaf(field: FieldPlan, index: int, constants: dict[str, Any]) -> list[str]:
    f, k = f"F{index}", f"K{index}"
    completion = field.completion
    test = _fast_test(completion)
    if test is not None:
        null = "v is None or " if completion.nullable else ""
        return [
            f"    if {null}{test}:",
            f"        data[{k}] = v",
            "    else:",
            f"        run.leaf({f}, slot, v)",
        ]
    if completion.memo is not None:
        # An enum: its name per value, remembered (run.leaf fills the memo).
        constants[f"M{index}"] = completion.memo
        return [
            "    try:",
            f"        data[{k}] = M{index}[(type(v), v)]",
            "    except (KeyError, TypeError):",
            f"        run.leaf({f}, slot, v)",
        ]
    return [f"    run.leaf({f}, slot, v)"]


def _attribute(field: FieldPlan, index: int, constants: dict[str, Any]) -> str:
    name = field.attribute
    if name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__"):
        return f"source.{name}"
    constants[f"A{index}"] = name
    return f"getattr(source, A{index})"


def _all_str(values: list[Any]) -> bool:
    return all(type(value) is str for value in values)


def _fast_test(completion: Completion) -> str | None:
    """A test for leaf values that are already what the JSON answer holds, or None."""
    passthrough = completion.passthrough
    if passthrough is str:
        return "type(v) is str"
    if passthrough is bool:
        return "type(v) is bool"
    if passthrough is int:
        return "type(v) is int and INT_MIN <= v <= INT_MAX"
    if passthrough is float:
        return "type(v) is float and isfinite(v)"
    return None
