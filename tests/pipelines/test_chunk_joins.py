"""Where chunks meet, the stitched rung must not show it: one timeline with no gap, no repeat
and no drift against the audio (which is encoded once, whole), every segment within the target
duration and starting on a keyframe. Real ffmpeg, checked with ffprobe."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from streamify.devtools.clips import synthetic_clip
from streamify.names import SEGMENT_SECONDS
from streamify.pipelines.transcode import encoding, media
from tests.helpers import ffprobe_json

pytestmark = pytest.mark.timeout(180)


def _packets(playlist: Path, stream: str) -> list[dict[str, str]]:
    found = ffprobe_json(
        playlist,
        "-select_streams",
        stream,
        "-show_entries",
        "packet=pts_time,dts_time,duration_time,flags",
    )
    packets: list[dict[str, str]] = found["packets"]
    return packets


def test_chunks_are_whole_segments_and_a_short_tail_joins_the_last() -> None:
    info = media.SourceInfo(duration=61.0, width=1920, height=1080, fps=30, has_audio=True)
    chunks = encoding.plan_chunks(info)
    assert [c.start for c in chunks] == list(range(0, 60, 6))  # the 1 s tail joins the last
    assert [c.frames for c in chunks] == [180] * 9 + [0]
    tail = media.SourceInfo(duration=58.0, width=1920, height=1080, fps=30, has_audio=True)
    assert [c.start for c in encoding.plan_chunks(tail)][-1] == 48  # 4 s join 48..58
    short = media.SourceInfo(duration=5.0, width=640, height=360, fps=25, has_audio=False)
    assert encoding.plan_chunks(short) == [encoding.Chunk(0, 0, 0)]


def test_the_lowest_rung_is_shared_out_over_the_encoders_in_one_round() -> None:
    minute = media.SourceInfo(duration=60.0, width=1920, height=1080, fps=30, has_audio=True)
    # Two encoders: one 30 s chunk each, not ten 6 s chunks in five rounds.
    two = encoding.group_chunks(minute, lowest=True, encoders=2)
    assert [(c.start, c.frames) for c in two] == [(0, 900), (30, 0)]
    # Many encoders: never shorter than the ladder's chunks.
    assert len(encoding.group_chunks(minute, lowest=True, encoders=16)) == 10
    # Ten minutes on 16 encoders: two rounds of 24 s chunks, not 30 s ones and a nearly
    # empty second round.
    ten = media.SourceInfo(duration=600.0, width=1920, height=1080, fps=30, has_audio=True)
    assert encoding.lowest_chunk_seconds(ten.duration, 16) == 24
    assert len(encoding.group_chunks(ten, lowest=True, encoders=16)) == 25
    # None counted (Prefect unreachable) or few for a long source: at most 30 s a chunk,
    # which bounds what a lost run costs.
    hour = media.SourceInfo(duration=3600.0, width=1920, height=1080, fps=30, has_audio=True)
    assert len(encoding.group_chunks(hour, lowest=True, encoders=0)) == 120
    assert encoding.group_chunks(hour, lowest=False, encoders=2) == encoding.plan_chunks(hour)


async def test_a_stitched_rung_runs_on_across_every_chunk_join(tmp_path: Path) -> None:
    clip = synthetic_clip(tmp_path / "src.mp4", size="640x360", seconds=30)
    info = await media.probe(clip)
    ladder = media.plan_ladder(info)
    chunks = encoding.plan_chunks(info)
    assert len(chunks) == 5  # four joins, at 6, 12, 18 and 24 s
    hls = tmp_path / "hls"
    await encoding.encode_locally(clip, hls, info, ladder)
    frame = 1 / info.fps

    for rung in ladder:
        playlist = hls / rung.name / "index.m3u8"
        text = playlist.read_text()
        assert "#EXT-X-DISCONTINUITY" not in text
        segments = media.segment_durations(playlist)
        assert all(seconds <= SEGMENT_SECONDS + 0.001 for _, seconds in segments)
        starts = [0.0, *itertools.accumulate(seconds for _, seconds in segments)][:-1]

        packets = _packets(playlist, "v:0")
        pts = sorted(float(p["pts_time"]) for p in packets)
        # Every frame of the source, once: no gap and no repeat at a join.
        assert len(pts) == round(info.duration * info.fps)
        steps = {round(b - a, 4) for a, b in itertools.pairwise(pts)}
        assert steps == {round(frame, 4)}, steps
        keys = [float(p["pts_time"]) for p in packets if p["flags"].startswith("K")]
        for start in starts:
            assert any(abs(k - start) < frame / 2 for k in keys), (rung.name, start, keys)
        for join in (c.start for c in chunks[1:]):
            assert any(abs(k - join) < frame / 2 for k in keys)

    audio = _packets(hls / encoding.AUDIO_FOLDER / "index.m3u8", "a:0")
    audio_pts = [float(p["pts_time"]) for p in audio]
    video_pts = sorted(float(p["pts_time"]) for p in _packets(hls / "240p" / "index.m3u8", "v:0"))
    # Audio and video start together, within one frame; each ends where the source's does.
    assert abs(audio_pts[0] - video_pts[0]) < frame
    source = ffprobe_json(clip, "-show_streams")["streams"]
    source_end = {s["codec_type"]: float(s["duration"]) for s in source}
    audio_end = audio_pts[-1] + float(audio[-1]["duration_time"])
    # AAC adds its priming (1024 samples, 21.3 ms, at the start: less than a frame) and pads
    # the last frame: the rendition is longer by less than two AAC frames, never shorter.
    aac_frame = 1024 / 48000
    assert 0 <= audio_end - source_end["audio"] < 2 * aac_frame
    assert abs(video_pts[-1] + frame - source_end["video"]) < frame
    gaps = [b - a for a, b in itertools.pairwise(audio_pts)]
    assert max(gaps) < 0.03  # one AAC frame at 48 kHz is 21.3 ms: none missing
