"""Faults during a transcoding run, injected at a chosen step of the real flow (real Prefect,
ffmpeg, S3, PostgreSQL, Redis): each ends READY, or FAILED with the right reason, with one
complete set of objects or none, and no run left RUNNING."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
from prefect.client.schemas.objects import StateType

from streamify.devtools.clips import synthetic_clip
from streamify.infra.settings import Settings
from streamify.pipelines.transcode.flow import transcode_video
from streamify.services import Services
from tests.faults.conftest import FaultTable
from tests.faults.helpers import assert_one_complete_stream, at_step, flow_run_states, outcome
from tests.helpers import gql, lists_naming_other_files, token_for
from tests.pipelines.prefect import uploaded_video

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    # The flow's chunks run on the session's encoders.
    pytest.mark.usefixtures("encoders"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(300),
    pytest.mark.slow,
]


def _clip(tmp_path: Path) -> Path:
    return synthetic_clip(tmp_path / "clip.mp4", size="640x360", seconds=4)


@pytest.mark.parametrize("step", ["encode", "PLAYABLE"])
async def test_a_run_that_lost_its_video_writes_nothing_and_one_run_finishes_it(
    step: str,
    prefect_server: None,
    prefect_url: str,
    worker_env: Settings,
    services: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault_table: FaultTable,
) -> None:
    """Another run takes the video over while this one is at `step` (the recovery sweep
    thought it dead): this run stops before its next write, leaves the video as it is (not
    FAILED, not READY), and the other run finishes it."""
    video_id = await uploaded_video(services, _clip(tmp_path))
    started = time.monotonic()

    async def take_over() -> None:
        await services.db.pool.execute(
            "UPDATE videos SET processing_run = 'another-run' WHERE id = $1", video_id
        )

    fired = at_step(monkeypatch, step, take_over)
    lost = await transcode_video(str(video_id), return_state=True)
    assert fired.is_set() and lost.type is StateType.FAILED
    after = await outcome(services, video_id)
    assert (after.status, after.reason) == ("PROCESSING", None)
    if step == "encode":
        assert after.objects == []  # stopped before publishing anything
    monkeypatch.undo()
    worker_env_again(monkeypatch, worker_env)
    finished = await transcode_video(str(video_id), return_state=True)
    assert finished.type is StateType.COMPLETED
    done = await outcome(services, video_id)
    assert done.status == "READY"
    objects = await assert_one_complete_stream(services, video_id)
    assert await flow_run_states(prefect_url, video_id) == ["FAILED", "COMPLETED"]
    fault_table.add(
        f"another run takes the video over during {step}",
        "the first run stops before writing (video not FAILED); the second makes it READY",
        time.monotonic() - started,
        objects,
        0,
    )


def worker_env_again(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    from streamify.devtools.local import service_env

    for name, value in service_env(settings).items():
        monkeypatch.setenv(name, value)


async def test_postgres_connections_dropped_mid_run_still_end_ready(
    prefect_url: str,
    worker_env: Settings,
    services: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault_table: FaultTable,
) -> None:
    video_id = await uploaded_video(services, _clip(tmp_path))
    started = time.monotonic()
    terminated: list[int] = []

    async def drop_every_connection() -> None:
        conn = await asyncpg.connect(worker_env.database_url)
        try:
            pids = await conn.fetch(
                "SELECT pg_terminate_backend(pid) AS done, pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            terminated.extend(r["pid"] for r in pids if r["done"])
        finally:
            await conn.close()

    at_step(monkeypatch, "encode", drop_every_connection)
    state = await transcode_video(str(video_id), return_state=True)
    assert terminated, "no connection was dropped"
    assert state.type is StateType.COMPLETED
    conn = await asyncpg.connect(worker_env.database_url)
    try:
        status = await conn.fetchval("SELECT status FROM videos WHERE id = $1", video_id)
    finally:
        await conn.close()
    assert status == "READY"
    objects = await assert_one_complete_stream(services, video_id)
    assert await flow_run_states(prefect_url, video_id) == ["COMPLETED"]
    fault_table.add(
        f"PostgreSQL backends terminated mid-encode ({len(terminated)} connections)",
        "READY: later steps open new connections",
        time.monotonic() - started,
        objects,
        0,
    )


@pytest.mark.parametrize("step", ["encode", "PLAYABLE"])
async def test_a_video_deleted_while_processing_leaves_no_objects(
    step: str,
    prefect_url: str,
    worker_env: Settings,
    services: Services,
    client: httpx.AsyncClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault_table: FaultTable,
) -> None:
    """Deleted during encoding, the run stops before publishing; deleted once `publish` has
    checked the video (its uploads then race the delete), the run removes what it wrote."""
    video_id = await uploaded_video(services, _clip(tmp_path))
    owner = await services.db.pool.fetchval("SELECT owner_id FROM videos WHERE id = $1", video_id)
    token = token_for(services.settings, owner)
    started = time.monotonic()

    async def delete() -> None:
        body = await gql(
            client,
            "mutation($id: ID!) { deleteVideo(id: $id) }",
            {"id": str(video_id)},
            token=token,
        )
        assert body["data"]["deleteVideo"] == str(video_id)

    fired = at_step(monkeypatch, step, delete)
    state = await transcode_video(str(video_id), return_state=True)
    assert fired.is_set() and state.type is StateType.FAILED
    after = await outcome(services, video_id)
    assert (after.status, after.objects, after.uploads) == (None, [], [])
    assert await flow_run_states(prefect_url, video_id) == ["FAILED"]  # stopped, not RUNNING
    fault_table.add(
        f"deleteVideo during {step}",
        "the run stops; nothing published (or what it published removed)",
        time.monotonic() - started,
        0,
        0,
    )


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


NOT_A_VIDEO = "The uploaded file is not a video we can read."


async def test_hostile_uploads_end_failed_with_their_reason_within_seconds(
    prefect_url: str,
    worker_env: Settings,
    services: Services,
    tmp_path: Path,
    listener: tuple[int, list[str]],
    fault_table: FaultTable,
) -> None:
    port, seen = listener
    segment = synthetic_clip(tmp_path / "real.mp4", size="320x240", seconds=2, audio=False)
    hls, concat = lists_naming_other_files(tmp_path, port, segment)
    text = tmp_path / "notes.txt"
    text.write_text("this is not a video\n" * 100)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(segment.read_bytes()[: segment.stat().st_size // 3])
    eight_hours = tmp_path / "long.mp4"  # a still frame every 10 s: made in a fraction of a second
    _ffmpeg("-f", "lavfi", "-i", "color=c=black:s=64x64:r=1/10", "-t", "28800", "-c:v", "libx264",
            "-preset", "ultrafast", str(eight_hours))  # fmt: skip
    cases = {
        "an HLS playlist naming a listener and /etc/passwd": (hls, {NOT_A_VIDEO}),
        "an ffconcat list naming a listener and /etc/passwd": (concat, {NOT_A_VIDEO}),
        "a text file": (text, {NOT_A_VIDEO}),
        "a truncated MP4": (truncated, {NOT_A_VIDEO, "The uploaded video has no playable frames."}),
        "an 8-hour static clip": (
            eight_hours,
            {"The video is 8.0 h long; at most 4.0 h is accepted."},
        ),
    }
    for what, (path, reasons) in cases.items():
        video_id = await uploaded_video(services, path)
        started = time.monotonic()
        state = await transcode_video(str(video_id), return_state=True)
        took = time.monotonic() - started
        assert state.type is StateType.FAILED, what
        after = await outcome(services, video_id)
        assert after.status == "FAILED" and after.reason in reasons, (what, after.reason)
        assert after.objects == [], what
        assert took < 30, (what, took)
        assert await flow_run_states(prefect_url, video_id) == ["FAILED"], what
        fault_table.add(f"upload: {what}", f"FAILED: {after.reason}", took, 0, 0)
    assert seen == []  # nothing ever connected to the listener
    processing = await services.db.pool.fetchval(
        "SELECT count(*) FROM videos WHERE status = 'PROCESSING'"
    )
    assert processing == 0
