"""Split, encode, stitch: the ladder made of chunks that any encoder can take.

A source is cut into chunks on segment boundaries (`plan_chunks`); each chunk of one group of
rungs is one ffmpeg run (`chunk_command`) that seeks into the source, decodes the chunk once
and writes one video-only MP4 per rung, keyframes at the same instants in every rung. A rung's
chunks are joined with a copy-only remux into CMAF (fragmented MP4) HLS segments (`stitch`);
audio is made once for the whole source as a rendition of its own (`encode_audio`: the
source's AAC copied when it can be, else encoded), never per chunk, so it carries no encoder
priming at the joins.

Plain functions over files and URLs: nothing here knows about Prefect, S3 or the database."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path

from streamify.names import SEGMENT_SECONDS
from streamify.pipelines.transcode import iframes
from streamify.pipelines.transcode.media import (
    AUDIO_BITRATE,
    GOP_SECONDS,
    MediaError,
    Rung,
    SourceInfo,
    ffmpeg_binary,
    input_options,
    run,
)

log = logging.getLogger(__name__)

# One 6 s segment. A chunk's fixed cost (process start, the seek back to the source's
# keyframe, the task's pickup) is about 0.4 s, noise beside the upper rungs' 9 s of CPU for
# 6 s of a 1080p source. A minute is 10 pieces, 5 rounds on two encoders with none left
# idle: 12 s chunks left 5 pieces and a last round on one encoder (READY 79.0 s against
# 74.8 s on two pinned encoders, 1.62x against 1.82x the speed of one; docs/media.md).
CHUNK_SECONDS = SEGMENT_SECONDS
# A remainder shorter than this joins the chunk before it rather than run on its own.
MIN_TAIL_SECONDS = SEGMENT_SECONDS
# The lowest rung's chunks are longer: the video is playable when the last of them is done, so
# each encoder gets one share of the source (one round of chunks, one fixed cost each), up to
# this length, which bounds what a lost run costs. 60 s of 1080p on two encoders: two 30 s
# chunks, playable about 7 s sooner than in many short ones (docs/media.md).
LOWEST_CHUNK_MAX_SECONDS = 5 * SEGMENT_SECONDS
INIT_SEGMENT = "init.mp4"
SEGMENT_PATTERN = "seg_%05d.m4s"
AUDIO_FOLDER = "audio"


@dataclass(frozen=True, slots=True)
class Chunk:
    """Frames [first_frame, first_frame + frames) of the source at the ladder's frame rate;
    frames 0 means "to the end" (the last chunk)."""

    index: int
    start: float
    frames: int

    def seconds(self, fps: float, duration: float) -> float:
        return self.frames / fps if self.frames else max(0.0, duration - self.start)


def plan_chunks(info: SourceInfo, *, chunk_seconds: float = CHUNK_SECONDS) -> list[Chunk]:
    """Chunks of whole segments. Each starts on a segment boundary, where every rung has a
    keyframe, so stitched rungs need no re-encode and no discontinuity."""
    per_chunk = max(1, round(chunk_seconds / SEGMENT_SECONDS)) * SEGMENT_SECONDS
    count = max(1, math.ceil(info.duration / per_chunk))
    if count > 1 and info.duration - (count - 1) * per_chunk < MIN_TAIL_SECONDS:
        count -= 1
    frames = round(per_chunk * info.fps)
    return [
        Chunk(index=i, start=i * per_chunk, frames=0 if i == count - 1 else frames)
        for i in range(count)
    ]


def lowest_chunk_seconds(duration: float, encoders: int) -> float:
    """The lowest rung's chunk length: the source shared out over the encoders in as few
    rounds as chunks of at most LOWEST_CHUNK_MAX_SECONDS allow, each round's chunks equal (in
    whole segments), never shorter than CHUNK_SECONDS."""
    workers = max(1, encoders)
    rounds = max(1, math.ceil(duration / (workers * LOWEST_CHUNK_MAX_SECONDS)))
    share = math.ceil(duration / (workers * rounds) / SEGMENT_SECONDS) * SEGMENT_SECONDS
    return float(min(LOWEST_CHUNK_MAX_SECONDS, max(CHUNK_SECONDS, share)))


def group_chunks(info: SourceInfo, *, lowest: bool, encoders: int) -> list[Chunk]:
    """The chunks of one group of rungs: the lowest rung's shared out over the encoders, the
    rest of the ladder's CHUNK_SECONDS long. A rung's chunks only ever join each other."""
    if lowest:
        return plan_chunks(info, chunk_seconds=lowest_chunk_seconds(info.duration, encoders))
    return plan_chunks(info)


def _fps_text(fps: float) -> str:
    return f"{fps:.3f}".rstrip("0").rstrip(".")


def chunk_command(
    source: str,
    outputs: Sequence[tuple[Rung, Path]],
    info: SourceInfo,
    chunk: Chunk,
    *,
    threads: int = 0,
    fast: bool = False,
) -> list[str]:
    """One ffmpeg run for one chunk of a group of rungs: seek (exactly: decode from the
    keyframe before and drop what precedes), decode once, split, scale, H.264 with keyframes
    every GOP_SECONDS from the chunk's start (a segment boundary), video only.

    `fast` (the lowest rung alone, scaled far down): the decoder skips the deblocking filter,
    the scaler is bilinear and x264 runs its superfast preset; none of it shows after a 4x
    reduction (SSIM to the source 0.9051 against 0.9058 with veryfast, measured on the grain
    benchmark clip), and the chunk costs about a quarter less CPU."""
    n = len(outputs)
    scaler = ":flags=fast_bilinear" if fast else ""
    graph = f"[0:v:0]fps={_fps_text(info.fps)},split={n}" + "".join(f"[s{i}]" for i in range(n))
    graph += ";" + ";".join(
        f"[s{i}]scale={r.width}:{r.height}:force_original_aspect_ratio=disable{scaler},"
        f"setsar=1[v{i}]"
        for i, (r, _) in enumerate(outputs)
    )
    gop = max(1, round(info.fps * GOP_SECONDS))
    args = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    if threads:
        args += ["-threads", str(threads)]
    if fast:
        args += ["-skip_loop_filter", "all"]
    if chunk.start > 0:
        args += ["-ss", f"{chunk.start:.3f}"]
    args += [*input_options(source), "-i", source, "-filter_complex", graph]
    if threads:
        args += ["-filter_complex_threads", str(threads)]
    for i, (rung, path) in enumerate(outputs):
        args += ["-map", f"[v{i}]"]
        if chunk.frames:
            args += ["-frames:v", str(chunk.frames)]
        args += [
            "-c:v",
            "libx264",
            "-preset",
            "superfast" if fast else "veryfast",
            "-profile:v",
            "high",
            "-b:v",
            str(rung.video_bitrate),
            "-maxrate",
            str(rung.peak_bitrate),
            "-bufsize",
            str(rung.video_bitrate * 2),
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
        if threads:
            args += ["-threads", str(threads)]
        args += ["-an", "-f", "mp4", str(path)]
    return args


async def encode_chunk(
    source: str,
    outputs: Sequence[tuple[Rung, Path]],
    info: SourceInfo,
    chunk: Chunk,
    *,
    threads: int = 0,
    fast: bool = False,
    timeout_seconds: float | None = None,
) -> None:
    for _, path in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
    await run(
        chunk_command(source, outputs, info, chunk, threads=threads, fast=fast),
        timeout_seconds=timeout_seconds,
    )
    for rung, path in outputs:
        if not path.exists() or path.stat().st_size == 0:
            raise MediaError(f"The {rung.name} rendition came out empty.")


def _hls_output(folder: Path) -> list[str]:
    return [
        "-f",
        "hls",
        "-hls_time",
        str(SEGMENT_SECONDS),
        "-hls_playlist_type",
        "vod",
        "-hls_flags",
        "independent_segments",
        "-hls_segment_type",
        "fmp4",
        "-hls_fmp4_init_filename",
        INIT_SEGMENT,
        "-hls_segment_filename",
        str(folder / SEGMENT_PATTERN),
        str(folder / "index.m3u8"),
    ]


def _concat_listing(folder: Path, chunk_files: Sequence[Path]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    listing = folder.parent / f"{folder.name}.concat.txt"
    listing.write_text("".join(f"file '{path.resolve()}'\n" for path in chunk_files))
    return listing


async def stitch(
    chunk_files: Sequence[Path], folder: Path, *, timeout_seconds: float | None = None
) -> Path:
    """Join a rung's chunks, in order, into one CMAF HLS rendition in `folder` (copy only:
    the concat demuxer lays each chunk after the one before, so timestamps run on), with its
    I-frame playlist."""
    listing = await asyncio.to_thread(_concat_listing, folder, chunk_files)
    try:
        await run(
            [
                ffmpeg_binary(),
                "-hide_banner",
                "-nostdin",
                "-y",
                "-loglevel",
                "error",
                "-f",
                "concat",
                "-safe",
                "0",
                "-i",
                str(listing),
                "-map",
                "0:v:0",
                "-c",
                "copy",
                # Keep x264's decode-before-present delay as an edit list rather than shift the
                # video's presentation two frames behind the audio rendition.
                "-avoid_negative_ts",
                "disabled",
                *_hls_output(folder),
            ],
            timeout_seconds=timeout_seconds,
        )
    finally:
        listing.unlink(missing_ok=True)
    await asyncio.to_thread(iframes.write_iframe_playlist, folder, INIT_SEGMENT)
    return folder / "index.m3u8"


async def encode_audio(
    source: str, folder: Path, *, copy: bool = False, timeout_seconds: float | None = None
) -> Path:
    """The audio rendition, once for the whole source, in CMAF segments: the source's own
    AAC when it can be copied (`SourceInfo.audio_copy`), else (or when copying fails on a
    stream the probe found fit) AAC stereo encoded here."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    if copy:
        # ADTS (MPEG-TS sources) becomes the ASC form MP4 needs; a no-op on AAC from MP4.
        try:
            return await _audio_rendition(
                source, folder, ["-c:a", "copy", "-bsf:a", "aac_adtstoasc"], timeout_seconds
            )
        except MediaError:
            log.warning("copying the source's audio failed; encoding it")
    encode = ["-c:a", "aac", "-b:a", str(AUDIO_BITRATE), "-ac", "2"]
    return await _audio_rendition(source, folder, encode, timeout_seconds)


async def _audio_rendition(
    source: str, folder: Path, codec: list[str], timeout_seconds: float | None
) -> Path:
    await run(
        [
            ffmpeg_binary(),
            "-hide_banner",
            "-nostdin",
            "-y",
            "-loglevel",
            "error",
            *input_options(source),
            "-i",
            source,
            "-map",
            "0:a:0",
            "-vn",
            *codec,
            *_hls_output(folder),
        ],
        timeout_seconds=timeout_seconds,
    )
    return folder / "index.m3u8"


def rung_groups(ladder: Sequence[Rung]) -> list[tuple[tuple[Rung, ...], bool]]:
    """(rungs, whether it is the lowest alone): the lowest rung first and alone, since it makes
    the video playable; then the rest of the ladder, each chunk decoded once for all of it."""
    groups: list[tuple[tuple[Rung, ...], bool]] = [((ladder[-1],), True)]
    if len(ladder) > 1:
        groups.append((tuple(ladder[:-1]), False))
    return groups


def chunk_file(folder: Path, rung: Rung, chunk: Chunk) -> Path:
    return folder / rung.name / f"{chunk.index:05d}.mp4"


async def encode_locally(
    source: Path, out_dir: Path, info: SourceInfo, ladder: Sequence[Rung], *, parallel: int = 2
) -> None:
    """The whole ladder on this machine, chunk by chunk (what the flow spreads over encoders):
    for tests and benchmarks of the media work alone."""
    work = out_dir / "chunks"
    gate = asyncio.Semaphore(parallel)
    groups = rung_groups(ladder)

    async def one(rungs: Sequence[Rung], chunk: Chunk, *, fast: bool) -> None:
        async with gate:
            outputs = [(rung, chunk_file(work, rung, chunk)) for rung in rungs]
            await encode_chunk(str(source), outputs, info, chunk, fast=fast)

    planned = [
        (rungs, lowest, group_chunks(info, lowest=lowest, encoders=parallel))
        for rungs, lowest in groups
    ]
    jobs: list[Awaitable[object]] = [
        one(rungs, chunk, fast=lowest) for rungs, lowest, chunks in planned for chunk in chunks
    ]
    if info.has_audio:
        jobs.append(encode_audio(str(source), out_dir / AUDIO_FOLDER, copy=info.audio_copy))
    await asyncio.gather(*jobs)
    for rungs, _, chunks in planned:
        for rung in rungs:
            await stitch([chunk_file(work, rung, c) for c in chunks], out_dir / rung.name)
