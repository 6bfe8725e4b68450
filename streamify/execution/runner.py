"""Runs a compiled plan for one request, in graphql-core's order but batched:

- what resolves synchronously (attributes, sync resolvers, the objects they return) is
  completed at once, depth first, object by object, as graphql-core does;
- asynchronous fields (resolvers, loader-backed batch forms) are put aside and resolved in
  waves: every field of a wave for all its parents at once (one batch per field), then
  completed parent by parent, which may put aside the next wave.

Results are what graphql-core produces for the same operation:

- a field error is located at the field (or list item) where it happened and nulls the
  nearest nullable position above it; a non-null chain up to the root nulls `data`;
- an error under a position already nulled is not reported (graphql-core's rule too);
- scalars and enums serialize through the schema's own types, so messages match.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import math
from typing import Any

from graphql import GraphQLError, GraphQLSchema, located_error
from graphql.execution.values import VariableValues, get_argument_values
from graphql.pyutils import Undefined, is_iterable
from graphql.pyutils import inspect as graphql_inspect
from strawberry.schema.config import StrawberryConfig
from strawberry.types.arguments import convert_arguments

from streamify.execution.codegen import INT_MAX, INT_MIN, flat, visitor
from streamify.execution.plan import Completion, FieldPlan, ObjectPlan, Shape
from streamify.execution.safety import ContextOnlyInfo

# A position in the response: keys and list indexes from the root.
Position = tuple[str | int, ...]
# Where an object sits: (nullable, container, index, position, the next link up), innermost
# first; the last link is the parent object's field.
Link = tuple[bool, Any, Any, Position, Any]


class Slot:
    """One object being filled: its source value, its result, where it sits."""

    __slots__ = ("data", "dead", "link", "parent", "path", "source")

    def __init__(
        self, source: Any, data: dict[str, Any], path: Position, link: Link | None, parent: Any
    ) -> None:
        self.source = source
        self.data = data
        self.path = path
        self.link = link
        self.parent: Slot | None = parent
        self.dead = False


class Run:
    def __init__(
        self,
        schema: GraphQLSchema,
        config: StrawberryConfig,
        scalar_registry: Any,
        context: Any,
        variables: VariableValues,
    ) -> None:
        self.schema = schema
        self.config = config
        self.scalar_registry = scalar_registry
        self.context = context
        self.info = ContextOnlyInfo(context)
        self.variables = variables
        self.errors: list[GraphQLError] = []
        self.nulled: set[Position] = set()
        self.root_nulled = False
        self.root = Slot(None, {}, (), None, None)
        # Asynchronous fields put aside for the next wave: field → its parents in order (and
        # the awaitables already started for them, for a sync resolver that returned one).
        self.waiting: dict[int, tuple[FieldPlan, list[Slot], list[Any] | None]] = {}
        self.arguments: dict[int, dict[str, Any] | Exception] = {}

    async def execute(self, plan: ObjectPlan, *, serial: bool) -> dict[str, Any] | None:
        if serial:
            # Mutations: each root field and everything below it before the next one.
            for field in plan.fields:
                self._visit_root(ObjectPlan(plan.type_name, [field]))
                await self._drain()
        else:
            self._visit_root(plan)
            await self._drain()
        return None if self.root_nulled else self.root.data

    def _visit_root(self, plan: ObjectPlan) -> None:
        try:
            self._visit(plan, self.root)
        except GraphQLError as error:
            self._kill(self.root, error)

    def _visit(self, plan: ObjectPlan, slot: Slot) -> None:
        """Completes the object's synchronous fields now; puts its asynchronous ones aside
        (the plan's generated function, execution.codegen). A non-null field that fails
        raises its error to the caller, as in graphql-core."""
        visitor(plan)(self, slot)

    # What the generated functions call --------------------------------------------------------

    def defer(self, field: FieldPlan, slot: Slot) -> None:
        """An asynchronous field: resolved in the next wave with its other parents."""
        entry = self.waiting.get(id(field))
        if entry is None:
            self.waiting[id(field)] = (field, [slot], None)
        else:
            entry[1].append(slot)

    def leaf(self, field: FieldPlan, slot: Slot, value: Any) -> None:
        """A leaf, serialized without building its position (only an error needs it; then
        the general completion raises it again, located)."""
        if value is not None:
            try:
                slot.data[field.key] = _leaf(field.completion, value)
                return
            except Exception:  # noqa: S110 - completed again below, with its error
                pass
        self.complete_field(field, slot, value)

    async def _drain(self) -> None:
        while self.waiting:
            wave = list(self.waiting.values())
            self.waiting = {}
            started = [self._start(field, slots, preset) for field, slots, preset in wave]
            await _settle(started)
            kills: list[tuple[Slot, GraphQLError]] = []
            for (field, slots, _), loads in zip(wave, started, strict=True):
                finish = field.batch.finish if field.batch is not None else None
                complete = self._completer(field)
                for slot, load in zip(slots, loads, strict=True):
                    if slot.dead:
                        continue
                    value = _outcome(load)
                    if finish is not None and not isinstance(value, BaseException):
                        value = finish(self.context, value)
                    try:
                        complete(field, slot, value)
                    except GraphQLError as failure:
                        kills.append((slot, failure))
            # In graphql-core a non-null failure climbs one awaiting coroutine per level, a
            # turn of the event loop each, while the rest of the wave completes: the wave's
            # other errors are reported first, and a failure that nulls a nearer position
            # before one that climbs further.
            kills.sort(key=lambda kill: _climb(kill[0]))
            for slot, error in kills:
                self._kill(slot, error)

    # Reading -------------------------------------------------------------------------------

    def _start(self, field: FieldPlan, slots: list[Slot], preset: list[Any] | None) -> list[Any]:
        """Starts the asynchronous field for every parent of this wave: one load (a value,
        an exception or an awaitable) per parent. A batch form issues all its loader calls
        here, so every field of the wave joins the same loader batches."""
        if preset is not None:
            return preset
        if field.batch is not None:
            try:
                return field.batch.loads(self.context, [s.source for s in slots])
            except Exception as exc:
                return [exc] * len(slots)
        return [self.call(field, s) for s in slots]

    def await_one(self, field: FieldPlan, slot: Slot, awaitable: Any) -> None:
        """A synchronous resolver returned an awaitable: it joins the next wave."""
        own = dataclasses.replace(field, is_async=True)
        self.waiting[id(own)] = (own, [slot], [awaitable])

    def call(self, field: FieldPlan, slot: Slot) -> Any:
        """Calls the field's own resolver for one parent, as Strawberry would."""
        kwargs = self.arguments.get(id(field))
        if kwargs is None:
            try:
                kwargs = self._arguments(field)
            except Exception as exc:
                kwargs = exc
            self.arguments[id(field)] = kwargs
        if isinstance(kwargs, Exception):
            return kwargs
        assert field.strawberry_field is not None
        resolver = field.strawberry_field.base_resolver
        assert resolver is not None
        args = [slot.source] if field.wants_self else []
        call_kwargs = dict(kwargs)
        for name in field.parent_parameters:
            call_kwargs[name] = slot.source
        if field.info_parameter is not None:
            call_kwargs[field.info_parameter] = self.info
        try:
            return resolver(*args, **call_kwargs)
        except Exception as exc:
            return exc

    def _arguments(self, field: FieldPlan) -> dict[str, Any]:
        if not field.has_arguments:
            return {}
        assert field.graphql_field is not None and field.strawberry_field is not None
        raw = get_argument_values(field.graphql_field, field.nodes[0], self.variables)
        return convert_arguments(
            raw,
            field.strawberry_field.arguments,
            scalar_registry=self.scalar_registry,
            config=self.config,
            info=self.info,  # type: ignore[arg-type]
        )

    # Completing ----------------------------------------------------------------------------

    def _completer(self, field: FieldPlan) -> Any:
        """The completion for the field's shape (the one its generated code calls too)."""
        completion = field.completion
        if completion.shape is Shape.LEAF:
            return self.leaf
        if completion.shape is Shape.OBJECT:
            return self.object
        item = completion.item
        return (
            self.objects
            if item is not None and item.shape is Shape.OBJECT
            else (self.complete_field)
        )

    def object(self, field: FieldPlan, slot: Slot, value: Any) -> None:
        """An object field: its object is filled now, depth first."""
        if value is None or isinstance(value, BaseException):
            self.complete_field(field, slot, value)
            return
        completion = field.completion
        key, data = field.key, slot.data
        fill = flat(completion.plan)  # type: ignore[arg-type]
        if fill is not None:
            made = fill(value)
            if made is not None:
                data[key] = made
                return
        path = (*slot.path, key)
        child = Slot(value, {}, path, (completion.nullable, data, key, path, None), slot)
        data[key] = child.data
        try:
            visitor(completion.plan)(self, child)  # type: ignore[arg-type]
        except BaseException as raw:
            child.dead = True  # its fields put aside for later are not completed
            if not isinstance(raw, Exception):
                raise
            self._failed(field, slot, raw, path)

    def objects(self, field: FieldPlan, slot: Slot, value: Any) -> None:
        """A list of objects: each filled now, depth first, in order."""
        if not isinstance(value, list | tuple):
            self.complete_field(field, slot, value)  # None, an error, another iterable
            return
        completion = field.completion
        item = completion.item
        assert item is not None and item.plan is not None
        visit = visitor(item.plan)
        fill = flat(item.plan)
        key, data = field.key, slot.data
        path = (*slot.path, key)
        link = (completion.nullable, data, key, path, None)
        out: list[Any] = []
        data[key] = out
        try:
            for index, entry in enumerate(value):
                if fill is not None and not (entry is None or isinstance(entry, BaseException)):
                    made = fill(entry)  # None: filled below, with its errors
                    if made is not None:
                        out.append(made)
                        continue
                item_path = (*path, index)
                item_link = (item.nullable, out, index, item_path, link)
                if entry is None or isinstance(entry, BaseException):
                    try:
                        out.append(self._complete(item, entry, field, item_path, slot, item_link))
                    except Exception as raw:
                        out.append(None)
                        self._failed_item(field, item, raw, out, index, item_path)
                    continue
                child = Slot(entry, {}, item_path, item_link, slot)
                out.append(child.data)
                try:
                    visit(self, child)
                except BaseException as raw:
                    child.dead = True
                    if not isinstance(raw, Exception):
                        raise
                    self._failed_item(field, item, raw, out, index, item_path)
        except Exception as raw:
            self._failed(field, slot, raw, path)

    def _failed(self, field: FieldPlan, slot: Slot, raw: Exception, path: Position) -> None:
        """The field failed: null it, or (non-null) raise its located error to the parent."""
        error = located_error(raw, field.nodes, list(path))
        if not field.completion.nullable:
            raise error from None
        slot.data[field.key] = None
        self._record(error, path)

    def _failed_item(  # noqa: PLR0917 - the item's place, spelled out
        self,
        field: FieldPlan,
        item: Completion,
        raw: Exception,
        out: list[Any],
        index: int,
        path: Position,
    ) -> None:
        """A list item failed: null it, or (non-null) raise its error to the list."""
        error = located_error(raw, field.nodes, list(path))
        if not item.nullable:
            raise error from None
        out[index] = None
        self._record(error, path)

    def complete_field(self, field: FieldPlan, slot: Slot, value: Any) -> None:
        completion = field.completion
        key = field.key
        path = (*slot.path, key)
        try:
            link = (completion.nullable, slot.data, key, path, None)
            slot.data[key] = self._complete(completion, value, field, path, slot, link)
        except Exception as raw:
            error = located_error(raw, field.nodes, list(path))
            if not completion.nullable:
                raise error from None
            slot.data[key] = None
            self._record(error, path)

    def _complete(  # noqa: PLR0917 - called per value: positional is cheaper
        self,
        completion: Completion,
        value: Any,
        field: FieldPlan,
        path: Position,
        slot: Slot,
        link: Link,
    ) -> Any:
        if isinstance(value, BaseException):
            raise value
        if value is None:
            if not completion.nullable:
                raise TypeError(
                    f"Cannot return null for non-nullable field {field.parent}.{field.name}."
                )
            return None
        shape = completion.shape
        if shape is Shape.LEAF:
            return _leaf(completion, value)
        if shape is Shape.OBJECT:
            assert completion.plan is not None
            child = Slot(value, {}, path, link, slot)
            try:
                self._visit(completion.plan, child)
            except BaseException:
                child.dead = True  # its fields put aside for later are not completed
                raise
            return child.data
        if not is_iterable(value):
            raise GraphQLError(
                f"Expected Iterable, but did not find one for field '{field.parent}.{field.name}'."
            )
        item = completion.item
        assert item is not None
        out: list[Any] = []
        for index, entry in enumerate(value):
            item_path = (*path, index)
            if item.shape is Shape.LEAF and entry is not None:
                try:
                    out.append(_leaf(item, entry))
                    continue
                except Exception:  # noqa: S110 - completed again below, with its error
                    pass
            try:
                item_link = (item.nullable, out, index, item_path, link)
                out.append(self._complete(item, entry, field, item_path, slot, item_link))
            except Exception as raw:
                error = located_error(raw, field.nodes, list(item_path))
                if not item.nullable:
                    raise error from None
                out.append(None)
                self._record(error, item_path)
        return out

    # Errors --------------------------------------------------------------------------------

    def _kill(self, slot: Slot, error: GraphQLError) -> None:
        """A non-null field of `slot`, completed after `slot` itself (an asynchronous one),
        failed: null the nearest nullable position above it."""
        while True:
            slot.dead = True
            link = slot.link
            while link is not None:
                nullable, container, index, position, link_up = link
                if nullable:
                    container[index] = None
                    self._record(error, position)
                    return
                link = link_up
            parent = slot.parent
            if parent is None:
                self._record(error, None)
                self.root_nulled = True
                return
            slot = parent

    def _record(self, error: GraphQLError, position: Position | None) -> None:
        """Reports `error`, which nulled `position` (None: the whole data), unless that
        position or one above it was nulled already."""
        if self.root_nulled:
            return
        if position is not None:
            for end in range(len(position), 0, -1):
                if position[:end] in self.nulled:
                    return
            self.nulled.add(position)
        self.errors.append(error)


async def _settle(started: list[list[Any]]) -> None:
    """Awaits every load not settled yet, all at once: loaders batch across fields, and a
    wave L1 answered whole costs no turn of the event loop."""
    pending = [
        (loads, i)
        for loads in started
        for i, load in enumerate(loads)
        if inspect.isawaitable(load) and not (isinstance(load, asyncio.Future) and load.done())
    ]
    if not pending:
        return
    if len(pending) == 1:
        loads, i = pending[0]
        try:
            loads[i] = await loads[i]
        except Exception as exc:
            loads[i] = exc
        return
    done = await asyncio.gather(*(loads[i] for loads, i in pending), return_exceptions=True)
    for (loads, i), value in zip(pending, done, strict=True):
        loads[i] = value


def _outcome(load: Any) -> Any:
    """A load's value or exception (a settled future is read)."""
    if isinstance(load, asyncio.Future):
        if load.cancelled():
            return asyncio.CancelledError()
        return load.exception() or load.result()
    return load


def _climb(slot: Slot) -> int:
    """How many positions a failure in `slot` climbs before one that is nullable."""
    steps = 0
    current: Slot | None = slot
    while current is not None:
        link = current.link
        while link is not None:
            steps += 1
            if link[0]:
                return steps
            link = link[4]
        current = current.parent
    return steps


def _leaf(completion: Completion, value: Any) -> Any:
    if isinstance(value, BaseException):
        raise value
    passthrough = completion.passthrough
    if type(value) is passthrough:
        number: Any = value
        if passthrough is int:
            if INT_MIN <= number <= INT_MAX:
                return value
        elif passthrough is not float or math.isfinite(number):
            return value
    memo = completion.memo
    memo_key = (type(value), value)
    if memo is not None:
        try:
            return memo[memo_key]
        except KeyError:
            pass
        except TypeError:  # unhashable: serialize it every time
            memo = None
    leaf = completion.leaf
    assert leaf is not None
    coerced = leaf.coerce_output_value(value)
    if coerced is Undefined or coerced is None:
        raise TypeError(
            f"Expected `{graphql_inspect(leaf)}.coerce_output_value("
            f"{graphql_inspect(value)})` to return non-nullable value, returned:"
            f" {graphql_inspect(coerced)}"
        )
    if memo is not None:
        memo[memo_key] = coerced
    return coerced
