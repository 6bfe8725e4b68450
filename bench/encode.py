"""Encode-step benchmark on one machine: Streamify's ladder as the encoders make it (8 s
chunks, two at a time, stitched into CMAF, audio once) against one hand-written ffmpeg command
producing the same ladder in one run (decode once, split, scale), on the same source.

    python -m bench.encode [--seconds 60] [--size 1920x1080]

Prints both wall times and their ratio: what splitting costs where there is nothing to spread
it over (bench.scaling measures what it gains)."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
from pathlib import Path

from streamify.devtools.clips import synthetic_clip
from streamify.pipelines.transcode import encoding, media

HAND_WRITTEN = """ffmpeg -hide_banner -nostdin -y -i {src} -filter_complex
[0:v]split=5[a][b][c][d][e];[a]scale=1920:1080[v0];[b]scale=1280:720[v1];[c]scale=854:480[v2];[d]scale=640:360[v3];[e]scale=426:240[v4]
-map [v0] -map 0:a -map [v1] -map 0:a -map [v2] -map 0:a -map [v3] -map 0:a -map [v4] -map 0:a
-c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p
-b:v:0 5000000 -b:v:1 2800000 -b:v:2 1400000 -b:v:3 800000 -b:v:4 400000
-g 60 -keyint_min 60 -sc_threshold 0 -c:a aac -b:a 128000 -ac 2
-f hls -hls_time 4 -hls_playlist_type vod -hls_segment_filename {out}/%v/seg_%05d.ts
-var_stream_map v:0,a:0_v:1,a:1_v:2,a:2_v:3,a:3_v:4,a:4 {out}/%v/index.m3u8"""


def make_source(path: Path, seconds: int, size: str) -> None:
    synthetic_clip(path, size=size, seconds=seconds)


def hand_written(src: Path, out: Path) -> list[str]:
    words = HAND_WRITTEN.format(src=src, out=out).split()
    return [w.replace("_", " ") if w.startswith("v:0,") else w for w in words]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", default="1920x1080")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "source.mp4"
        make_source(src, args.seconds, args.size)
        info = await media.probe(src)
        ladder = media.plan_ladder(info)

        started = time.perf_counter()
        await encoding.encode_locally(src, root / "ours", info, ladder)
        ours = time.perf_counter() - started

        baseline_out = root / "hand"
        for i in range(len(ladder)):
            (baseline_out / str(i)).mkdir(parents=True)
        started = time.perf_counter()
        subprocess.run(hand_written(src, baseline_out), check=True, capture_output=True)
        hand = time.perf_counter() - started

    result = {
        "source": f"{args.seconds} s {args.size}",
        "rungs": [r.name for r in ladder],
        "streamify_s": round(ours, 2),
        "hand_written_s": round(hand, 2),
        "ratio": round(ours / hand, 3),
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "encode.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
