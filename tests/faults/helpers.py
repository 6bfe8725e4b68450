"""What the fault-injection tests check after each fault: the video's row, its objects (one
complete stream, or nothing), its runs in Prefect, its heartbeat; and the table they print."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from streamify.infra.storage import list_keys
from streamify.names import media_prefix, upload_prefix
from streamify.services import Services


@dataclass(frozen=True)
class Outcome:
    status: str | None  # None: no row
    reason: str | None
    objects: list[str]  # media objects, both spaces
    uploads: list[str]  # what is left in the raw bucket


async def outcome(services: Services, video_id: uuid.UUID) -> Outcome:
    row = await services.db.pool.fetchrow(
        "SELECT status, failure_reason FROM videos WHERE id = $1", video_id
    )
    storage = services.storage
    objects = []
    for signed in (False, True):
        prefix = media_prefix(video_id, signed=signed)
        objects += await list_keys(storage.client, storage.media_bucket, prefix)
    uploads = await list_keys(storage.client, storage.raw_bucket, upload_prefix(video_id))
    return Outcome(
        row["status"] if row else None, row["failure_reason"] if row else None, objects, uploads
    )


def _uris(playlist: str) -> list[str]:
    """Every URI a playlist names: its URI lines and its URI="…" attributes."""
    found = re.findall(r'URI="([^"]+)"', playlist)
    return found + [line for line in playlist.splitlines() if line and not line.startswith("#")]


async def assert_one_complete_stream(services: Services, video_id: uuid.UUID) -> int:
    """Every file the master playlist leads to is there, and nothing else but the thumbnails;
    returns how many objects the stream has."""
    storage = services.storage
    root = media_prefix(video_id)
    keys = set(await list_keys(storage.client, storage.media_bucket, root))
    master = (await storage.read_media(f"{root}hls/master.m3u8") or b"").decode()
    # The DASH manifest names the same files as the master.
    expected = {f"{root}hls/master.m3u8", f"{root}hls/manifest.mpd"}
    for playlist_uri in _uris(master):  # variant and audio playlists
        playlist_key = f"{root}hls/{playlist_uri}"
        expected.add(playlist_key)
        folder = playlist_key.rsplit("/", 1)[0]
        playlist = (await storage.read_media(playlist_key) or b"").decode()
        expected |= {f"{folder}/{uri}" for uri in _uris(playlist)}  # segments, init segment
    thumbs = {f"{root}thumbs/{name}" for name in ("poster.jpg", "storyboard.jpg", "storyboard.vtt")}
    assert len(expected) > 3, master
    assert keys == expected | thumbs, sorted(keys ^ (expected | thumbs))
    return len(keys)


async def flow_run_states(prefect_url: str, video_id: uuid.UUID) -> list[str]:
    """The state of every transcoding run of the video, oldest first."""
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.sorting import FlowRunSort

    async with PrefectClient(prefect_url) as client:
        runs = await client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=200)
    return [
        str(run.state.type.value) if run.state else "NONE"
        for run in runs
        if run.parameters.get("video_id") == str(video_id)
    ]


async def wait_for(check: Callable[[], Awaitable[bool]], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        await asyncio.sleep(0.25)


def at_step(
    monkeypatch: pytest.MonkeyPatch, step: str, action: Callable[[], Awaitable[Any]]
) -> asyncio.Event:
    """Run `action` once, in the flow, right after it reports `step` (the fault's moment)."""
    from streamify.pipelines.transcode import flow

    reported = flow.report
    fired = asyncio.Event()

    async def report_then_act(c: Any, vid: uuid.UUID, name: str, **kw: Any) -> None:
        await reported(c, vid, name, **kw)
        if name == step and not fired.is_set():
            fired.set()
            await action()

    monkeypatch.setattr(flow, "report", report_then_act)
    return fired


def upload_event(settings: Any, video_id: uuid.UUID, tag: str) -> Any:
    """The S3 ObjectCreated record of the video's uploaded source (`tag`: its version)."""
    from streamify.pipelines.triggers.event_intake import StoredObject

    key = f"uploads/{video_id}/source"
    return StoredObject(settings.s3_raw_bucket, key, "ObjectCreated:Put", 1, tag, None, None)
