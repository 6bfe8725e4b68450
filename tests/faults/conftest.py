"""The fault-injection suite's table of what each fault led to: printed at the end of the
session and written to bench/results/faults.md."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
