"""An encoder takes a run only when it can start it: a busy encoder leaves the next run in the
queue for one with room (Prefect's own task worker would hold it until its current run ends)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from uuid import UUID

from prefect import task
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType, TaskRun

from streamify.pipelines.transcode.encoder_worker import RoomFirstWorker, serve
from tests.servers import Encoders


@task
async def hold(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


async def _workers_subscribed(count: int) -> None:
    deadline = time.monotonic() + 20
    async with get_client() as client:
        while True:
            found = await client._client.post(
                "/task_workers/filter",
                json={"task_worker_filter": {"task_keys": [hold.task_key]}},
            )
            if len(found.json()) >= count:
                return
            assert time.monotonic() < deadline, "the encoders never subscribed"
            await asyncio.sleep(0.1)


async def _run_when(run_id: UUID, done: Callable[[TaskRun], bool]) -> TaskRun:
    deadline = time.monotonic() + 30
    async with get_client() as client:
        while True:
            found = await client.read_task_run(run_id)
            if done(found):
                return found
            assert time.monotonic() < deadline, f"task run {run_id} is {found.state}"
            await asyncio.sleep(0.1)


def _in(kind: StateType) -> Callable[[TaskRun], bool]:
    return lambda run: run.state is not None and run.state.type is kind


async def test_a_busy_encoder_leaves_the_next_run_to_one_with_room(prefect_server: None) -> None:
    busy = asyncio.create_task(serve(RoomFirstWorker(hold, limit=1)))
    idle: asyncio.Task[None] | None = None
    try:
        await _workers_subscribed(1)
        long = await asyncio.to_thread(hold.apply_async, kwargs={"seconds": 5.0})
        short = await asyncio.to_thread(hold.apply_async, kwargs={"seconds": 0.1})
        await _run_when(long.task_run_id, _in(StateType.RUNNING))
        await asyncio.sleep(1.0)  # time enough for the busy encoder to take the next run
        short_run = await _run_when(short.task_run_id, lambda run: True)
        assert short_run.state is not None
        assert short_run.state.type is StateType.SCHEDULED, "the busy encoder took it"

        idle = asyncio.create_task(serve(RoomFirstWorker(hold, limit=1)))
        short_run = await _run_when(short.task_run_id, _in(StateType.COMPLETED))
        long_run = await _run_when(long.task_run_id, _in(StateType.COMPLETED))
        assert short_run.end_time is not None and long_run.end_time is not None
        # The second encoder ran it while the first was still busy.
        assert short_run.end_time < long_run.end_time
    finally:
        for worker in (busy, idle):
            if worker is not None:
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)


def test_an_encoder_stopped_by_sigterm_logs_no_traceback(encoders: Encoders) -> None:
    """Issue 36.5: every clean shutdown wrote a full traceback ending in StopTaskWorker."""
    proc = encoders.start()
    log = encoders.logs / f"encoder-{len(encoders.procs)}.log"
    deadline = time.monotonic() + 60
    while "Starting task worker" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the encoder did not start"
        time.sleep(0.2)
    proc.terminate()
    assert proc.wait(timeout=60) == 0
    text = log.read_text()
    assert "encoder stopped" in text
    assert "Traceback" not in text and "StopTaskWorker" not in text, text[-2000:]
