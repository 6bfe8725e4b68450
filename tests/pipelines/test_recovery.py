"""Recovery of videos no run holds: started again with backoff, given up after too many
attempts with a reason. (A worker killed mid-run: tests/faults/test_worker_faults.py.)"""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from streamify.devtools.clips import synthetic_clip
from streamify.devtools.local import free_port
from streamify.infra.settings import Settings
from streamify.pipelines.sweeps.stalled_videos import GAVE_UP, restart_stalled, retry_delay
from streamify.pipelines.triggers.event_intake import EventIntake, StoredObject
from streamify.services import Services
from tests.helpers import insert_runs, insert_user
from tests.pipelines.prefect import uploaded_video


def recording_intake(services: Services, bucket: str) -> tuple[EventIntake, list[uuid.UUID]]:
    """An intake that records the videos it would start, instead of starting runs."""
    started: list[uuid.UUID] = []

    async def record(vid: uuid.UUID, obj: StoredObject) -> None:
        started.append(vid)

    return EventIntake(services.db, raw_bucket=bucket, start_processing=record), started


async def insert_idle_video(
    services: Services,
    owner: uuid.UUID,
    status: str,
    idle: timedelta,
    *,
    failure_reason: str | None = None,
) -> uuid.UUID:
    """A video in `status` whose last change was `idle` ago."""
    video_id = uuid.uuid4()
    await services.db.pool.execute(
        "INSERT INTO videos (id, owner_id, title, status, updated_at, failure_reason)"
        " VALUES ($1, $2, 'x', $3, now() - $4::interval, $5)",
        video_id,
        owner,
        status,
        idle,
        failure_reason,
    )
    return video_id


pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    # The flow's chunks run on the session's encoders.
    pytest.mark.usefixtures("encoders"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(300),
]


async def _status(services: Services, video_id: uuid.UUID) -> str:
    return str(await services.db.pool.fetchval("SELECT status FROM videos WHERE id = $1", video_id))


async def test_a_video_that_keeps_stalling_ends_failed(
    settings: Settings, services: Services
) -> None:
    fast = settings.model_copy(
        update={"processing_heartbeat_seconds": 0.5, "processing_max_attempts": 2}
    )
    owner = await insert_user(services.db.pool)
    # Last changed an hour ago: no worker has touched it for far longer than its heartbeat.
    video_id = await insert_idle_video(services, owner, "PROCESSING", timedelta(hours=1))
    await insert_runs(services.db.pool, video_id, 2)
    intake, started = recording_intake(services, fast.s3_raw_bucket)
    assert await restart_stalled(services.writes, services.events, intake, fast) == 1
    row = await services.db.pool.fetchrow(
        "SELECT status, failure_reason FROM videos WHERE id = $1", video_id
    )
    assert row is not None and (row["status"], row["failure_reason"]) == ("FAILED", GAVE_UP)
    assert started == []


async def test_a_video_given_up_on_says_what_failed_last(
    settings: Settings, services: Services
) -> None:
    fast = settings.model_copy(
        update={"processing_heartbeat_seconds": 0.5, "processing_max_attempts": 2}
    )
    owner = await insert_user(services.db.pool)
    video_id = await insert_idle_video(
        services,
        owner,
        "PROCESSING",
        timedelta(hours=1),
        failure_reason="The publish step failed on our side (EndpointConnectionError).",
    )
    await insert_runs(services.db.pool, video_id, 2)
    intake, _ = recording_intake(services, fast.s3_raw_bucket)
    assert await restart_stalled(services.writes, services.events, intake, fast) == 1
    reason = await services.db.pool.fetchval(
        "SELECT failure_reason FROM videos WHERE id = $1", video_id
    )
    assert reason == (
        "Processing stopped 2 times; the last time: The publish step failed on our side"
        " (EndpointConnectionError). Upload the video again or contact support."
    )


async def test_a_video_whose_run_never_started_is_started_again(
    settings: Settings, services: Services
) -> None:
    owner = await insert_user(services.db.pool)
    stuck = await insert_idle_video(services, owner, "UPLOADED", timedelta(hours=1))
    await insert_idle_video(services, owner, "UPLOADED", timedelta(0))
    intake, started = recording_intake(services, settings.s3_raw_bucket)
    assert await restart_stalled(services.writes, services.events, intake, settings) == 1
    assert started == [stuck]


async def test_a_run_that_fails_on_our_side_hands_the_video_back_for_a_retry(
    prefect_server: None,
    worker_env: Settings,
    services: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    video_id = await uploaded_video(
        services, synthetic_clip(tmp_path / "clip.mp4", size="320x240", seconds=2)
    )
    # Object storage stops answering before the download: a transient failure.
    monkeypatch.setenv("STREAMIFY_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    from prefect.client.schemas.objects import StateType

    from streamify.pipelines.transcode.flow import transcode_video

    state = await transcode_video(str(video_id), return_state=True)
    assert state.type is StateType.FAILED  # the run; not the video
    row = await services.db.pool.fetchrow(
        "SELECT status, failure_reason FROM videos WHERE id = $1", video_id
    )
    # Still PROCESSING; why this run failed is kept for the reason it may end with.
    assert row is not None and row["status"] == "PROCESSING"
    assert row["failure_reason"] == "The probe step failed on our side (EndpointConnectionError)."
    assert not await services.events.is_alive(video_id)  # the sweep need not wait for it


def test_retries_back_off_with_a_spread_of_their_own() -> None:
    video = uuid.uuid4()
    delays = [retry_delay(n, base_seconds=120, video_id=video) for n in range(1, 7)]
    assert 0.8 * 120 <= delays[0] <= 1.2 * 120
    # Doubling with every run until the hour's cap, each with this video's own spread.
    assert [round(b / a, 6) for a, b in itertools.pairwise(delays[:5])] == [2.0] * 4
    assert delays[-1] <= 1.2 * 3600
    assert retry_delay(1, base_seconds=120, video_id=video) == delays[0]
    spread = {retry_delay(1, base_seconds=120, video_id=uuid.uuid4()) for _ in range(50)}
    assert len(spread) > 10 and min(spread) >= 96 and max(spread) <= 144


async def test_a_stalled_video_waits_out_its_backoff(
    settings: Settings, services: Services
) -> None:
    owner = await insert_user(services.db.pool)
    # Two runs so far: with a 60 s base the third is due 2 min (±20 %) after the last change.
    resting = await insert_idle_video(services, owner, "PROCESSING", timedelta(seconds=90))
    due = await insert_idle_video(services, owner, "PROCESSING", timedelta(minutes=10))
    for video_id in (resting, due):
        await insert_runs(services.db.pool, video_id, 2)
    intake, started = recording_intake(services, settings.s3_raw_bucket)
    sweep = settings.model_copy(
        update={"processing_heartbeat_seconds": 30.0, "processing_max_attempts": 5}
    )
    assert await restart_stalled(services.writes, services.events, intake, sweep) == 1
    assert started == [due]
