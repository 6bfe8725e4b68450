"""Streams made on this machine by the real ladder code (chunks, stitching, I-frame playlists,
audio), with the HLS master and the DASH manifest the transcoder would publish beside them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streamify.devtools.clips import synthetic_clip
from streamify.names import DASH_MANIFEST
from streamify.pipelines.transcode import dash, encoding, media


@dataclass(frozen=True)
class LocalStream:
    hls: Path  # master.m3u8, manifest.mpd, a folder per rendition (and chunks/, unpublished)
    info: media.SourceInfo
    ladder: list[media.Rung]
    audio: media.AudioRendition | None
    variants: list[media.Variant]


async def encode_stream(
    folder: Path, *, size: str, seconds: float, audio: bool = True
) -> LocalStream:
    folder.mkdir(parents=True, exist_ok=True)
    clip = synthetic_clip(folder / "src.mp4", size=size, seconds=seconds, audio=audio)
    info = await media.probe(clip)
    ladder = media.plan_ladder(info)
    hls = folder / "hls"
    await encoding.encode_locally(clip, hls, info, ladder)
    sound = await media.measure_audio(hls, encoding.AUDIO_FOLDER) if info.has_audio else None
    variants = [await media.measure_variant(hls, rung, info.fps, sound) for rung in ladder]
    (hls / "master.m3u8").write_text(media.master_playlist(variants, sound))
    (hls / DASH_MANIFEST).write_text(dash.dash_manifest(hls, variants, sound))
    return LocalStream(hls, info, ladder, sound, variants)
