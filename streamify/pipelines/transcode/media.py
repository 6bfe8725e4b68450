"""The media work of transcoding, as plain functions over files: probe a source, plan the
ladder, measure what was encoded and build the HLS master playlist from it, and make the
poster and storyboard. Encoding itself (chunks, stitching, audio) is in `encoding`.

The Prefect flow wraps these in tasks; nothing here knows about Prefect, S3 or the database.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from streamify.infra.webvtt import timestamp

GOP_SECONDS = 2
# Each video rung's I-frame playlist, beside its index.m3u8 (`iframes`).
IFRAMES_PLAYLIST = "iframes.m3u8"
AUDIO_BITRATE = 128_000
# A source's AAC-LC audio up to this rate is copied into the audio rendition, not encoded again.
AUDIO_COPY_MAX_BITRATE = 192_000
AUDIO_COPY_SAMPLE_RATES = (44_100, 48_000)
MAX_FPS = 60.0

# (short side, video bitrate): 16:9 sources get the usual 1920x1080 ... 426x240.
RUNGS = ((1080, 5_000_000), (720, 2_800_000), (480, 1_400_000), (360, 800_000), (240, 400_000))

H264_PROFILES = {  # ffprobe profile name -> (profile_idc, constraint flags)
    "Constrained Baseline": (0x42, 0xE0),
    "Baseline": (0x42, 0x00),
    "Main": (0x4D, 0x40),
    "High": (0x64, 0x00),
}


class MediaError(Exception):
    """The source cannot become a stream; the message is for the uploader to read."""


# What ffmpeg may read of an upload: local files only (no http://, no other protocol an
# uploaded playlist could name), through the demuxers of real video containers only (no HLS,
# DASH or concat lists, no image sequences, no raw text).
ALLOWED_FORMATS = (
    "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv,mpeg,mpegvideo,ogg,asf,mxf,h264,hevc"
)
SAFE_INPUT = ("-protocol_whitelist", "file,pipe", "-format_whitelist", ALLOWED_FORMATS)
# A source read from our own bucket through a presigned URL (encoders seek into it rather than
# download it all): the same demuxers, and HTTP(S) for the top-level input only, since no
# allowed demuxer opens other resources.
URL_INPUT = (
    "-protocol_whitelist",
    "file,pipe,http,https,tcp,tls,crypto",
    "-format_whitelist",
    ALLOWED_FORMATS,
)
# A playlist this process wrote (never an upload): local files only.
OUR_PLAYLIST = ("-protocol_whitelist", "file")
URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def input_options(source: str) -> tuple[str, ...]:
    return URL_INPUT if "://" in source else SAFE_INPUT


PROBE_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Limits:
    """What a source may be: beyond any of these it ends FAILED with a reason naming it."""

    max_duration_seconds: float
    max_width: int
    max_height: int
    max_fps: float
    # ffmpeg steps may run this many times the source's duration, and at least min_seconds.
    seconds_per_source_second: float
    min_step_seconds: float

    def step_seconds(self, duration: float) -> float:
        return max(self.min_step_seconds, duration * self.seconds_per_source_second)


def check_limits(info: SourceInfo, limits: Limits) -> None:
    if info.duration > limits.max_duration_seconds:
        raise MediaError(
            f"The video is {info.duration / 3600:.1f} h long; at most"
            f" {limits.max_duration_seconds / 3600:.1f} h is accepted."
        )
    long_side, short_side = max(info.width, info.height), min(info.width, info.height)
    if long_side > max(limits.max_width, limits.max_height) or short_side > min(
        limits.max_width, limits.max_height
    ):
        raise MediaError(
            f"The video is {info.width}x{info.height}; at most"
            f" {limits.max_width}x{limits.max_height} is accepted."
        )
    if info.source_fps > limits.max_fps:
        raise MediaError(
            f"The video runs at {info.source_fps:.0f} frames per second; at most"
            f" {limits.max_fps:.0f} is accepted."
        )


@dataclass(frozen=True, slots=True)
class SourceInfo:
    duration: float
    width: int
    height: int
    fps: float
    has_audio: bool
    # The frame rate as uploaded (`fps` is what the ladder encodes, at most MAX_FPS).
    source_fps: float = 0.0
    # The audio is already what the rendition would be encoded to (audio_copyable).
    audio_copy: bool = False


@dataclass(frozen=True, slots=True)
class Rung:
    name: str
    width: int
    height: int
    video_bitrate: int

    @property
    def peak_bitrate(self) -> int:
        return int(self.video_bitrate * 1.5)


@dataclass(frozen=True, slots=True)
class Variant:
    """One encoded rendition, measured from its segments."""

    rung: Rung
    playlist: str  # relative to the HLS folder
    peak_bandwidth: int
    average_bandwidth: int
    codecs: str
    fps: float
    duration: float
    # What fetching every entry of its I-frame playlist costs (None: the rung has none).
    iframes: Rates | None = None

    @property
    def video_codecs(self) -> str:
        return self.codecs.split(",")[0]


def ffmpeg_binary() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]
    except ImportError as exc:
        raise MediaError("ffmpeg is not installed") from exc
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def ffprobe_binary() -> str:
    found = shutil.which("ffprobe")
    if not found:
        raise MediaError("ffprobe is not installed")
    return found


async def run(
    args: list[str],
    *,
    on_line: Callable[[str], Awaitable[None]] | None = None,
    timeout_seconds: float | None = None,
) -> str:
    """Run a tool; its stdout. Raises MediaError with the tail of stderr when it fails, and
    when it runs past `timeout_seconds` (it is killed)."""
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(timeout_seconds):
            return await _finish(proc, args, on_line)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise MediaError(
            f"Processing took longer than {timeout_seconds:.0f} s, the limit for this video."
        ) from None
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _finish(
    proc: asyncio.subprocess.Process,
    args: list[str],
    on_line: Callable[[str], Awaitable[None]] | None,
) -> str:
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []

    async def read_stdout() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            lines.append(line)
            if on_line is not None:
                await on_line(line)

    _, stderr = await asyncio.gather(read_stdout(), proc.stderr.read())
    code = await proc.wait()
    if code != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        # A presigned URL in ffmpeg's words must not reach a log or a failure reason.
        said = URL.sub("<source>", " / ".join(tail))
        raise MediaError(f"{Path(args[0]).name} failed ({code}): {said}")
    return "\n".join(lines)


def _size_or_zero(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _fps(rate: str | None) -> float:
    try:
        value = float(Fraction(rate or "0"))
    except (ValueError, ZeroDivisionError):
        return 0.0
    return value


async def probe(path: Path | str, *, size: int | None = None) -> SourceInfo:
    """What the source is (a file, or a URL of one whose size is given); MediaError when it is
    empty, corrupt or has no video."""
    if size is None:
        size = await asyncio.to_thread(_size_or_zero, Path(path))
    if size == 0:
        raise MediaError("The uploaded file is empty.")
    try:
        out = await run(
            [
                ffprobe_binary(),
                "-v",
                "error",
                *input_options(str(path)),
                "-print_format",
                "json",
                "-show_streams",
                "-show_format",
                str(path),
            ],
            timeout_seconds=PROBE_SECONDS,
        )
    except MediaError as exc:
        raise MediaError("The uploaded file is not a video we can read.") from exc
    data = json.loads(out or "{}")
    streams = data.get("streams", [])
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
        ),
        None,
    )
    if video is None:
        raise MediaError("The uploaded file has no video stream.")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    rotation = _rotation(video)
    if rotation in (90, 270):
        width, height = height, width
    duration = float(data.get("format", {}).get("duration") or video.get("duration") or 0)
    fps = _fps(video.get("avg_frame_rate")) or _fps(video.get("r_frame_rate"))
    if width < 16 or height < 16 or duration <= 0 or fps <= 0:
        raise MediaError("The uploaded video has no playable frames.")
    return SourceInfo(
        duration=duration,
        width=width,
        height=height,
        fps=min(fps, MAX_FPS),
        has_audio=audio is not None,
        source_fps=fps,
        audio_copy=audio is not None and audio_copyable(audio),
    )


def audio_copyable(stream: dict[str, object]) -> bool:
    """Whether a source's audio can go into the audio rendition as it is: AAC-LC in mono or
    stereo at a sample rate every player takes, at no more than a rendition's bitrate and a
    half. Copying costs nothing (encoding a minute costs about 3.7 s of CPU, on the path to
    playable) and loses nothing (no second generation of AAC)."""
    try:
        channels = int(str(stream.get("channels") or 0))
        rate = int(str(stream.get("sample_rate") or 0))
        bitrate = int(str(stream.get("bit_rate") or 0))
    except ValueError:
        return False
    return (
        stream.get("codec_name") == "aac"
        and stream.get("profile") == "LC"
        and channels in (1, 2)
        and rate in AUDIO_COPY_SAMPLE_RATES
        and 0 < bitrate <= AUDIO_COPY_MAX_BITRATE
    )


def _rotation(stream: dict[str, object]) -> int:
    for side in stream.get("side_data_list", []) or []:  # type: ignore[attr-defined]
        if isinstance(side, dict) and "rotation" in side:
            return abs(int(side["rotation"])) % 360
    tags = stream.get("tags")
    if isinstance(tags, dict) and "rotate" in tags:
        return abs(int(tags["rotate"])) % 360
    return 0


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def plan_ladder(source: SourceInfo) -> list[Rung]:
    """Rungs no larger than the source (short side), keeping its aspect ratio; a source smaller
    than every rung gets one rendition at its own size."""
    short = min(source.width, source.height)
    portrait = source.height > source.width
    rungs = []
    for side, bitrate in RUNGS:
        if side > short:
            continue
        long = _even(side * max(source.width, source.height) / short)
        width, height = (side, long) if portrait else (long, side)
        rungs.append(Rung(f"{side}p", width, height, bitrate))
    if not rungs:
        side = _even(short)
        long = _even(side * max(source.width, source.height) / short)
        width, height = (side, long) if portrait else (long, side)
        bitrate = max(150_000, int(RUNGS[-1][1] * side / RUNGS[-1][0]))
        rungs.append(Rung(f"{side}p", width, height, bitrate))
    return rungs


def segment_durations(playlist: Path) -> list[tuple[str, float]]:
    """(segment file, duration) of a VOD media playlist."""
    found: list[tuple[str, float]] = []
    pending: float | None = None
    for line in playlist.read_text().split("\n"):
        if line.startswith("#EXTINF:"):
            pending = float(line.removeprefix("#EXTINF:").split(",")[0])
        elif line and not line.startswith("#") and pending is not None:
            found.append((line, pending))
            pending = None
    return found


async def _streams_of(rendition: Path) -> list[dict[str, Any]]:
    """The streams of a rendition, read as a player would: its playlist, the init segment and
    the first media segment."""
    out = await run(
        [ffprobe_binary(), "-v", "error", "-print_format", "json", "-show_streams", str(rendition)]
    )
    streams: list[dict[str, Any]] = json.loads(out).get("streams", [])
    return streams


def _codecs(streams: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for stream in streams:
        if stream.get("codec_name") == "h264":
            profile_idc, constraints = H264_PROFILES.get(str(stream.get("profile")), (0x64, 0))
            parts.insert(0, f"avc1.{profile_idc:02X}{constraints:02X}{int(stream['level']):02X}")
        elif stream.get("codec_name") == "aac":
            parts.append("mp4a.40.5" if stream.get("profile") == "HE-AAC" else "mp4a.40.2")
    return ",".join(parts)


async def codecs_of(rendition: Path) -> str:
    """The RFC 6381 CODECS string of what a rendition really contains."""
    return _codecs(await _streams_of(rendition))


@dataclass(frozen=True, slots=True)
class Rates:
    peak: int
    average: int
    duration: float


def measure_rates(playlist: Path) -> Rates:
    """Peak and average bits per second over a rendition's segments."""
    segments = segment_durations(playlist)
    if not segments:
        raise MediaError(f"The {playlist.parent.name} rendition came out empty.")
    rates, total_bits, total_seconds = [], 0, 0.0
    for name, seconds in segments:
        bits = (playlist.parent / name).stat().st_size * 8
        total_bits += bits
        total_seconds += seconds
        rates.append(bits / max(seconds, 0.001))
    return Rates(
        peak=math.ceil(max(rates)),
        average=math.ceil(total_bits / max(total_seconds, 0.001)),
        duration=total_seconds,
    )


def measure_iframe_rates(playlist: Path) -> Rates | None:
    """Peak and average bits per second of an I-frame playlist's byte ranges; None when the
    rendition has no I-frame playlist."""
    if not playlist.exists():
        return None
    entries: list[tuple[float, int]] = []
    seconds = 0.0
    for line in playlist.read_text().split("\n"):
        if line.startswith("#EXTINF:"):
            seconds = float(line.removeprefix("#EXTINF:").split(",")[0])
        elif line.startswith("#EXT-X-BYTERANGE:"):
            entries.append((seconds, int(line.removeprefix("#EXT-X-BYTERANGE:").split("@")[0])))
    total = sum(s for s, _ in entries)
    if not entries or total <= 0:
        return None
    return Rates(
        peak=math.ceil(max(n * 8 / max(s, 0.001) for s, n in entries)),
        average=math.ceil(sum(n for _, n in entries) * 8 / total),
        duration=total,
    )


@dataclass(frozen=True, slots=True)
class AudioRendition:
    """The one audio rendition every video rung plays with."""

    playlist: str  # relative to the HLS folder
    rates: Rates
    codecs: str
    channels: int = 2


async def measure_audio(hls_dir: Path, folder: str) -> AudioRendition:
    playlist = hls_dir / folder / "index.m3u8"
    rates = await asyncio.to_thread(measure_rates, playlist)
    streams = await _streams_of(playlist)
    channels = max((int(s.get("channels") or 0) for s in streams), default=0)
    return AudioRendition(f"{folder}/index.m3u8", rates, _codecs(streams), channels or 2)


async def measure_variant(
    hls_dir: Path, rung: Rung, fps: float, audio: AudioRendition | None = None
) -> Variant:
    """A video rung as the master names it: its bandwidth with the audio it plays with."""
    playlist = hls_dir / rung.name / "index.m3u8"
    video = await asyncio.to_thread(measure_rates, playlist)
    codecs = await codecs_of(playlist)
    if audio is not None:
        codecs = f"{codecs},{audio.codecs}"
    return Variant(
        rung=rung,
        playlist=f"{rung.name}/index.m3u8",
        peak_bandwidth=video.peak + (audio.rates.peak if audio else 0),
        average_bandwidth=video.average + (audio.rates.average if audio else 0),
        codecs=codecs,
        fps=fps,
        duration=video.duration,
        iframes=await asyncio.to_thread(
            measure_iframe_rates, hls_dir / rung.name / IFRAMES_PLAYLIST
        ),
    )


AUDIO_GROUP = "audio"


def master_playlist(variants: list[Variant], audio: AudioRendition | None = None) -> str:
    """The multivariant playlist, highest rendition first; the audio, when there is any, is
    one rendition group every variant refers to."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="Main",DEFAULT=YES,'
            f'AUTOSELECT=YES,CHANNELS="{audio.channels}",URI="{audio.playlist}"'
        )
    for v in sorted(variants, key=lambda v: v.peak_bandwidth, reverse=True):
        group = f',AUDIO="{AUDIO_GROUP}"' if audio is not None else ""
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={v.peak_bandwidth},"
            f'AVERAGE-BANDWIDTH={v.average_bandwidth},CODECS="{v.codecs}",'
            f"RESOLUTION={v.rung.width}x{v.rung.height},FRAME-RATE={v.fps:.3f}{group}"
            # No CEA-608/708 captions in the video: players need not look for them (captions
            # are WebVTT renditions, spliced in by infra/subtitle_tracks).
            ",CLOSED-CAPTIONS=NONE"
        )
        lines.append(v.playlist)
    for v in sorted(variants, key=lambda v: v.peak_bandwidth, reverse=True):
        if v.iframes is None:
            continue
        folder = v.playlist.rsplit("/", 1)[0]
        lines.append(
            f"#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={v.iframes.peak},"
            f'AVERAGE-BANDWIDTH={v.iframes.average},CODECS="{v.video_codecs}",'
            f'RESOLUTION={v.rung.width}x{v.rung.height},URI="{folder}/{IFRAMES_PLAYLIST}"'
        )
    return "\n".join(lines) + "\n"


async def poster(
    source_path: Path | str, out: Path, source: SourceInfo, *, timeout_seconds: float | None = None
) -> None:
    at = min(1.0, source.duration / 2)
    await run(
        [
            ffmpeg_binary(),
            "-hide_banner",
            "-nostdin",
            "-y",
            "-ss",
            f"{at:.3f}",
            *input_options(str(source_path)),
            "-i",
            str(source_path),
            "-frames:v",
            "1",
            "-vf",
            "scale=-2:'min(720,ih)'",
            "-q:v",
            "3",
            str(out),
        ],
        timeout_seconds=timeout_seconds,
    )


def storyboard_plan(duration: float, *, max_tiles: int = 100) -> tuple[float, int, int]:
    """(seconds between frames, columns, rows) of the scrubbing sprite."""
    interval = max(1.0, math.ceil(duration / max_tiles))
    count = max(1, math.ceil(duration / interval))
    columns = min(10, count)
    return interval, columns, math.ceil(count / columns)


async def storyboard(
    source_path: Path,  # a file, or the HLS playlist of a rendition we encoded
    sprite: Path,
    vtt: Path,
    source: SourceInfo,
    *,
    sprite_url: str,
    tile_width: int = 160,
    timeout_seconds: float | None = None,
) -> None:
    """A sprite of frames every few seconds and a WebVTT index (#xywh) of it."""
    interval, columns, rows = storyboard_plan(source.duration)
    tile_height = _even(tile_width * source.height / source.width)
    await run(
        [
            ffmpeg_binary(),
            "-hide_banner",
            "-nostdin",
            "-y",
            *(SAFE_INPUT if source_path.suffix != ".m3u8" else OUR_PLAYLIST),
            "-i",
            str(source_path),
            "-vf",
            f"fps=1/{interval},scale={tile_width}:{tile_height},tile={columns}x{rows}",
            "-frames:v",
            "1",
            "-q:v",
            "4",
            str(sprite),
        ],
        timeout_seconds=timeout_seconds,
    )
    cues = ["WEBVTT", ""]
    count = max(1, math.ceil(source.duration / interval))
    for i in range(count):
        start, end = i * interval, min(source.duration, (i + 1) * interval)
        x, y = (i % columns) * tile_width, (i // columns) * tile_height
        cues += [
            f"{timestamp(start)} --> {timestamp(end)}",
            f"{sprite_url}#xywh={x},{y},{tile_width},{tile_height}",
            "",
        ]
    await asyncio.to_thread(vtt.write_text, "\n".join(cues))
