"""Fixtures of the fault-injection suite: a loopback listener that records connections, and
the table of what each fault led to (printed at the end of the session, written to
bench/results/faults.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from streamify.devtools.local import free_port

ROWS: list[tuple[str, str, float, int, int]] = []
TABLE = Path(__file__).resolve().parents[2] / "bench" / "results" / "faults.md"


class FaultTable:
    def add(self, fault: str, happened: str, seconds: float, objects: int, rows: int) -> None:
        ROWS.append((fault, happened, seconds, objects, rows))


@pytest.fixture(scope="session")
def fault_table() -> Iterator[FaultTable]:
    yield FaultTable()
    if not ROWS:
        return
    lines = [
        "| fault | what happened | seconds to READY/FAILED | objects left | PROCESSING rows left |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {f} | {h} | {s:.1f} | {o} | {r} |" for f, h, s, o, r in ROWS),
    ]
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[str]]]:
    """A TCP server on loopback that records every connection made to it."""
    seen: list[str] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(str(writer.get_extra_info("peername")))
        writer.close()

    port = free_port()
    server = await asyncio.start_server(record, "127.0.0.1", port)
    async with server:
        yield port, seen
