"""In-process caches of what a document costs to prepare (its parse, its verdicts, its compiled
plan), keyed by a digest of the document and bounded in bytes: a stranger sending a million
distinct 1 MB documents evicts old entries instead of growing the process. An entry's size is
estimated from what it retains: the document's text (graphql-core's AST keeps its source) and
a fixed cost per AST node, measured with tracemalloc (about 320 bytes; 512 leaves room)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Generic, TypeVar

from cachetools import LRUCache
from graphql import DocumentNode, Node

NODE_BYTES = 512
# What an entry costs beyond its document: the key, the LRU's bookkeeping, small values.
ENTRY_BYTES = 256

V = TypeVar("V")


def digest(*parts: str | None) -> bytes:
    """A fixed-size key for text parts: a digest of an unambiguous encoding (each part's length
    before it; None apart from ""), so no separator the parts could contain makes two different
    tuples collide. On the request path: a JSON encoding cost four times as much."""
    encoded = [b"-" if part is None else b"%d:%s" % (len(b := part.encode()), b) for part in parts]
    return hashlib.sha256(b"".join(encoded)).digest()


def node_count(document: Node) -> int:
    count, stack = 0, [document]
    while stack:
        node = stack.pop()
        count += 1
        for key in node.keys:
            value = getattr(node, key, None)
            if isinstance(value, Node):
                stack.append(value)
            elif isinstance(value, tuple | list):
                stack.extend(v for v in value if isinstance(v, Node))
    return count


def footprint(text: str, document: DocumentNode | None) -> int:
    """Bytes a cached entry built from `text` (and its parsed `document`) keeps alive."""
    nodes = node_count(document) if document is not None else 0
    return ENTRY_BYTES + len(text.encode()) + NODE_BYTES * nodes


class BoundedCache(Generic[V]):
    """An LRU of values by digest whose estimated sizes add up to at most `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.entries: LRUCache[bytes, tuple[int, V]] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda entry: entry[0]
        )

    @property
    def size(self) -> int:
        return int(self.entries.currsize)

    def get(self, key: bytes) -> V | None:
        found = self.entries.get(key)
        return None if found is None else found[1]

    def put(self, key: bytes, value: V, size: int) -> None:
        if size <= self.entries.maxsize:  # one entry larger than the whole cache is not kept
            self.entries[key] = (size, value)

    def get_or_make(self, key: bytes, make: Callable[[], tuple[V, int]]) -> V:
        found = self.entries.get(key)
        if found is not None:
            return found[1]
        value, size = make()
        self.put(key, value, size)
        return value
