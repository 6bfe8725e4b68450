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
    constants: dict[str, Any] = {"isawaitable": inspect.isawaitable, "INT_MIN": INT_MIN}
    constants["INT_MAX"] = INT_MAX
    lines = ["def visit(run, slot):", "    source = slot.source", "    data = slot.data"]
    for index, field in enumerate(plan.fields):
        f, k = f"F{index}", f"K{index}"
        constants[f], constants[k] = field, field.key
        if field.read is Read.TYPENAME:
            constants[f"T{index}"] = field.parent
            lines.append(f"    data[{k}] = T{index}")
            continue
        if field.is_async:
            lines += [f"    run.defer({f}, slot)", f"    data[{k}] = None"]
            continue
        if field.read is Read.ATTRIBUTE:
            lines += ["    try:", f"        v = {_attribute(field, index, constants)}"]
            lines += ["    except Exception as exc:", "        v = exc"]
        else:
            lines += [f"    v = run.call({f}, slot)", "    if isawaitable(v):"]
            lines += [f"        run.await_one({f}, slot, v)", f"        v = data[{k}] = None"]
            lines += ["    else:", f"        run.complete_field({f}, slot, v)"]
            continue
        completion = field.completion
        if completion.shape is Shape.OBJECT:
            lines.append(f"    run.object({f}, slot, v)")
            continue
        if completion.shape is Shape.LIST:
            item = completion.item
            many = item is not None and item.shape is Shape.OBJECT
            lines.append(f"    run.{'objects' if many else 'complete_field'}({f}, slot, v)")
            continue
        test = _fast_test(field.completion, constants)
        if test is None:
            lines.append(f"    run.leaf({f}, slot, v)")
            continue
        lines += [f"    if {test}:", f"        data[{k}] = v", "    else:"]
        lines.append(f"        run.leaf({f}, slot, v)")
    namespace = dict(constants)
    exec(compile("\n".join(lines), f"<plan {plan.type_name}>", "exec"), namespace)  # noqa: S102
    generated: Visitor = namespace["visit"]
    return generated


def _attribute(field: FieldPlan, index: int, constants: dict[str, Any]) -> str:
    name = field.attribute
    if name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__"):
        return f"source.{name}"
    constants[f"A{index}"] = name
    return f"getattr(source, A{index})"


def _fast_test(completion: Completion, constants: dict[str, Any]) -> str | None:
    """A test for leaf values that are already what the JSON answer holds, or None."""
    passthrough = completion.passthrough
    if passthrough is str:
        return "type(v) is str"
    if passthrough is bool:
        return "type(v) is bool"
    if passthrough is int:
        return "type(v) is int and INT_MIN <= v <= INT_MAX"
    if passthrough is float:
        constants["isfinite"] = math.isfinite
        return "type(v) is float and isfinite(v)"
    return None
