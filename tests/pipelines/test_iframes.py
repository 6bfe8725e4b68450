"""I-frame playlists: byte ranges read from the CMAF segments' boxes, each from its fragment's
moof through its keyframe, which decode (with the init segment) to that one keyframe."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import pytest

from streamify.pipelines.transcode import encoding, iframes, media
from streamify.pipelines.transcode.media import MediaError
from tests.hls_conformance import check_stream, read_media_playlist
from tests.streams import encode_stream


def _frames(data: bytes) -> list[tuple[int, str]]:
    """(key frame?, MD5 of the decoded picture) of each frame of an MP4 given as bytes."""
    out = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-i", "pipe:0", "-select_streams", "v:0"),
            *("-show_entries", "frame=key_frame", "-of", "csv=p=0"),
        ],
        input=data,
        capture_output=True,
        check=True,
    ).stdout.decode()
    keys = [int(line.split(",")[0]) for line in out.split()]
    pictures = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", "-map", "0:v:0", "-f", "framemd5", "-"],
        input=data,
        capture_output=True,
        check=True,
    ).stdout.decode()
    sums = [row.split(",")[-1].strip() for row in pictures.splitlines() if row[:1] != "#"]
    return list(zip(keys, sums, strict=True))


async def test_each_entry_is_its_segments_keyframe_from_the_moof(tmp_path: Path) -> None:
    stream = await encode_stream(tmp_path, size="640x360", seconds=13)
    hls, info, ladder, variants = stream.hls, stream.info, stream.ladder, stream.variants

    for rung in ladder:
        folder = hls / rung.name
        init = (folder / encoding.INIT_SEGMENT).read_bytes()
        playlist = read_media_playlist(folder / media.IFRAMES_PLAYLIST)
        assert playlist.has("#EXT-X-I-FRAMES-ONLY")
        assert playlist.value("#EXT-X-MAP") == 'URI="init.mp4"'
        segments = media.segment_durations(folder / "index.m3u8")
        assert [(e.uri, e.duration) for e in playlist.entries] == segments
        for entry in playlist.entries:
            assert entry.byterange is not None
            length, offset = entry.byterange
            segment = (folder / entry.uri).read_bytes()
            part = segment[offset : offset + length]
            assert part[4:8] == b"moof" and len(part) == length < len(segment) // 4
            # Alone with the init segment it is one picture, a keyframe, the segment's first.
            [(key, picture)] = _frames(init + part)
            assert key == 1
            assert picture == _frames(init + segment)[0][1]

    assert check_stream(hls) == []
    master = (hls / "master.m3u8").read_text()
    for variant in variants:
        assert variant.iframes is not None
        frames = iframes.read_iframes(hls / variant.rung.name / "index.m3u8")
        bits = sum(f.length for f in frames) * 8
        assert variant.iframes.average == pytest.approx(bits / info.duration, rel=0.01)
        assert (
            f"#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={variant.iframes.peak},"
            f"AVERAGE-BANDWIDTH={variant.iframes.average},"
            f'CODECS="{variant.video_codecs}",'
            f"RESOLUTION={variant.rung.width}x{variant.rung.height},"
            f'URI="{variant.rung.name}/iframes.m3u8"'
        ) in master
        assert variant.iframes.average < variant.average_bandwidth / 4


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _moof(*, first_flags: int, size: int = 100, data_offset: int = 0) -> bytes:
    """One track fragment of one sample, `data_offset` bytes after the moof's start."""
    tfhd = _box(b"tfhd", struct.pack(">II", 0x020000, 1))  # default-base-is-moof
    trun_flags = 0x000001 | 0x000004 | 0x000200  # data offset, first sample flags, sizes
    trun = _box(b"trun", struct.pack(">IIiII", trun_flags, 1, data_offset, first_flags, size))
    traf = _box(b"traf", tfhd + trun)
    return _box(b"moof", _box(b"mfhd", struct.pack(">II", 0, 1)) + traf)


def test_the_box_walker_reads_what_the_spec_allows_and_refuses_the_rest(tmp_path: Path) -> None:
    # A keyframe: its range runs from the moof through its sample, the first in the mdat.
    size = len(_moof(first_flags=0))
    moof = _moof(first_flags=0x02000000, data_offset=size + 8)
    segment = _box(b"styp", b"msdh" + b"\0" * 4) + moof + _box(b"mdat", b"\1" * 100)
    path = tmp_path / "a.m4s"
    path.write_bytes(segment)
    key = iframes.segment_keyframe(path)
    assert (key.moof_offset, key.sample_offset, key.sample_size) == (16, 16 + size + 8, 100)
    assert key.length == size + 8 + 100 == len(segment) - 16

    # A 64-bit box size is read as one.
    large = struct.pack(">I4sQ", 1, b"free", 16) + moof
    walked = [b.kind for b in iframes.boxes(io.BytesIO(large), 0, len(large))]
    assert walked == ["free", "moof"]

    # A fragment that starts on a non-keyframe, a box running past the file: refused.
    path.write_bytes(_moof(first_flags=0x00010000) + _box(b"mdat", b"\1" * 100))
    with pytest.raises(MediaError, match="keyframe"):
        iframes.segment_keyframe(path)
    path.write_bytes(segment[:-10])
    with pytest.raises(MediaError, match="ends before its keyframe"):
        iframes.segment_keyframe(path)
    with pytest.raises(MediaError, match="broken 'mdat'"):
        list(iframes.boxes(io.BytesIO(segment[:-10]), 0, len(segment) - 10))
    path.write_bytes(_box(b"mdat", b""))
    with pytest.raises(MediaError, match="no fragment"):
        iframes.segment_keyframe(path)


def test_the_conformance_checker_catches_what_it_checks(tmp_path: Path) -> None:
    """The checker fails on the mistakes it is there for (so a clean result means something)."""
    folder = tmp_path / "240p"
    folder.mkdir()
    (folder / "seg.m4s").write_bytes(_box(b"styp", b"") + _moof(first_flags=0x02000000))
    (folder / "index.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        '#EXT-X-MAP:URI="init.mp4"\n#EXTINF:4.0,\nseg.m4s\n#EXT-X-ENDLIST\n'
    )
    # No I-frames-only tag, a range that starts at the styp, no AVERAGE-BANDWIDTH.
    (folder / "iframes.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        '#EXT-X-MAP:URI="init.mp4"\n#EXTINF:4.0,\n#EXT-X-BYTERANGE:20@0\nseg.m4s\n'
        "#EXT-X-ENDLIST\n"
    )
    (tmp_path / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=1,CODECS="avc1.64000D",'
        "RESOLUTION=426x240,FRAME-RATE=30.000\n240p/index.m3u8\n"
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,CODECS="avc1.64000D",RESOLUTION=426x240,'
        'URI="240p/iframes.m3u8"\n'
    )
    broken = check_stream(tmp_path)
    assert any(b.startswith("Apple 6.8:") for b in broken), broken
    assert any(b.startswith("Apple 6.10:") and "b'styp'" in b for b in broken), broken
    assert any(b.startswith("Apple 9.3/9.4:") and "AVERAGE-BANDWIDTH" in b for b in broken)
    master = (tmp_path / "master.m3u8").read_text().splitlines()
    (tmp_path / "master.m3u8").write_text("\n".join(m for m in master if "I-FRAME" not in m))
    assert any(b.startswith("Apple 6.1 ") for b in check_stream(tmp_path))
