"""The media core with the real ffmpeg: probe, ladder, chunked encode stitched into CMAF,
measured master playlist with its audio rendition, poster and storyboard."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from pathlib import Path

import pytest

from streamify.devtools.clips import synthetic_clip
from streamify.names import SEGMENT_SECONDS
from streamify.pipelines.transcode import encoding, media
from streamify.pipelines.transcode.media import MediaError, Rung, SourceInfo
from tests.helpers import ffprobe_json
from tests.hls_conformance import check_stream


def test_ladder_never_upscales_and_keeps_the_shape() -> None:
    landscape = SourceInfo(duration=10, width=1280, height=720, fps=30, has_audio=True)
    assert [(r.width, r.height) for r in media.plan_ladder(landscape)] == [
        (1280, 720),
        (854, 480),
        (640, 360),
        (426, 240),
    ]
    portrait = SourceInfo(duration=10, width=1080, height=1920, fps=30, has_audio=False)
    assert [(r.width, r.height) for r in media.plan_ladder(portrait)][:2] == [
        (1080, 1920),
        (720, 1280),
    ]
    tiny = SourceInfo(duration=10, width=320, height=180, fps=15, has_audio=True)
    [only] = media.plan_ladder(tiny)
    assert (only.width, only.height) == (320, 180)


def test_storyboard_plan_bounds_the_sprite() -> None:
    assert media.storyboard_plan(10) == (1.0, 10, 1)
    interval, columns, rows = media.storyboard_plan(3600)
    assert interval == 36 and columns * rows >= 100


async def test_probe_reads_sources_and_refuses_what_is_not_video(tmp_path: Path) -> None:
    clip = synthetic_clip(tmp_path / "a.mp4", size="640x360", seconds=2)
    info = await media.probe(clip)
    assert (info.width, info.height, info.has_audio) == (640, 360, True)
    assert abs(info.duration - 2) < 0.1 and abs(info.fps - 30) < 0.01

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01not a video" * 1000)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[:2000])
    audio_only = tmp_path / "tone.m4a"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine",
            "-t",
            "1",
            str(audio_only),
        ],
        check=True,
    )
    for bad in (empty, garbage, truncated, audio_only):
        with pytest.raises(MediaError) as raised:
            await media.probe(bad)
        assert raised.value.args[0].startswith("The uploaded")


async def test_chunks_make_an_aligned_cmaf_ladder_with_a_measured_master(tmp_path: Path) -> None:
    clip = synthetic_clip(tmp_path / "src.mp4", size="640x360", seconds=14)
    info = await media.probe(clip)
    ladder = media.plan_ladder(info)
    assert [r.name for r in ladder] == ["360p", "240p"]
    hls = tmp_path / "hls"
    await encoding.encode_locally(clip, hls, info, ladder)

    audio = await media.measure_audio(hls, encoding.AUDIO_FOLDER)
    assert audio.codecs == "mp4a.40.2"
    variants = [await media.measure_variant(hls, rung, info.fps, audio) for rung in ladder]
    master = media.master_playlist(variants, audio)
    (hls / "master.m3u8").write_text(master)
    assert check_stream(hls) == []
    assert master.startswith("#EXTM3U")
    assert '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"' in master
    stream_infs = [line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF")]
    assert len(stream_infs) == 2
    for variant, line in zip(
        sorted(variants, key=lambda v: -v.peak_bandwidth), stream_infs, strict=True
    ):
        assert f"BANDWIDTH={variant.peak_bandwidth}," in line
        assert f"AVERAGE-BANDWIDTH={variant.average_bandwidth}" in line
        assert f"RESOLUTION={variant.rung.width}x{variant.rung.height}" in line
        assert "FRAME-RATE=30.000" in line and 'AUDIO="audio"' in line
        assert variant.peak_bandwidth >= variant.average_bandwidth > audio.rates.average
        playlist = hls / variant.playlist
        text = playlist.read_text()
        assert "#EXT-X-ENDLIST" in text and "#EXT-X-PLAYLIST-TYPE:VOD" in text
        assert '#EXT-X-MAP:URI="init.mp4"' in text
        probed = ffprobe_json(playlist, "-show_format", "-show_streams")
        duration = float(probed["format"]["duration"])
        assert abs(duration - info.duration) <= 0.2
        streams = probed["streams"]
        video = next(s for s in streams if s["codec_type"] == "video")
        assert (video["width"], video["height"]) == (variant.rung.width, variant.rung.height)
        assert variant.codecs.startswith("avc1.64") and variant.codecs.endswith(",mp4a.40.2")
        assert int(variant.codecs[9:11], 16) == video["level"]
        for name, seconds in media.segment_durations(playlist)[:-1]:
            assert seconds == pytest.approx(SEGMENT_SECONDS, abs=0.01), name

    # Keyframes at the same instants in every rendition, every 2 s.
    def keyframes(rung: Rung) -> list[float]:
        probed = ffprobe_json(
            hls / rung.name / "index.m3u8",
            "-select_streams",
            "v:0",
            "-skip_frame",
            "nokey",
            "-show_frames",
            "-show_entries",
            "frame=pts_time",
        )
        return [round(float(f["pts_time"]), 2) for f in probed["frames"]]

    first, second = keyframes(ladder[0]), keyframes(ladder[1])
    assert first == second
    gaps = {round(b - a, 1) for a, b in itertools.pairwise(first)}
    assert gaps == {2.0}


def test_only_aac_a_player_takes_as_it_is_would_be_copied() -> None:
    stereo = {
        "codec_name": "aac",
        "profile": "LC",
        "channels": 2,
        "sample_rate": "48000",
        "bit_rate": "128000",
    }
    assert media.audio_copyable(stereo)
    assert media.audio_copyable({**stereo, "channels": 1, "sample_rate": "44100"})
    for unfit in (
        {"profile": "HE-AAC"},
        {"codec_name": "mp3"},
        {"channels": 6},
        {"sample_rate": "96000"},
        {"bit_rate": "320000"},
        {"bit_rate": None},
        {"bit_rate": "N/A"},
    ):
        assert not media.audio_copyable({**stereo, **unfit}), unfit


def _audio_packets(path: Path) -> list[tuple[str, str]]:
    """(size, MD5) of every audio packet, as stored."""
    out = subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-i", str(path)),
            *("-map", "0:a:0", "-c", "copy", "-f", "framemd5", "-"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = [line.split(",") for line in out.splitlines() if not line.startswith("#")]
    return [(row[4].strip(), row[5].strip()) for row in rows]


async def test_the_sources_aac_is_copied_when_it_fits_and_encoded_when_not(
    tmp_path: Path,
) -> None:
    fits = synthetic_clip(tmp_path / "fits.mp4", size="320x180", seconds=9)
    info = await media.probe(fits)
    assert info.audio_copy
    await encoding.encode_audio(str(fits), tmp_path / "copied", copy=info.audio_copy)
    copied = await media.measure_audio(tmp_path, "copied")
    assert (copied.codecs, copied.channels) == ("mp4a.40.2", 1)
    assert _audio_packets(tmp_path / "copied" / "index.m3u8") == _audio_packets(fits)
    assert 'CHANNELS="1"' in media.master_playlist([], copied)
    # From MPEG-TS (ADTS) too.
    ts = tmp_path / "fits.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(fits), "-c", "copy", str(ts)], check=True)
    assert (await media.probe(ts)).audio_copy
    await encoding.encode_audio(str(ts), tmp_path / "from-ts", copy=True)
    assert _audio_packets(tmp_path / "from-ts" / "index.m3u8") == _audio_packets(fits)

    loud = tmp_path / "loud.mp4"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", "-i", str(fits), "-f", "lavfi", "-i"),
            *("anoisesrc=sample_rate=48000:amplitude=0.5", "-map", "0:v", "-map", "1:a"),
            *("-c:v", "copy", "-c:a", "aac", "-ac", "2", "-b:a", "320k", "-shortest", str(loud)),
        ],
        check=True,
    )
    info = await media.probe(loud)
    assert info.has_audio and not info.audio_copy
    await encoding.encode_audio(str(loud), tmp_path / "encoded", copy=info.audio_copy)
    encoded = await media.measure_audio(tmp_path, "encoded")
    assert (encoded.codecs, encoded.channels) == ("mp4a.40.2", 2)
    assert encoded.rates.average < 200_000
    assert _audio_packets(tmp_path / "encoded" / "index.m3u8") != _audio_packets(loud)
    assert 'CHANNELS="2"' in media.master_playlist([], encoded)

    # A stream that cannot be copied after all is encoded rather than failing the video.
    mp2 = tmp_path / "mp2.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(fits), "-c:v", "copy", "-c:a", "mp2", str(mp2)],
        check=True,
    )
    await encoding.encode_audio(str(mp2), tmp_path / "fallback", copy=True)
    fallback = await media.measure_audio(tmp_path, "fallback")
    assert (fallback.codecs, fallback.channels) == ("mp4a.40.2", 2)


async def test_sources_without_audio_and_portrait_sources(tmp_path: Path) -> None:
    clip = synthetic_clip(tmp_path / "p.mp4", size="360x640", seconds=3, audio=False)
    info = await media.probe(clip)
    ladder = media.plan_ladder(info)
    assert (ladder[0].width, ladder[0].height) == (360, 640)
    await encoding.encode_locally(clip, tmp_path / "hls", info, ladder)
    assert not (tmp_path / "hls" / encoding.AUDIO_FOLDER).exists()
    variant = await media.measure_variant(tmp_path / "hls", ladder[0], info.fps)
    assert variant.codecs.startswith("avc1.") and "mp4a" not in variant.codecs
    assert "#EXT-X-MEDIA" not in media.master_playlist([variant])


async def test_poster_and_storyboard(tmp_path: Path) -> None:
    clip = synthetic_clip(tmp_path / "s.mp4", size="640x360", seconds=5, audio=False)
    info = await media.probe(clip)
    await media.poster(clip, tmp_path / "poster.jpg", info)
    await media.storyboard(
        clip, tmp_path / "sprite.jpg", tmp_path / "sprite.vtt", info, sprite_url="sprite.jpg"
    )
    poster_info = ffprobe_json(tmp_path / "poster.jpg", "-show_streams")
    assert poster_info["streams"][0]["height"] == 360
    sprite = ffprobe_json(tmp_path / "sprite.jpg", "-show_streams")["streams"][0]
    assert (sprite["width"], sprite["height"]) == (160 * 5, 90)
    vtt = (tmp_path / "sprite.vtt").read_text().splitlines()
    assert vtt[0] == "WEBVTT"
    assert "00:00:00.000 --> 00:00:01.000" in vtt and "sprite.jpg#xywh=640,0,160,90" in vtt


async def test_a_crashing_encoder_is_a_readable_error(tmp_path: Path) -> None:
    clip = synthetic_clip(tmp_path / "c.mp4", size="320x180", seconds=1, audio=False)
    info = await media.probe(clip)
    broken = SourceInfo(info.duration, info.width, info.height, info.fps, has_audio=True)
    with pytest.raises(MediaError) as raised:
        await asyncio.wait_for(
            encoding.encode_locally(clip, tmp_path / "hls", broken, media.plan_ladder(info)), 60
        )
    assert "ffmpeg failed" in str(raised.value)


async def test_a_failure_reading_a_url_never_repeats_the_url(tmp_path: Path) -> None:
    """ffmpeg names its input in its errors; a presigned URL must not reach a reason or log."""
    url = "http://127.0.0.1:9/bucket/source?X-Amz-Signature=secret"
    with pytest.raises(MediaError) as raised:
        await encoding.encode_audio(url, tmp_path / "audio", timeout_seconds=30)
    said = str(raised.value)
    assert said.startswith("ffmpeg failed") and "<source>" in said
    assert "secret" not in said and "127.0.0.1" not in said
