"""The access log: one JSON line per request, written without Python logging's per-record
machinery on the request path (issue 26). A request only encodes its line into a buffer
(msgspec, into the buffer's end); a task writes the buffer out every quarter second, in a
thread, so a slow log pipe never holds up the event loop. The path is logged without its
query string: a GET /graphql carries the document and its variables there."""

from __future__ import annotations

import asyncio
import contextlib
import os

import msgspec


class AccessRecord(msgspec.Struct):
    time: float
    method: str
    path: str
    status: int
    ms: float
    bytes: int
    request_id: str
    client: str


class AccessLog:
    def __init__(
        self, fd: int = 1, *, interval: float = 0.25, flush_bytes: int = 1024 * 1024
    ) -> None:
        """`fd`: where lines go (stdout); more than `flush_bytes` waiting is written at once."""
        self.fd = fd
        self.interval = interval
        self.flush_bytes = flush_bytes
        self.buffer = bytearray()
        self._encoder = msgspec.json.Encoder()

    def write(self, record: AccessRecord) -> None:
        buffer = self.buffer
        self._encoder.encode_into(record, buffer, len(buffer))
        buffer += b"\n"
        if len(buffer) > self.flush_bytes:  # the flusher fell behind: never hold more
            self._write_all(self._take())

    def _take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    async def flush(self) -> None:
        if self.buffer:
            await asyncio.to_thread(self._write_all, self._take())

    async def run(self) -> None:
        """Write what requests logged every `interval`, until cancelled (then once more)."""
        try:
            while True:
                await asyncio.sleep(self.interval)
                with contextlib.suppress(OSError):
                    await self.flush()
        finally:
            with contextlib.suppress(OSError):
                self._write_all(self._take())
