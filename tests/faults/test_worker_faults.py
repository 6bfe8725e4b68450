"""Faults around the worker process and orchestration: the worker killed mid-encode, the
Prefect API gone when the upload completes. Each ends READY with one complete set of objects,
and no run left RUNNING in Prefect."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from streamify.devtools.clips import synthetic_clip
from streamify.devtools.local import worker_process
from streamify.infra.settings import Settings
from streamify.pipelines.sweeps.stalled_videos import restart_stalled
from streamify.pipelines.triggers.event_intake import EventIntake
from streamify.pipelines.triggers.processing_starter import prefect_crash_marker, prefect_starter
from streamify.services import Services
from tests.faults.conftest import FaultTable
from tests.faults.helpers import (
    assert_one_complete_stream,
    flow_run_states,
    outcome,
    upload_event,
    wait_for,
)
from tests.helpers import followed
from tests.pipelines.prefect import uploaded_video, wait_for_deployment

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    # The flow's chunks run on the session's encoders.
    pytest.mark.usefixtures("encoders"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(300),
    pytest.mark.slow,
]


async def test_a_worker_killed_mid_encode_is_replaced_and_its_run_marked_crashed(
    prefect_url: str,
    settings: Settings,
    services: Services,
    tmp_path: Path,
    fault_table: FaultTable,
) -> None:
    fast = settings.model_copy(
        update={"prefect_api_url": prefect_url, "processing_heartbeat_seconds": 1.0}
    )
    intake = EventIntake(
        services.db, raw_bucket=fast.s3_raw_bucket, start_processing=prefect_starter(prefect_url)
    )
    video_id = await uploaded_video(
        services, synthetic_clip(tmp_path / "long.mp4", size="1280x720", seconds=40)
    )
    encoding = asyncio.Event()

    async def watch() -> None:
        async with followed(services, video_id) as live:
            async for event in live:
                if event.step == "encode" and (event.progress or 0) > 0:
                    encoding.set()
                    return

    watcher = asyncio.create_task(watch())
    with worker_process(fast, tmp_path / "first.log") as first:
        await wait_for_deployment(prefect_url, first, tmp_path / "first.log")
        await intake.handle([upload_event(fast, video_id, "first")])
        await asyncio.wait_for(encoding.wait(), 120)
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its flow process, mid-encode
        first.wait()
    killed_at = time.monotonic()
    await watcher
    assert (await outcome(services, video_id)).status == "PROCESSING"
    assert await flow_run_states(prefect_url, video_id) == ["RUNNING"]  # as Prefect was left

    mark = prefect_crash_marker(prefect_url)
    with worker_process(fast, tmp_path / "second.log"):
        # The dead worker's heartbeat lapses after twice its interval; then it is restarted.
        async with asyncio.timeout(30):
            while not await restart_stalled(
                services.writes, services.events, intake, fast, mark_crashed=mark
            ):
                await asyncio.sleep(0.2)

        async def finished() -> bool:
            # The row first, then the run's own end (the worker must not be stopped before).
            if (await outcome(services, video_id)).status not in ("READY", "FAILED"):
                return False
            return (await flow_run_states(prefect_url, video_id))[-1] != "RUNNING"

        try:
            await wait_for(finished, seconds=180, what="the second run")
        except AssertionError as exc:
            # What the second worker did, for whoever reads a failed CI run.
            tail = (tmp_path / "second.log").read_text(errors="replace")[-6000:]
            raise AssertionError(f"{exc}\n--- second worker's log (end) ---\n{tail}") from exc
    took = time.monotonic() - killed_at
    assert (await outcome(services, video_id)).status == "READY"
    objects = await assert_one_complete_stream(services, video_id)
    assert await flow_run_states(prefect_url, video_id) == ["CRASHED", "COMPLETED"]
    assert not await services.events.is_alive(video_id)
    fault_table.add(
        "worker SIGKILLed mid-encode, a new worker started",
        "the sweep marks the run CRASHED and starts another; READY",
        took,
        objects,
        0,
    )
