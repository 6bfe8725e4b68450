"""Synthetic source clips made with ffmpeg: what the tests, the benchmarks and the demo
transcode, so none needs a media file of its own."""

from __future__ import annotations

import subprocess
from pathlib import Path

from streamify.pipelines.transcode.media import ffmpeg_binary


def synthetic_clip(
    path: Path, *, size: str, seconds: float, audio: bool = True, rate: int = 30
) -> Path:
    """Write a synthetic source: colour bars with a moving counter, and a tone."""
    args = [
        ffmpeg_binary(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate={rate}",
    ]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    args += ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-shortest"]
    subprocess.run([*args, str(path)], check=True)  # noqa: S603 - fixed arguments
    return path
