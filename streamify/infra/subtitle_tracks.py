"""Captions in a published stream: the files of each (whole WebVTT, segmented HLS rendition)
and the master playlist and DASH manifest with them spliced in.

The transcoder writes a master and an MPD without captions; whoever publishes them (the
flow for every rung, a caption's write for a READY video) passes them through
`master_with_captions` and `mpd_with_captions` with the video's captions as they are now, so
both manifests always list exactly the captions the database holds."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from unicodedata import category

from streamify.domain import CaptionTrack
from streamify.infra import webvtt
from streamify.infra.text_lines import split_lines
from streamify.names import CAPTIONS_FOLDER, caption_file, caption_playlist

SUBTITLES_GROUP = "subs"
MPD_NAMESPACE = "urn:mpeg:dash:schema:mpd:2011"
ROLE_SCHEME = "urn:mpeg:dash:role:2011"
# What a caption adds to a variant's bandwidth, in bits per second (a few kB per segment).
CAPTION_BANDWIDTH = 1000


def caption_files(
    language: str, cues: tuple[webvtt.Cue, ...], duration: float, segment_seconds: float
) -> list[tuple[str, str]]:
    """(path relative to the stream's folder, text) of one caption's files."""
    parts = webvtt.segments(cues, duration, segment_seconds)
    folder = f"{CAPTIONS_FOLDER}/{language}"
    target = max(1, round(max(seconds for seconds, _ in parts) + 0.4999))
    playlist = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    files = [(caption_file(language), webvtt.to_webvtt(cues, until=duration or None))]
    for index, (seconds, text) in enumerate(parts):
        name = f"{index:05d}.vtt"
        playlist += [f"#EXTINF:{seconds:.3f},", name]
        files.append((f"{folder}/{name}", text))
    playlist.append("#EXT-X-ENDLIST")
    files.append((caption_playlist(language), "\n".join(playlist) + "\n"))
    return files


def _quoted(value: str) -> str:
    """A quoted-string holds no double quote and no line break of any kind (labels are
    checked when they are written; this guards the manifests all the same)."""
    return "".join(
        "'" if char == '"' else char if char == " " or category(char)[0] not in "CZ" else " "
        for char in value
    )


def master_with_captions(master: str, captions: Sequence[CaptionTrack]) -> str:
    """The master with one SUBTITLES rendition per caption, every variant naming the group
    (and none when there are no captions); I-frame variants take no subtitles."""
    attribute = f',SUBTITLES="{SUBTITLES_GROUP}"'
    lines = [
        line.replace(attribute, "")
        for line in split_lines(master)
        if line and not line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")
    ]
    if captions:
        lines = [
            line + attribute if line.startswith("#EXT-X-STREAM-INF:") else line for line in lines
        ]
        media = [
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{SUBTITLES_GROUP}",'
            f'NAME="{_quoted(c.label)}",LANGUAGE="{c.language}",DEFAULT=NO,AUTOSELECT=YES,'
            f'FORCED=NO,URI="{caption_playlist(c.language)}"'
            for c in captions
        ]
        # After the header and any other renditions, before the first variant.
        at = next(
            (i for i, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF:")),
            len(lines),
        )
        lines[at:at] = media
    return "\n".join(lines) + "\n"


def mpd_with_captions(mpd: str, captions: Sequence[CaptionTrack]) -> str:
    """The MPD with one text adaptation set per caption (the whole WebVTT file, which DASH
    players read as it is), and none when there are no captions."""
    if not captions and 'contentType="text"' not in mpd:
        return mpd
    ET.register_namespace("", MPD_NAMESPACE)
    root = ET.fromstring(mpd)  # noqa: S314 (the MPD our transcoder wrote)
    tag = f"{{{MPD_NAMESPACE}}}"
    period = root.find(f"{tag}Period")
    if period is None:
        return mpd
    for old in period.findall(f"{tag}AdaptationSet"):
        if old.get("contentType") == "text":
            period.remove(old)
    ids = [int(a.get("id", "0")) for a in period.findall(f"{tag}AdaptationSet")]
    next_id = max(ids, default=-1) + 1
    for offset, caption in enumerate(captions):
        adaptation = ET.SubElement(
            period,
            f"{tag}AdaptationSet",
            id=str(next_id + offset),
            contentType="text",
            mimeType="text/vtt",
            lang=caption.language,
        )
        ET.SubElement(adaptation, f"{tag}Label").text = caption.label
        ET.SubElement(adaptation, f"{tag}Role", schemeIdUri=ROLE_SCHEME, value="subtitle")
        representation = ET.SubElement(
            adaptation,
            f"{tag}Representation",
            id=f"caption-{caption.language}",
            bandwidth=str(CAPTION_BANDWIDTH),
        )
        ET.SubElement(representation, f"{tag}BaseURL").text = caption_file(caption.language)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
