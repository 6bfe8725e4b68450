"""Waiting on a chunk's task run: Prefect's future raises while the run has no state yet
(created, not yet given one), which is a run still pending, not a failure of the video.
Seen when six flows submitted their chunks at once (tests/security/test_fair_transcoding.py
failed on it once)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from streamify.pipelines.transcode import chunk_runs


class Future:
    def __init__(self, error: str | None) -> None:
        self.error = error
        self.waits = 0

    async def wait_async(self, timeout: float | None = None) -> None:
        self.waits += 1
        if self.error is not None:
            raise RuntimeError(self.error)


async def test_a_run_without_a_state_yet_is_waited_for_like_a_pending_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chunk_runs, "POLL_SECONDS", 0.01)
    pending = Future("Task run 1 has no state which means it hasn't started yet.")
    await chunk_runs.wait_for_run(cast(Any, pending))
    assert pending.waits == 1
    with pytest.raises(RuntimeError, match="something else"):
        await chunk_runs.wait_for_run(cast(Any, Future("something else")))
