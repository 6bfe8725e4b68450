"""The DASH manifest: the HLS stream's own CMAF segments, described for DASH players.

One static MPD (ISO/IEC 23009-1, live profile: segment templates) beside the HLS master,
naming the same init segments and media segments by the same relative paths: no second copy
of any media. Video rungs are one adaptation set, the audio rendition another; each
representation's segment timeline is its playlist's segment durations, so both manifests cut
the stream at the same instants.

Plain functions over files: nothing here knows about Prefect, S3 or the database."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

from streamify.pipelines.transcode.encoding import INIT_SEGMENT, SEGMENT_PATTERN
from streamify.pipelines.transcode.media import (
    AudioRendition,
    Variant,
    measure_rates,
    segment_durations,
)

NAMESPACE = "urn:mpeg:dash:schema:mpd:2011"
PROFILE = "urn:mpeg:dash:profile:isoff-live:2011"
CHANNELS_SCHEME = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
TIMESCALE = 1000  # the timeline in milliseconds
MEDIA_TEMPLATE = SEGMENT_PATTERN.replace("%05d", "$Number%05d$")  # DASH's template syntax


def _duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _timeline(durations: list[float]) -> ET.Element:
    """Segment start times rounded from their running sum (no drift), runs of equal length
    written once with a repeat count."""
    timeline = ET.Element("SegmentTimeline")
    edges = [0]
    total = 0.0
    for seconds in durations:
        total += seconds
        edges.append(round(total * TIMESCALE))
    runs: list[list[int]] = []  # [start, length, repeats]
    for start, end in itertools.pairwise(edges):
        if runs and runs[-1][1] == end - start:
            runs[-1][2] += 1
        else:
            runs.append([start, end - start, 0])
    for i, (start, length, repeats) in enumerate(runs):
        s = ET.SubElement(timeline, "S", d=str(length))
        if i == 0:
            s.set("t", str(start))
        if repeats:
            s.set("r", str(repeats))
    return timeline


def _template(folder: str, durations: list[float]) -> ET.Element:
    template = ET.Element(
        "SegmentTemplate",
        timescale=str(TIMESCALE),
        initialization=f"{folder}/{INIT_SEGMENT}",
        media=f"{folder}/{MEDIA_TEMPLATE}",
        startNumber="0",
    )
    template.append(_timeline(durations))
    return template


def dash_manifest(hls: Path, variants: list[Variant], audio: AudioRendition | None) -> str:
    """The MPD of the rungs published so far (and the audio), from the files in `hls`."""
    ordered = sorted(variants, key=lambda v: v.peak_bandwidth)
    duration = max((v.duration for v in ordered), default=0.0)
    mpd = ET.Element(
        "MPD",
        xmlns=NAMESPACE,
        profiles=PROFILE,
        type="static",
        minBufferTime=_duration(4),
        mediaPresentationDuration=_duration(duration),
    )
    period = ET.SubElement(mpd, "Period", id="0", start="PT0S")
    if ordered:
        fps = ordered[0].fps
        video = ET.SubElement(
            period,
            "AdaptationSet",
            id="0",
            contentType="video",
            mimeType="video/mp4",
            segmentAlignment="true",
            startWithSAP="1",
            maxWidth=str(max(v.rung.width for v in ordered)),
            maxHeight=str(max(v.rung.height for v in ordered)),
            frameRate=f"{fps:.3f}".rstrip("0").rstrip("."),
        )
        for v in ordered:
            folder = v.playlist.rsplit("/", 1)[0]
            playlist = hls / v.playlist
            representation = ET.SubElement(
                video,
                "Representation",
                id=folder,
                # The video alone: DASH counts each adaptation set's bandwidth on its own.
                bandwidth=str(measure_rates(playlist).peak),
                codecs=v.video_codecs,
                width=str(v.rung.width),
                height=str(v.rung.height),
                sar="1:1",
            )
            representation.append(_template(folder, [d for _, d in segment_durations(playlist)]))
    if audio is not None:
        folder = audio.playlist.rsplit("/", 1)[0]
        sound = ET.SubElement(
            period,
            "AdaptationSet",
            id="1",
            contentType="audio",
            mimeType="audio/mp4",
            lang="und",
            segmentAlignment="true",
        )
        representation = ET.SubElement(
            sound,
            "Representation",
            id=folder,
            bandwidth=str(audio.rates.peak),
            codecs=audio.codecs,
        )
        ET.SubElement(
            representation,
            "AudioChannelConfiguration",
            schemeIdUri=CHANNELS_SCHEME,
            value=str(audio.channels),
        )
        durations = [d for _, d in segment_durations(hls / audio.playlist)]
        representation.append(_template(folder, durations))
    ET.indent(mpd)
    body = ET.tostring(mpd, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"
