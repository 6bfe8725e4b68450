"""The media work of transcoding, as plain functions over files: probe a source, plan the
ladder, encode every rendition in one ffmpeg run (decode once, split, scale), build the HLS
master playlist from what was actually encoded, and make the poster and storyboard.

The Prefect flow wraps these in tasks; nothing here knows about Prefect, S3 or the database.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

GOP_SECONDS = 2
SEGMENT_SECONDS = 4
AUDIO_BITRATE = 128_000
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
        raise MediaError(f"{Path(args[0]).name} failed ({code}): {' / '.join(tail)}")
    return "\n".join(lines)


def _size_or_zero(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _fps(rate: str | None) -> float:
    try:
        value = float(Fraction(rate or "0"))
    except (ValueError, ZeroDivisionError):
        return 0.0
    return value


async def probe(path: Path) -> SourceInfo:
    """What the source is; MediaError when it is empty, corrupt or has no video."""
    if await asyncio.to_thread(_size_or_zero, path) == 0:
        raise MediaError("The uploaded file is empty.")
    try:
        out = await run(
            [
                ffprobe_binary(),
                "-v",
                "error",
                *SAFE_INPUT,
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
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        source_fps=fps,
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


def encode_command(
    source_path: Path, out_dir: Path, source: SourceInfo, ladder: list[Rung]
) -> list[str]:
    """One ffmpeg run: decode once, split, scale per rung, H.264 with keyframes every 2 s at
    the same instants in every rendition (no scene-cut keyframes), AAC, 4 s HLS segments."""
    n = len(ladder)
    fps = f"{source.fps:.3f}".rstrip("0").rstrip(".")
    graph = f"[0:v:0]fps={fps},split={n}" + "".join(f"[s{i}]" for i in range(n)) + ";"
    graph += ";".join(
        f"[s{i}]scale={r.width}:{r.height}:force_original_aspect_ratio=disable,setsar=1[v{i}]"
        for i, r in enumerate(ladder)
    )
    gop = max(1, round(source.fps * GOP_SECONDS))
    args = [
        ffmpeg_binary(),
        "-hide_banner",
        "-nostdin",
        "-y",
        *SAFE_INPUT,
        "-i",
        str(source_path),
        "-filter_complex",
        graph,
    ]
    for i, rung in enumerate(ladder):
        args += ["-map", f"[v{i}]"]
        if source.has_audio:
            args += ["-map", "0:a:0"]
        args += [
            f"-c:v:{i}",
            "libx264",
            f"-preset:v:{i}",
            "veryfast",
            f"-profile:v:{i}",
            "high",
            f"-b:v:{i}",
            str(rung.video_bitrate),
            f"-maxrate:v:{i}",
            str(rung.peak_bitrate),
            f"-bufsize:v:{i}",
            str(rung.video_bitrate * 2),
        ]
    args += [
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",
        "-force_key_frames",
        f"expr:gte(t,n_forced*{GOP_SECONDS})",
    ]
    if source.has_audio:
        args += ["-c:a", "aac", "-b:a", str(AUDIO_BITRATE), "-ac", "2"]
    stream_map = " ".join(
        f"v:{i},a:{i},name:{r.name}" if source.has_audio else f"v:{i},name:{r.name}"
        for i, r in enumerate(ladder)
    )
    args += [
        "-f",
        "hls",
        "-hls_time",
        str(SEGMENT_SECONDS),
        "-hls_playlist_type",
        "vod",
        "-hls_flags",
        "independent_segments",
        "-hls_segment_type",
        "mpegts",
        "-hls_segment_filename",
        str(out_dir / "%v" / "seg_%05d.ts"),
        "-var_stream_map",
        stream_map,
        "-progress",
        "pipe:1",
        "-nostats",
        str(out_dir / "%v" / "index.m3u8"),
    ]
    return args


async def encode(
    source_path: Path,
    out_dir: Path,
    source: SourceInfo,
    ladder: list[Rung],
    *,
    on_progress: Callable[[float], Awaitable[None]] | None = None,
    timeout_seconds: float | None = None,
) -> None:
    """Encode the ladder into out_dir/<rung>/index.m3u8; progress is reported as 0..1."""
    for rung in ladder:
        (out_dir / rung.name).mkdir(parents=True, exist_ok=True)

    async def progress(line: str) -> None:
        key, _, value = line.partition("=")
        if on_progress is not None and key == "out_time_us" and value.strip().isdigit():
            await on_progress(min(1.0, int(value) / 1e6 / source.duration))

    await run(
        encode_command(source_path, out_dir, source, ladder),
        on_line=progress,
        timeout_seconds=timeout_seconds,
    )


def segment_durations(playlist: Path) -> list[tuple[str, float]]:
    """(segment file, duration) of a VOD media playlist."""
    found: list[tuple[str, float]] = []
    pending: float | None = None
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            pending = float(line.removeprefix("#EXTINF:").split(",")[0])
        elif line and not line.startswith("#") and pending is not None:
            found.append((line, pending))
            pending = None
    return found


async def codecs_of(segment: Path) -> str:
    """The RFC 6381 CODECS string of what the segment really contains."""
    out = await run(
        [ffprobe_binary(), "-v", "error", "-print_format", "json", "-show_streams", str(segment)]
    )
    parts: list[str] = []
    for stream in json.loads(out).get("streams", []):
        if stream.get("codec_name") == "h264":
            profile_idc, constraints = H264_PROFILES.get(str(stream.get("profile")), (0x64, 0))
            parts.insert(0, f"avc1.{profile_idc:02X}{constraints:02X}{int(stream['level']):02X}")
        elif stream.get("codec_name") == "aac":
            parts.append("mp4a.40.5" if stream.get("profile") == "HE-AAC" else "mp4a.40.2")
    return ",".join(parts)


async def measure_variant(hls_dir: Path, rung: Rung, fps: float) -> Variant:
    playlist = hls_dir / rung.name / "index.m3u8"
    segments = segment_durations(playlist)
    if not segments:
        raise MediaError(f"The {rung.name} rendition came out empty.")
    rates, total_bits, total_seconds = [], 0, 0.0
    for name, seconds in segments:
        bits = (hls_dir / rung.name / name).stat().st_size * 8
        total_bits += bits
        total_seconds += seconds
        rates.append(bits / max(seconds, 0.001))
    return Variant(
        rung=rung,
        playlist=f"{rung.name}/index.m3u8",
        peak_bandwidth=math.ceil(max(rates)),
        average_bandwidth=math.ceil(total_bits / max(total_seconds, 0.001)),
        codecs=await codecs_of(hls_dir / rung.name / segments[0][0]),
        fps=fps,
        duration=total_seconds,
    )


def master_playlist(variants: list[Variant]) -> str:
    """The multivariant playlist, highest rendition first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in sorted(variants, key=lambda v: v.peak_bandwidth, reverse=True):
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={v.peak_bandwidth},"
            f'AVERAGE-BANDWIDTH={v.average_bandwidth},CODECS="{v.codecs}",'
            f"RESOLUTION={v.rung.width}x{v.rung.height},FRAME-RATE={v.fps:.3f}"
        )
        lines.append(v.playlist)
    return "\n".join(lines) + "\n"


async def poster(
    source_path: Path, out: Path, source: SourceInfo, *, timeout_seconds: float | None = None
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
            *SAFE_INPUT,
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
    source_path: Path,
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
            *SAFE_INPUT,
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
            f"{_timestamp(start)} --> {_timestamp(end)}",
            f"{sprite_url}#xywh={x},{y},{tile_width},{tile_height}",
            "",
        ]
    await asyncio.to_thread(vtt.write_text, "\n".join(cues))


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"
