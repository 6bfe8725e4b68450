"""Synthetic source clips made with ffmpeg: what the tests, the benchmarks and the demo
transcode, so none needs a media file of its own."""

from __future__ import annotations

import subprocess
from pathlib import Path

from streamify.pipelines.transcode.media import ffmpeg_binary


def synthetic_clip(
    path: Path,
    *,
    size: str,
    seconds: float,
    audio: bool = True,
    rate: int = 30,
    grain: bool = False,
) -> Path:
    """Write a synthetic source: colour bars with a moving counter, and a tone. With `grain`,
    film-like noise at 12 Mb/s, as a camera's upload is (a flat pattern encodes far faster
    than anything real)."""
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
    args += ["-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    if grain:
        args += ["-vf", "noise=alls=12:allf=t+u", "-preset", "veryfast", "-b:v", "12M"]
        args += ["-maxrate", "16M", "-bufsize", "24M", "-g", str(2 * rate)]
    else:
        args += ["-preset", "ultrafast"]
    if audio:
        args += ["-c:a", "aac", "-shortest"]
    subprocess.run([*args, str(path)], check=True)  # noqa: S603 - fixed arguments
    return path
