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
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from streamify.execution.plan import Completion, FieldPlan, ObjectPlan, Read, Shape

if TYPE_CHECKING:
    from streamify.execution.runner import Run, Slot

Visitor = Callable[["Run", "Slot"], None]

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
# What Strawberry's DateTime, Date and Time scalars serialize with the value's isoformat().
ISO_TYPES = frozenset({datetime, date, time})
Flat = Callable[[Any], dict[str, Any] | None]


def visitor(plan: ObjectPlan) -> Visitor:
    """The plan's generated function (made on first use, then kept on the plan)."""
    if plan.visitor is None:
        plan.visitor = _generate(plan)
    return plan.visitor


def flat(plan: ObjectPlan) -> Flat | None:
    """For a plan whose fields are all leaves read as attributes: a generated function that
    returns the object's data whole when every value is already what the answer holds (no
    null where null is not allowed, nothing to report), else None: the caller then fills the
    object the general way, which reads the values again and reports what is wrong. A list
    of such objects (a video's renditions) costs no slot, no position and no call per field."""
    if not plan.flat_made:
        plan.flat = _generate_flat(plan)
        plan.flat_made = True
    return plan.flat


def _constants() -> dict[str, Any]:
    return {
        "isawaitable": inspect.isawaitable,
        "INT_MIN": INT_MIN,
        "INT_MAX": INT_MAX,
        "isfinite": math.isfinite,
        "all_str": _all_str,
        "ISO_TYPES": ISO_TYPES,
    }


def _generate_flat(plan: ObjectPlan) -> Flat | None:
    constants = _constants()
    reads, checks, entries = [], [], []
    for index, field in enumerate(plan.fields):
        constants[f"K{index}"] = field.key
        if field.read is Read.TYPENAME:
            constants[f"T{index}"] = field.parent
            entries.append(f"K{index}: T{index}")
            continue
        completion = field.completion
        if field.read is not Read.ATTRIBUTE or field.is_async or completion.shape is not Shape.LEAF:
            return None
        v = f"v{index}"
        reads.append(f"        {v} = {_attribute(field, index, constants)}")
        null = f"{v} is None or " if completion.nullable else ""
        test = _fast_test(completion, v)
        if test is not None:
            checks.append(f"    if not ({null}{test}):")
            checks.append("        return None")
            entries.append(f"K{index}: {v}")
        elif completion.isoformat:
            checks.append(f"    if not ({null}type({v}) in ISO_TYPES):")
            checks.append("        return None")
            value = f"None if {v} is None else {v}.isoformat()" if null else f"{v}.isoformat()"
            entries.append(f"K{index}: {value}")
        elif completion.memo is not None:
            constants[f"M{index}"] = completion.memo
            if completion.nullable:
                checks.append(f"    if {v} is not None:")
                checks.append("        try:")
                checks.append(f"            {v} = M{index}[(type({v}), {v})]")
                checks.append("        except (KeyError, TypeError):")
                checks.append("            return None")
            else:
                checks.append("    try:")
                checks.append(f"        {v} = M{index}[(type({v}), {v})]")
                checks.append("    except (KeyError, TypeError):")
                checks.append("        return None")
            entries.append(f"K{index}: {v}")
        else:
            return None
    lines = ["def flat(source):"]
    if reads:
        lines += ["    try:", *reads, "    except Exception:", "        return None"]
    lines += [*checks, "    return {" + ", ".join(entries) + "}"]
    namespace = dict(constants)
    exec(compile("\n".join(lines), f"<flat {plan.type_name}>", "exec"), namespace)  # noqa: S102
    made: Flat = namespace["flat"]
    return made


def _generate(plan: ObjectPlan) -> Visitor:
    constants = _constants()
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
    if completion.isoformat:
        null = "v is None or " if completion.nullable else ""
        return [
            f"    if {null}type(v) not in ISO_TYPES:",
            f"        run.leaf({f}, slot, v)",
            "    else:",
            f"        data[{k}] = v.isoformat()",
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


def _fast_test(completion: Completion, v: str = "v") -> str | None:
    """A test that the leaf value in variable `v` is already what the JSON answer holds, or
    None."""
    passthrough = completion.passthrough
    if passthrough is str:
        return f"type({v}) is str"
    if passthrough is bool:
        return f"type({v}) is bool"
    if passthrough is int:
        return f"type({v}) is int and INT_MIN <= {v} <= INT_MAX"
    if passthrough is float:
        return f"type({v}) is float and isfinite({v})"
    return None
