"""The transcoding flow on a real Prefect server (the test harness), real ffmpeg, real S3,
PostgreSQL and Redis: an uploaded clip becomes a playable HLS ladder and READY, with status
events in order; a corrupt upload ends FAILED with a readable reason."""

from __future__ import annotations

import asyncio
import itertools
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamify.devtools.clips import synthetic_clip
from streamify.domain import VideoStatus
from streamify.infra.events import ProcessingEvent
from streamify.infra.settings import Settings
from streamify.pipelines.transcode import dash, media
from streamify.pipelines.transcode.flow import transcode_video
from streamify.services import Services
from streamify.writes.captions import CaptionWrites, prepared_caption
from tests.helpers import VIDEO_QUERY, collect_events, ffprobe_json, gql
from tests.hls_conformance import check_stream
from tests.pipelines.prefect import uploaded_video

# Prefect's temporary server (SQLite) leaves sockets and "database is locked" retries behind.
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(300),
    pytest.mark.slow,
]


async def test_an_upload_becomes_a_playable_hls_ladder(
    prefect_server: None,
    worker_env: Settings,
    services: Services,
    client: httpx.AsyncClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chunks on the session's two encoders; playable with its lowest rung first (the master
    names only it, the API gives a manifest, the video is still PROCESSING), then READY with
    every rung as CMAF with one audio rendition."""
    from streamify.pipelines.transcode import flow

    source = synthetic_clip(tmp_path / "clip.mp4", size="1280x720", seconds=26)
    video_id = await uploaded_video(services, source)
    # A caption added before the stream exists is published by the flow with it.
    captions = CaptionWrites(services.writes, services.storage, max_per_video=5)
    caption = prepared_caption(
        "WEBVTT\n\n00:00:01.000 --> 00:00:05.000\nEarly caption\n", language="fr", duration=None
    )
    await captions.put(video_id, language="fr", label="Français", caption=caption)
    seen: list[ProcessingEvent] = []
    subscribed = asyncio.Event()
    listener = asyncio.create_task(collect_events(services, video_id, seen, subscribed))
    await subscribed.wait()

    at_playable: dict[str, Any] = {}
    reported = flow.report

    async def snapshot(c: Any, vid: Any, step: str, **kw: Any) -> None:
        await reported(c, vid, step, **kw)
        if step == "PLAYABLE":
            at_playable["video"] = (await gql(client, VIDEO_QUERY, {"id": str(video_id)}))["data"][
                "video"
            ]
            at_playable["master"] = await services.storage.read_media(
                f"videos/{video_id}/hls/master.m3u8"
            )

    monkeypatch.setattr(flow, "report", snapshot)
    assert await transcode_video(str(video_id)) == str(video_id)
    await asyncio.wait_for(listener, 10)

    steps = [e.step for e in seen]
    assert steps[0] == "start" and steps[-1] == "done" and seen[-1].status is VideoStatus.READY
    assert steps.index("probe") < steps.index("encode") < steps.index("PLAYABLE")
    assert steps.index("PLAYABLE") < len(steps) - 1 - steps[::-1].index("ladder")
    progress = [e.progress or 0.0 for e in seen if e.step == "encode"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    # What the processing page shows under its bar says what is happening (issue 36.6).
    encoding = [e.message for e in seen if e.step == "encode" and e.message]
    assert encoding and encoding[-1].startswith("Encoding 240p: ")
    assert encoding[-1].endswith(" parts") and " of " in encoding[-1]
    playable = next(e.message for e in seen if e.step == "PLAYABLE")
    assert playable == "Playable in 240p; encoding the other qualities"

    early = at_playable["video"]
    assert early["status"] == "PROCESSING" and early["playable"] is True
    assert early["manifest"]["url"].endswith(f"/videos/{video_id}/hls/master.m3u8")
    assert [r["height"] for r in early["renditions"]] == [240]
    early_master = at_playable["master"].decode()
    assert early_master.count("#EXT-X-STREAM-INF") == 1 and "240p/index.m3u8" in early_master
    assert early_master.count("#EXT-X-I-FRAME-STREAM-INF") == 1
    assert 'URI="240p/iframes.m3u8"' in early_master

    body = await gql(client, VIDEO_QUERY, {"id": str(video_id)})
    video = body["data"]["video"]
    assert video["status"] == "READY" and video["playable"] is True
    assert abs(video["duration"] - 26) < 0.2
    assert video["manifest"]["url"].endswith(f"/videos/{video_id}/hls/master.m3u8")
    assert [r["height"] for r in video["renditions"]] == [720, 480, 360, 240]

    published = tmp_path / "published"
    storage = services.storage
    listing = await storage.client.list_objects_v2(
        Bucket=storage.media_bucket, Prefix=f"videos/{video_id}/"
    )
    for obj in listing["Contents"]:
        head = await storage.client.head_object(Bucket=storage.media_bucket, Key=obj["Key"])
        if obj["Key"].endswith("/master.m3u8"):
            assert head["CacheControl"] == "no-cache"  # rewritten as rungs and captions join
        elif obj["Key"].endswith(".m3u8"):
            assert head["ContentType"] == "application/vnd.apple.mpegurl"
            assert head["CacheControl"] == "public, max-age=10"
        elif obj["Key"].endswith(".m4s"):
            assert head["ContentType"] == "video/iso.segment"
            assert head["CacheControl"] == "public, max-age=31536000, immutable"
        got = await storage.client.get_object(Bucket=storage.media_bucket, Key=obj["Key"])
        target = published / obj["Key"]
        target.parent.mkdir(parents=True, exist_ok=True)
        async with got["Body"] as stream:
            target.write_bytes(await stream.read())
    hls = published / "videos" / str(video_id) / "hls"
    lines = (hls / "master.m3u8").read_text().splitlines()
    assert lines[0] == "#EXTM3U"
    [audio_line] = [line for line in lines if line.startswith("#EXT-X-MEDIA:TYPE=AUDIO")]
    assert 'URI="audio/index.m3u8"' in audio_line and 'GROUP-ID="audio"' in audio_line
    variants = [
        (info, uri)
        for info, uri in itertools.pairwise(lines)
        if info.startswith("#EXT-X-STREAM-INF")
    ]
    assert len(variants) == 4
    for info, uri in variants:
        assert 'AUDIO="audio"' in info
        playlist = (hls / uri).read_text()
        assert '#EXT-X-MAP:URI="init.mp4"' in playlist and "#EXT-X-DISCONTINUITY" not in playlist
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist and "#EXT-X-ENDLIST" in playlist
        probed = ffprobe_json(hls / uri, "-show_format", "-show_streams")
        assert abs(float(probed["format"]["duration"]) - 26) <= 0.2
        video_stream = next(s for s in probed["streams"] if s["codec_type"] == "video")
        codecs = info.split('CODECS="')[1].split('"')[0]
        assert codecs == f"avc1.6400{video_stream['level']:02X},mp4a.40.2"
        assert f"RESOLUTION={video_stream['width']}x{video_stream['height']}" in info
    assert check_stream(hls) == []  # the subtitles rendition's rules included
    [subtitles] = [line for line in lines if line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")]
    assert 'LANGUAGE="fr"' in subtitles and 'NAME="Français"' in subtitles
    assert all('SUBTITLES="subs"' in info for info, _ in variants)
    assert "Early caption" in (hls / "captions" / "fr.vtt").read_text()
    assert 'SUBTITLES="subs"' in early_master  # from the first playable moment
    # DASH: the same files, described again.
    assert video["manifest"]["dashUrl"].endswith(f"/videos/{video_id}/hls/manifest.mpd")
    mpd = ET.fromstring((hls / "manifest.mpd").read_text())
    templates = mpd.iter(f"{{{dash.NAMESPACE}}}SegmentTemplate")
    assert sorted(str(t.get("initialization")) for t in templates) == sorted(
        f"{folder}/init.mp4" for folder in ("720p", "480p", "360p", "240p", "audio")
    )
    texts = [a for a in mpd.iter(f"{{{dash.NAMESPACE}}}AdaptationSet") if a.get("lang") == "fr"]
    assert [a.get("contentType") for a in texts] == ["text"]
    iframe_streams = [line for line in lines if line.startswith("#EXT-X-I-FRAME-STREAM-INF")]
    assert [line.split('URI="')[1] for line in iframe_streams] == [
        f'{height}p/iframes.m3u8"' for height in (720, 480, 360, 240)
    ]
    vtt = published / "videos" / str(video_id) / "thumbs" / "storyboard.vtt"
    assert vtt.read_text().startswith("WEBVTT")
    # The encoders' chunk outputs are gone once stitched and published.
    leftovers = await storage.client.list_objects_v2(
        Bucket=storage.raw_bucket, Prefix=f"uploads/{video_id}/chunks/"
    )
    assert leftovers.get("KeyCount", 0) == 0

    # Idempotent: a second run gives the same objects and rows, never duplicates.
    await transcode_video(str(video_id))
    count = await services.db.pool.fetchval(
        "SELECT count(*) FROM renditions WHERE video_id = $1", video_id
    )
    assert count == 4


async def test_a_corrupt_upload_ends_failed_with_its_reason(
    prefect_server: None, worker_env: Settings, services: Services, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\xde\xad" * 5000)
    video_id = await uploaded_video(services, corrupt)
    from prefect.client.schemas.objects import StateType

    state = await transcode_video(str(video_id), return_state=True)
    assert state.type is StateType.FAILED
    row = await services.db.pool.fetchrow(
        "SELECT status, failure_reason FROM videos WHERE id = $1", video_id
    )
    assert row is not None and row["status"] == "FAILED"
    assert row["failure_reason"] == "The uploaded file is not a video we can read."


async def test_the_heartbeat_lasts_the_whole_run(
    prefect_server: None,
    worker_env: Settings,
    services: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refreshed by the run itself, not only when a step starts: no step, however long, lets it
    lapse (a lapse makes the API's sweep start a second run)."""
    # Lapses 2 s after the last refresh; the poster step takes 4 s here.
    monkeypatch.setenv("STREAMIFY_PROCESSING_HEARTBEAT_SECONDS", "1")
    make_poster = media.poster

    async def slow_poster(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(4)
        await make_poster(*args, **kwargs)

    monkeypatch.setattr(media, "poster", slow_poster)
    source = synthetic_clip(tmp_path / "clip.mp4", size="640x360", seconds=4)
    video_id = await uploaded_video(services, source)
    run = asyncio.create_task(transcode_video(str(video_id)))
    samples: list[tuple[bool, str]] = []  # (heartbeat present, the video's status)
    while not run.done():
        alive = await services.events.is_alive(video_id)
        status = await services.db.pool.fetchval(
            "SELECT status FROM videos WHERE id = $1", video_id
        )
        samples.append((alive, status))
        await asyncio.sleep(0.05)
    assert await run == str(video_id)
    first = next(i for i, (alive, _) in enumerate(samples) if alive)
    working = [alive for alive, status in samples[first:] if status != "READY"]
    # Alive from the first beat until the video is READY, every step included.
    assert len(working) > 80 and all(working), samples
    # Gone as soon as the run is over, not at its expiry.
    assert not await services.events.is_alive(video_id)
