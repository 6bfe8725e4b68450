"""A dependency that goes away and comes back while a video is processed: object storage for
15 s during publish, the Prefect API for 30 s when the upload completes, Redis cut mid-encode
(as a restart drops every connection). Each is cut at a loopback TCP proxy in front of the real
server (refusing and dropping connections as a dead server does) and restored on the same port;
each video ends READY, with one complete set of objects, and nothing stays PROCESSING."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from prefect.client.schemas.objects import StateType

from streamify.devtools.clips import synthetic_clip
from streamify.devtools.local import service_env, worker_process
from streamify.domain import VideoStatus
from streamify.infra.settings import Settings
from streamify.pipelines.sweeps.stalled_videos import ORCHESTRATION_DOWN, restart_stalled
from streamify.pipelines.transcode.flow import transcode_video
from streamify.pipelines.triggers.event_intake import EventIntake, StoredObject
from streamify.pipelines.triggers.processing_starter import prefect_starter
from streamify.services import Services, open_services
from tests.faults.conftest import FaultTable
from tests.faults.helpers import (
    assert_one_complete_stream,
    at_step,
    flow_run_states,
    outcome,
    upload_event,
    wait_for,
)
from tests.helpers import collect_events
from tests.pipelines.prefect import uploaded_video, wait_for_deployment
from tests.servers import TcpProxy

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    # The flow's chunks run on the session's encoders.
    pytest.mark.usefixtures("encoders"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(300),
    pytest.mark.slow,
]


def _behind(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))


@contextlib.asynccontextmanager
async def proxied(url: str) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 80).start()
    try:
        yield proxy
    finally:
        with contextlib.suppress(AssertionError):
            await proxy.cut()


def _use(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The worker's tasks read their settings from the environment."""
    for name, value in service_env(settings).items():
        monkeypatch.setenv(name, value)


def _restore_after(proxy: TcpProxy, seconds: float) -> asyncio.Task[None]:
    async def later() -> None:
        await asyncio.sleep(seconds)
        await proxy.restore()

    return asyncio.create_task(later())


async def _in_process_runs(
    services: Services, settings: Settings, runs: list[asyncio.Task[Any]]
) -> EventIntake:
    """An intake that starts each run of the flow in this process (as the worker would)."""

    async def run(video_id: uuid.UUID) -> Any:
        return await transcode_video(str(video_id), return_state=True)

    async def start(video_id: uuid.UUID, obj: StoredObject) -> None:
        runs.append(asyncio.create_task(run(video_id)))

    return EventIntake(services.db, raw_bucket=settings.s3_raw_bucket, start_processing=start)


async def test_object_storage_gone_for_15_seconds_during_publish(
    prefect_url: str,
    settings: Settings,
    services: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault_table: FaultTable,
) -> None:
    assert settings.s3_endpoint_url is not None
    video_id = await uploaded_video(
        services, synthetic_clip(tmp_path / "clip.mp4", size="640x360", seconds=4)
    )
    async with proxied(settings.s3_endpoint_url) as s3:
        fast = settings.model_copy(
            update={
                "s3_endpoint_url": _behind(settings.s3_endpoint_url, s3),
                "processing_heartbeat_seconds": 1.0,
            }
        )
        _use(monkeypatch, fast)
        restored: list[asyncio.Task[None]] = []
        cut_at: list[float] = []

        async def cut() -> None:
            await s3.cut()
            cut_at.append(time.monotonic())
            restored.append(_restore_after(s3, 15))

        at_step(monkeypatch, "PLAYABLE", cut)
        first = await transcode_video(str(video_id), return_state=True)
        runs: list[asyncio.Task[Any]] = []
        if first.type is not StateType.COMPLETED:
            # The run handed the video back (transient); the recovery sweep starts another.
            assert (await outcome(services, video_id)).status == "PROCESSING"
            await restored[0]
            intake = await _in_process_runs(services, fast, runs)

            async def restarted() -> bool:
                return bool(await restart_stalled(services.writes, services.events, intake, fast))

            await wait_for(restarted, seconds=30, what="the sweep")
            assert (await runs[0]).type is StateType.COMPLETED
        took = time.monotonic() - cut_at[0]
    assert (await outcome(services, video_id)).status == "READY"
    objects = await assert_one_complete_stream(services, video_id)
    assert "RUNNING" not in await flow_run_states(prefect_url, video_id)
    path = "the run's retries outlasted it" if not runs else "handed back, the sweep ran it again"
    fault_table.add(
        "object storage unavailable for 15 s during publish", f"READY ({path})", took, objects, 0
    )


async def test_the_prefect_api_gone_when_the_upload_completes_back_30_seconds_later(
    prefect_url: str,
    settings: Settings,
    services: Services,
    tmp_path: Path,
    fault_table: FaultTable,
) -> None:
    # Restarts back off from twice the heartbeat: a short one keeps the test short.
    fast = settings.model_copy(
        update={
            "prefect_api_url": prefect_url,
            "processing_start_grace_seconds": 1.0,
            "processing_heartbeat_seconds": 1.0,
        }
    )
    video_id = await uploaded_video(
        services, synthetic_clip(tmp_path / "clip.mp4", size="640x360", seconds=4)
    )
    with worker_process(fast, tmp_path / "worker.log") as worker:
        await wait_for_deployment(prefect_url, worker, tmp_path / "worker.log")
        async with proxied(prefect_url) as prefect:
            intake = EventIntake(
                services.db,
                raw_bucket=fast.s3_raw_bucket,
                start_processing=prefect_starter(_behind(prefect_url, prefect)),
            )
            await prefect.cut()
            down_at = time.monotonic()
            restored = _restore_after(prefect, 30)
            event = upload_event(fast, video_id, "e")
            with pytest.raises(ORCHESTRATION_DOWN):
                await intake.handle([event])  # the webhook answers 5xx: MinIO delivers again
            assert (await outcome(services, video_id)).status == "UPLOADED"

            async def started() -> bool:
                return bool(await restart_stalled(services.writes, services.events, intake, fast))

            await wait_for(started, seconds=60, what="a start once Prefect is back")
            assert restored.done()

            async def finished() -> bool:
                # The row first, then the run's own end (READY is committed just before it).
                if (await outcome(services, video_id)).status not in ("READY", "FAILED"):
                    return False
                states = await flow_run_states(prefect_url, video_id)
                return bool(states) and states[-1] != "RUNNING"

            await wait_for(finished, seconds=120, what="the run")
        took = time.monotonic() - down_at
    assert (await outcome(services, video_id)).status == "READY"
    objects = await assert_one_complete_stream(services, video_id)
    assert await flow_run_states(prefect_url, video_id) == ["COMPLETED"]
    fault_table.add(
        "Prefect API down when the upload completes, back 30 s later",
        "UPLOADED while down; the UPLOADED sweep starts it once Prefect answers; READY",
        took,
        objects,
        0,
    )


async def test_redis_gone_mid_encode_and_back(
    prefect_url: str,
    settings: Settings,
    clean_db: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault_table: FaultTable,
) -> None:
    async with proxied(settings.redis_url) as redis:
        behind = settings.model_copy(update={"redis_url": _behind(settings.redis_url, redis)})
        _use(monkeypatch, behind)
        async with open_services(behind, background_jobs=False) as services:
            await services.drop_listener_ready.wait()
            video_id = await uploaded_video(
                services, synthetic_clip(tmp_path / "clip.mp4", size="640x360", seconds=6)
            )
            seen: list[Any] = []
            subscribed = asyncio.Event()
            listening = asyncio.create_task(collect_events(services, video_id, seen, subscribed))
            await subscribed.wait()
            cut_at: list[float] = []

            async def restart_redis() -> None:
                await redis.cut()
                cut_at.append(time.monotonic())
                _restore_after(redis, 3)

            at_step(monkeypatch, "encode", restart_redis)
            state = await transcode_video(str(video_id), return_state=True)
            took = time.monotonic() - cut_at[0]
            assert state.type is StateType.COMPLETED
            await asyncio.wait_for(listening, 30)
            assert seen[-1].status is VideoStatus.READY  # the subscriber saw the end
            assert (await outcome(services, video_id)).status == "READY"
            objects = await assert_one_complete_stream(services, video_id)
            assert await flow_run_states(prefect_url, video_id) == ["COMPLETED"]
    fault_table.add(
        "Redis connections dropped mid-encode, back after 3 s",
        "READY; the subscriber reconnects and receives the final event",
        took,
        objects,
        0,
    )
