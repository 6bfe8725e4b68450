"""An encoder lost while it runs a chunk, two ways:

- frozen (SIGSTOP: a hung machine, its connection still open): Prefect keeps that task run
  RUNNING forever (task runs have no heartbeat), so the parent gives the chunk up at its
  deadline, marks the run CRASHED and submits the chunk again; the other encoder takes it;
- killed (SIGKILL): the encoder had not acknowledged the run it was running (it acknowledges
  a run when it has room for the next), so Prefect's server puts that run back in the queue
  and the other encoder runs it at once; the deadline is there if that does not happen.

Either way the video ends READY, having lost at most one chunk and its deadline."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import time
from pathlib import Path

import psutil
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterTags
from prefect.client.schemas.objects import StateType

from streamify.devtools.clips import synthetic_clip
from streamify.infra.settings import Settings
from streamify.pipelines.transcode.chunk_runs import video_tag
from streamify.pipelines.transcode.flow import transcode_video
from streamify.services import Services
from tests.faults.conftest import FaultTable
from tests.faults.helpers import assert_one_complete_stream, outcome
from tests.helpers import followed
from tests.pipelines.prefect import uploaded_video
from tests.servers import Encoders

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(300),
    pytest.mark.slow,
]

MIN_DEADLINE = 4.0
FACTOR = 2.0


def _running_ffmpeg(pid: int) -> bool:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    return any(child.name() == "ffmpeg" for child in children)


@pytest.mark.parametrize("fault", ["frozen", "killed"])
async def test_an_encoder_lost_mid_chunk_costs_one_chunk_and_its_deadline(
    fault: str,
    prefect_server: None,
    worker_env: Settings,
    encoders: Encoders,
    services: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault_table: FaultTable,
) -> None:
    monkeypatch.setenv("STREAMIFY_TRANSCODE_CHUNK_MIN_DEADLINE_SECONDS", str(MIN_DEADLINE))
    monkeypatch.setenv("STREAMIFY_TRANSCODE_CHUNK_DEADLINE_FACTOR", str(FACTOR))
    video_id = await uploaded_video(
        services, synthetic_clip(tmp_path / "clip.mp4", size="1280x720", seconds=36)
    )
    playable = asyncio.Event()

    async def watch() -> None:
        async with followed(services, video_id) as live:
            async for event in live:
                if event.step == "PLAYABLE":
                    playable.set()
                    return

    watcher = asyncio.create_task(watch())
    run = asyncio.create_task(transcode_video(str(video_id)))
    await asyncio.wait_for(playable.wait(), 120)
    await watcher
    # The rest of the ladder is on the encoders now: kill one while its ffmpeg runs a chunk.
    victim = None
    async with asyncio.timeout(60):
        while victim is None:
            victim = next((p for p in encoders.alive() if _running_ffmpeg(p.pid)), None)
            await asyncio.sleep(0.05)
    # The encoder and its ffmpeg.
    os.killpg(victim.pid, signal.SIGSTOP if fault == "frozen" else signal.SIGKILL)
    killed_at = time.monotonic()
    try:
        assert await asyncio.wait_for(run, 240) == str(video_id)
        ready_after = time.monotonic() - killed_at
    finally:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        encoders.start()  # the session keeps two

    assert (await outcome(services, video_id)).status == "READY"
    objects = await assert_one_complete_stream(services, video_id)
    async with get_client() as client:
        mine = await client.read_task_runs(
            task_run_filter=TaskRunFilter(tags=TaskRunFilterTags(all_=[video_tag(str(video_id))]))
        )
    crashed = [
        r
        for r in mine
        if r.state is not None
        and r.state.type is StateType.CRASHED
        and "deadline" in (r.state.message or "")
    ]
    if fault == "killed" and not crashed:
        # Put back by the server and run by the other encoder: nothing waited for a deadline.
        fault_table.add(
            "an encoder SIGKILLed mid-chunk",
            "Prefect puts its unacknowledged run back; the other encoder runs it; READY",
            ready_after,
            objects,
            0,
        )
        return
    # The lost encoder's chunk was given up at its deadline and run again (an encoder holds
    # only the run it is running).
    assert len(crashed) == 1, [(r.name, r.state) for r in mine]
    completed = [
        (r.end_time - r.start_time).total_seconds()
        for r in mine
        if r.state is not None
        and r.state.type is StateType.COMPLETED
        and r.start_time is not None
        and r.end_time is not None
    ]
    # The chunk it ran started first (marking the held one crashed stamps a start time too).
    lost = min(crashed, key=lambda r: r.start_time.timestamp() if r.start_time else math.inf)
    assert lost.state is not None and lost.start_time is not None
    given_up_after = (lost.state.timestamp - lost.start_time).total_seconds()
    assert given_up_after >= MIN_DEADLINE
    # Its deadline: FACTOR x the longest chunk of its group (or of the lowest rung's, scaled
    # by the work: at most 3x here), never the step limit of minutes.
    assert given_up_after <= max(MIN_DEADLINE, FACTOR * 3 * max(completed)) + 2
    fault_table.add(
        f"an encoder {'SIGSTOPped' if fault == 'frozen' else 'SIGKILLed'} mid-chunk"
        " (task run left RUNNING)",
        "the chunk's deadline passes; its run is marked CRASHED and the chunk runs again; READY",
        ready_after,
        objects,
        0,
    )
