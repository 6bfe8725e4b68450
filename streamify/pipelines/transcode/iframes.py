"""I-frame playlists: each rung's keyframes as byte ranges into its own CMAF segments.

Players use them to scrub and to scan (Safari and Apple TV show the keyframes while the
playhead is dragged), and they cost no media of their own: every entry names a range of a
segment the rung already has. ffmpeg writes no such playlist for fragmented MP4, so the ranges
are read from the segments' boxes (ISO/IEC 14496-12): each segment is one fragment (`moof`
then `mdat`) that starts with a keyframe, and its entry runs from the `moof` through the end of
that keyframe's sample; a player reads the fragment's header and one frame, nothing more.

Plain functions over files: nothing here knows about Prefect, S3 or the database."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from streamify.pipelines.transcode.media import IFRAMES_PLAYLIST, MediaError, segment_durations

# tfhd flags
_BASE_DATA_OFFSET = 0x000001
_SAMPLE_DESCRIPTION_INDEX = 0x000002
_DEFAULT_DURATION = 0x000008
_DEFAULT_SIZE = 0x000010
_DEFAULT_FLAGS = 0x000020
# trun flags
_DATA_OFFSET = 0x000001
_FIRST_SAMPLE_FLAGS = 0x000004
_SAMPLE_DURATION = 0x000100
_SAMPLE_SIZE = 0x000200
_SAMPLE_FLAGS = 0x000400
_SAMPLE_CTS = 0x000800
# sample flags: sample_is_non_sync_sample
_NON_SYNC = 0x00010000


@dataclass(frozen=True, slots=True)
class Box:
    kind: str
    offset: int  # of the box's header, from the start of the file
    size: int  # header included
    header: int  # header length


@dataclass(frozen=True, slots=True)
class Keyframe:
    """A fragment's leading keyframe: where its fragment starts, and where its sample is."""

    moof_offset: int
    sample_offset: int
    sample_size: int

    @property
    def length(self) -> int:
        """Bytes from the `moof` through the end of the keyframe's sample."""
        return self.sample_offset + self.sample_size - self.moof_offset


@dataclass(frozen=True, slots=True)
class IFrame:
    segment: str  # the segment's URI as the rung's playlist names it
    offset: int
    length: int
    duration: float


def boxes(f: BinaryIO, start: int, end: int) -> Iterator[Box]:
    """The boxes laid end to end between two offsets of a file (a box's payload included)."""
    offset = start
    while offset + 8 <= end:
        f.seek(offset)
        size, kind = struct.unpack(">I4s", f.read(8))
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", f.read(8))
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise MediaError(f"A segment has a broken {kind.decode('latin-1')!r} box.")
        yield Box(kind.decode("latin-1"), offset, size, header)
        offset += size


def _child(f: BinaryIO, parent: Box, kind: str) -> Box | None:
    return next(
        (
            b
            for b in boxes(f, parent.offset + parent.header, parent.offset + parent.size)
            if b.kind == kind
        ),
        None,
    )


def _full_box(f: BinaryIO, box: Box) -> tuple[int, int]:
    """(version, flags) of a full box; the file is left at its payload."""
    f.seek(box.offset + box.header)
    word = struct.unpack(">I", f.read(4))[0]
    return word >> 24, word & 0xFFFFFF


def first_keyframe(f: BinaryIO, moof: Box) -> Keyframe:
    """The first sample of a fragment, which must be a keyframe (our segments start on one)."""
    traf = _child(f, moof, "traf")
    tfhd = _child(f, traf, "tfhd") if traf else None
    trun = _child(f, traf, "trun") if traf else None
    if traf is None or tfhd is None or trun is None:
        raise MediaError("A segment's fragment has no track run.")
    _, tf_flags = _full_box(f, tfhd)
    f.read(4)  # track_ID
    base = moof.offset  # default-base-is-moof, which CMAF requires
    if tf_flags & _BASE_DATA_OFFSET:
        (base,) = struct.unpack(">Q", f.read(8))
    if tf_flags & _SAMPLE_DESCRIPTION_INDEX:
        f.read(4)
    if tf_flags & _DEFAULT_DURATION:
        f.read(4)
    default_size = struct.unpack(">I", f.read(4))[0] if tf_flags & _DEFAULT_SIZE else 0
    default_flags = struct.unpack(">I", f.read(4))[0] if tf_flags & _DEFAULT_FLAGS else 0

    _, tr_flags = _full_box(f, trun)
    (count,) = struct.unpack(">I", f.read(4))
    if count == 0:
        raise MediaError("A segment's fragment has no samples.")
    data_offset = struct.unpack(">i", f.read(4))[0] if tr_flags & _DATA_OFFSET else 0
    first_flags = struct.unpack(">I", f.read(4))[0] if tr_flags & _FIRST_SAMPLE_FLAGS else None
    if tr_flags & _SAMPLE_DURATION:
        f.read(4)
    size = struct.unpack(">I", f.read(4))[0] if tr_flags & _SAMPLE_SIZE else default_size
    flags = struct.unpack(">I", f.read(4))[0] if tr_flags & _SAMPLE_FLAGS else default_flags
    if first_flags is not None:
        flags = first_flags
    if flags & _NON_SYNC or size == 0:
        raise MediaError("A segment does not start with a keyframe.")
    return Keyframe(moof.offset, base + data_offset, size)


def segment_keyframe(path: Path) -> Keyframe:
    """The leading keyframe of a CMAF segment of one fragment."""
    with path.open("rb") as f:
        end = f.seek(0, 2)
        moof = next((b for b in boxes(f, 0, end) if b.kind == "moof"), None)
        if moof is None:
            raise MediaError(f"The segment {path.name} has no fragment.")
        key = first_keyframe(f, moof)
        if key.sample_offset + key.sample_size > end:
            raise MediaError(f"The segment {path.name} ends before its keyframe does.")
        return key


def read_iframes(playlist: Path) -> list[IFrame]:
    """One entry per segment of a rung's playlist: its keyframe's range and the time to the
    next one (the segment's duration, since each segment starts with a keyframe)."""
    found = []
    for name, seconds in segment_durations(playlist):
        key = segment_keyframe(playlist.parent / name)
        found.append(IFrame(name, key.moof_offset, key.length, seconds))
    return found


def iframe_playlist(frames: list[IFrame], init: str) -> str:
    """A VOD I-frame playlist (version 7: EXT-X-MAP with I-frames only needs at least 6)."""
    target = max((round(f.duration) for f in frames), default=1)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{max(1, target)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXT-X-I-FRAMES-ONLY",
        f'#EXT-X-MAP:URI="{init}"',
    ]
    for frame in frames:
        lines.append(f"#EXTINF:{frame.duration:.6f},")
        lines.append(f"#EXT-X-BYTERANGE:{frame.length}@{frame.offset}")
        lines.append(frame.segment)
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def write_iframe_playlist(rung_dir: Path, init: str) -> Path:
    """Write a rung's I-frame playlist beside its playlist."""
    frames = read_iframes(rung_dir / "index.m3u8")
    if not frames:
        raise MediaError("A rendition has no segments.")
    path = rung_dir / IFRAMES_PLAYLIST
    path.write_text(iframe_playlist(frames, init))
    return path
