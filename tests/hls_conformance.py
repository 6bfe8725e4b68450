"""A checker of the HLS authoring rules that apply to what the transcoder writes: run against
the output of every ladder test (`check_stream`). docs/media.md lists the rules and the sections
of Apple's HLS authoring specification and of RFC 8216 they come from.

It reads a published stream the way a player does, from the master down: playlists as text,
segments as bytes (the I-frame byte ranges are opened and their first box read)."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

APPLE_TARGET_SECONDS = 6
ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^",]*)')


def attributes(line: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in ATTRIBUTE.findall(line.split(":", 1)[1])}


@dataclass
class Findings:
    broken: list[str] = field(default_factory=list)

    def need(self, ok: bool, rule: str, what: str) -> None:
        if not ok:
            self.broken.append(f"{rule}: {what}")


@dataclass(frozen=True)
class Entry:
    uri: str
    duration: float
    byterange: tuple[int, int] | None  # (length, offset)


@dataclass
class MediaPlaylist:
    tags: list[str]
    entries: list[Entry]

    def has(self, tag: str) -> bool:
        return any(t == tag or t.startswith(tag + ":") for t in self.tags)

    def value(self, tag: str) -> str | None:
        return next((t.split(":", 1)[1] for t in self.tags if t.startswith(tag + ":")), None)


def read_media_playlist(path: Path) -> MediaPlaylist:
    tags: list[str] = []
    entries: list[Entry] = []
    duration, byterange = 0.0, None
    for line in path.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line.removeprefix("#EXTINF:").split(",")[0])
        elif line.startswith("#EXT-X-BYTERANGE:"):
            length, offset = line.removeprefix("#EXT-X-BYTERANGE:").split("@")
            byterange = (int(length), int(offset))
        elif line.startswith("#"):
            tags.append(line)
        elif line.strip():
            entries.append(Entry(line.strip(), duration, byterange))
            byterange = None
    return MediaPlaylist(tags, entries)


def _media_rules(name: str, playlist: MediaPlaylist, found: Findings) -> None:
    found.need(playlist.value("#EXT-X-PLAYLIST-TYPE") == "VOD", "RFC 8216 4.3.3.5", name)
    found.need(playlist.has("#EXT-X-ENDLIST"), "RFC 8216 4.3.3.4", name)
    found.need(playlist.has("#EXT-X-MAP"), "RFC 8216 4.3.2.5 (fMP4 needs EXT-X-MAP)", name)
    target = int(playlist.value("#EXT-X-TARGETDURATION") or 0)
    found.need(target > 0, "RFC 8216 4.3.3.1", f"{name} has a target duration")
    # (A source shorter than one segment has one shorter segment, and that target.)
    short = sum(e.duration for e in playlist.entries) < APPLE_TARGET_SECONDS
    found.need(target == APPLE_TARGET_SECONDS or short, "Apple 7.5 (6 s target duration)", name)
    for entry in playlist.entries:
        found.need(
            round(entry.duration) <= target,
            "RFC 8216 4.3.3.1",
            f"{name}: {entry.uri} lasts {entry.duration} s, over the target {target} s",
        )
    found.need(
        int(playlist.value("#EXT-X-VERSION") or 0) >= 6,
        "RFC 8216 7 (EXT-X-MAP in a playlist without I-frames only needs version 6)",
        name,
    )


def check_stream(hls: Path) -> list[str]:
    """The rules `hls` (a folder holding master.m3u8) breaks: [] when it breaks none."""
    found = Findings()
    master = (hls / "master.m3u8").read_text().splitlines()
    found.need(master[:1] == ["#EXTM3U"], "RFC 8216 4.3.1.1", "master starts with #EXTM3U")
    found.need("#EXT-X-INDEPENDENT-SEGMENTS" in master, "RFC 8216 4.3.5.1", "master")

    variants: list[tuple[dict[str, str], str]] = []
    for i, line in enumerate(master):
        if line.startswith("#EXT-X-STREAM-INF:"):
            variants.append((attributes(line), master[i + 1]))
    iframe_streams = [
        attributes(line) for line in master if line.startswith("#EXT-X-I-FRAME-STREAM-INF:")
    ]
    found.need(bool(variants), "RFC 8216 4.3.4.2", "master names variants")

    durations = []
    for attrs, uri in variants:
        for required in ("BANDWIDTH", "AVERAGE-BANDWIDTH", "CODECS", "RESOLUTION", "FRAME-RATE"):
            found.need(required in attrs, "RFC 8216 4.3.4.2", f"{uri} has {required}")
        found.need(
            attrs.get("CLOSED-CAPTIONS") == "NONE",
            "Apple, Delivering WebVTT subtitles and captions (no in-band captions: NONE)",
            f"{uri}: CLOSED-CAPTIONS={attrs.get('CLOSED-CAPTIONS')!r}",
        )
        playlist = read_media_playlist(hls / uri)
        _media_rules(uri, playlist, found)
        durations.append(sum(e.duration for e in playlist.entries))
    if durations:
        found.need(
            max(durations) - min(durations) < 0.5,
            "RFC 8216 6.2.4 (variants cover the same time range)",
            f"variant durations {durations}",
        )

    # Trick play: an I-frame playlist per video variant, with its attributes, I-frames only,
    # each entry a byte range that starts at its fragment's moof.
    folders = {uri.rsplit("/", 1)[0] for _, uri in variants}
    named = {a.get("URI", "").rsplit("/", 1)[0] for a in iframe_streams}
    found.need(folders <= named, "Apple 6.1 (I-frame playlists)", f"{folders - named} lack one")
    for attrs in iframe_streams:
        uri = attrs.get("URI", "")
        for required in ("BANDWIDTH", "AVERAGE-BANDWIDTH", "CODECS", "RESOLUTION", "URI"):
            found.need(required in attrs, "Apple 9.3/9.4", f"I-frame stream {uri} has {required}")
        found.need(
            "mp4a" not in attrs.get("CODECS", ""),
            "RFC 8216 4.3.4.3",
            f"{uri}: an I-frame stream's CODECS names its video only",
        )
        playlist = read_media_playlist(hls / uri)
        _media_rules(uri, playlist, found)
        found.need(playlist.has("#EXT-X-I-FRAMES-ONLY"), "Apple 6.8", f"{uri}")
        found.need(bool(playlist.entries), "Apple 6.1", f"{uri} has entries")
        for entry in playlist.entries:
            if entry.byterange is None:
                found.need(False, "Apple 6.10", f"{uri}: {entry.uri} has no byte range")
                continue
            length, offset = entry.byterange
            segment = hls / uri.rsplit("/", 1)[0] / entry.uri
            with segment.open("rb") as f:
                f.seek(offset)
                head = f.read(8)
            kind = struct.unpack(">I4s", head)[1] if len(head) == 8 else b""
            found.need(kind == b"moof", "Apple 6.10", f"{uri}: {entry.uri}@{offset} is {kind!r}")
            found.need(
                offset + length <= segment.stat().st_size,
                "RFC 8216 4.3.2.2",
                f"{uri}: the range of {entry.uri} ends inside the file",
            )
    _subtitles_rules(hls, master, variants, durations, found)
    return found.broken


def _subtitles_rules(
    hls: Path,
    master: list[str],
    variants: list[tuple[dict[str, str], str]],
    durations: list[float],
    found: Findings,
) -> None:
    """Subtitles renditions: their attributes, the groups the variants name, and segmented
    WebVTT playlists covering the variants' time range."""
    renditions = [
        attributes(line) for line in master if line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")
    ]
    groups = {a.get("GROUP-ID") for a in renditions}
    for attrs, uri in variants:
        group = attrs.get("SUBTITLES")
        found.need(
            (group in groups) if group else not renditions,
            "RFC 8216 4.3.4.2.1 (a variant names an existing SUBTITLES group, all of them do)",
            f"{uri}: SUBTITLES={group!r}",
        )
    names = [(a.get("GROUP-ID"), a.get("NAME")) for a in renditions]
    found.need(len(set(names)) == len(names), "RFC 8216 4.3.4.1.1", f"names unique: {names}")
    for attrs in renditions:
        uri = attrs.get("URI", "")
        for required in ("GROUP-ID", "NAME", "LANGUAGE", "URI"):
            found.need(required in attrs, "RFC 8216 4.3.4.1", f"subtitles {uri} has {required}")
        playlist = read_media_playlist(hls / uri)
        found.need(playlist.value("#EXT-X-PLAYLIST-TYPE") == "VOD", "RFC 8216 4.3.3.5", uri)
        found.need(playlist.has("#EXT-X-ENDLIST"), "RFC 8216 4.3.3.4", uri)
        target = int(playlist.value("#EXT-X-TARGETDURATION") or 0)
        found.need(target > 0, "RFC 8216 4.3.3.1", f"{uri} has a target duration")
        for entry in playlist.entries:
            found.need(round(entry.duration) <= target, "RFC 8216 4.3.3.1", f"{uri}: {entry}")
            text = (hls / uri.rsplit("/", 1)[0] / entry.uri).read_text().splitlines()
            found.need(text[:1] == ["WEBVTT"], "RFC 8216 3.5 (WebVTT segments)", entry.uri)
            found.need(
                any(x.startswith("X-TIMESTAMP-MAP=") for x in text[:3]),
                "RFC 8216 3.5 (X-TIMESTAMP-MAP synchronises cues with the media)",
                entry.uri,
            )
        total = sum(e.duration for e in playlist.entries)
        found.need(
            all(abs(total - d) < 0.5 for d in durations),
            "RFC 8216 6.2.4 (renditions cover the variants' time range)",
            f"{uri} lasts {total} s, the variants {durations}",
        )
