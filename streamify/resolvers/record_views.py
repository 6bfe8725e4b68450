"""What a record shows every viewer, made once per record instead of once per request.

L1 hands the same immutable record to every request until it changes or expires, so what
is derived from a record alone (its GraphQL object with unsigned media URLs, formatted ids,
its page cursor) is remembered beside it, keyed by the record's identity: a changed record is
a new object, so a stale view can never be found. Per-viewer values (signed URLs) are never
kept here. Each memo is bounded in entries, and so in bytes (records are bounded in size);
the oldest entry leaves first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

from streamify.domain import User, Video, VideoRenditions

R = TypeVar("R")
T = TypeVar("T")

# Enough for every video a busy process's L1 holds; each entry is a record and its view.
DEFAULT_CAPACITY = 8192


class RecordMemo(Generic[R]):
    """One derived value per record. The entry holds its record, so the identity it is
    keyed by cannot be reused by another object while the entry exists."""

    __slots__ = ("_entries", "capacity")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: dict[int, tuple[R, object]] = {}

    def get(self, record: R, make: Callable[[R], T]) -> T:
        entry = self._entries.get(id(record))
        if entry is not None and entry[0] is record:
            return cast(T, entry[1])
        value = make(record)
        entries = self._entries
        if len(entries) >= self.capacity:
            del entries[next(iter(entries))]
        entries[id(record)] = (record, value)
        return value

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(slots=True)
class RecordViews:
    """The memos of one process (one per kind of record and view)."""

    capacity: int = DEFAULT_CAPACITY
    videos: RecordMemo[Video] = field(init=False)
    users: RecordMemo[User] = field(init=False)
    renditions: RecordMemo[VideoRenditions] = field(init=False)
    cursors: RecordMemo[Video] = field(init=False)

    def __post_init__(self) -> None:
        self.videos = RecordMemo(self.capacity)
        self.users = RecordMemo(self.capacity)
        self.renditions = RecordMemo(self.capacity)
        self.cursors = RecordMemo(self.capacity)
