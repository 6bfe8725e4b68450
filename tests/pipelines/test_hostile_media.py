"""Uploads built to make ffmpeg misbehave are refused within seconds with a reason: playlists
and concat lists that name network or local files (and nothing connects to them), text, a
truncated MP4, and sources beyond the duration, size and frame-rate limits. A step that runs
too long is killed."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from streamify.devtools.clips import synthetic_clip
from streamify.pipelines.transcode import media
from streamify.pipelines.transcode.media import Limits, MediaError
from tests.helpers import lists_naming_other_files

LIMITS = Limits(
    max_duration_seconds=4 * 3600,
    max_width=7680,
    max_height=4320,
    max_fps=120,
    seconds_per_source_second=4,
    min_step_seconds=120,
)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


async def refused(path: Path) -> str:
    started = time.monotonic()
    with pytest.raises(MediaError) as error:
        media.check_limits(await media.probe(path), LIMITS)
    assert time.monotonic() - started < 10
    return str(error.value)


async def test_playlists_and_lists_naming_other_files_are_refused_unopened(
    tmp_path: Path, listener: tuple[int, list[str]]
) -> None:
    port, seen = listener
    segment = synthetic_clip(tmp_path / "real.mp4", size="320x240", seconds=2, audio=False)
    hls, concat = lists_naming_other_files(tmp_path, port, segment)
    for upload in (hls, concat):
        assert await refused(upload) == "The uploaded file is not a video we can read."
    assert seen == []


async def test_what_is_not_a_whole_video_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("this is not a video\n" * 100)
    clip = synthetic_clip(tmp_path / "clip.mp4", size="320x240", seconds=2)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[: clip.stat().st_size // 3])
    assert "not a video" in await refused(text)
    assert await refused(truncated) in (
        "The uploaded file is not a video we can read.",
        "The uploaded video has no playable frames.",
    )


async def test_sources_beyond_the_limits_are_refused_naming_the_limit(tmp_path: Path) -> None:
    eight_hours = tmp_path / "long.mp4"  # a still frame every 10 s: made in a fraction of a second
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=64x64:r=1/10", "-t", "28800", "-c:v", "libx264",
           "-preset", "ultrafast", str(eight_hours))  # fmt: skip
    assert await refused(eight_hours) == "The video is 8.0 h long; at most 4.0 h is accepted."
    fast = tmp_path / "fast.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64:rate=240", "-t", "1", "-c:v", "libx264",
           "-preset", "ultrafast", str(fast))  # fmt: skip
    assert (
        await refused(fast) == "The video runs at 240 frames per second; at most 120 is accepted."
    )
    wide = tmp_path / "wide.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=8192x64:r=1", "-t", "1", "-c:v", "libx264",
           "-preset", "ultrafast", str(wide))  # fmt: skip
    assert await refused(wide) == "The video is 8192x64; at most 7680x4320 is accepted."


async def test_a_step_past_its_time_is_killed() -> None:
    started = time.monotonic()
    with pytest.raises(MediaError, match="longer than 1 s"):
        await media.run(["sleep", "30"], timeout_seconds=1)
    assert time.monotonic() - started < 5
