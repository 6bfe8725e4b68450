"""The DASH manifest names the HLS stream's own files: every init and media segment its
templates expand to exists, none is left out, and each representation's timeline is its
playlist's segments."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from streamify.pipelines.transcode import dash, media
from tests.streams import encode_stream

NS = {"d": dash.NAMESPACE}


def _expanded(template: ET.Element) -> list[tuple[str, int]]:
    """(media segment path, duration in ms) of every segment a SegmentTemplate names."""
    number = int(template.get("startNumber", "1"))
    found = []
    for s in template.findall("d:SegmentTimeline/d:S", NS):
        for _ in range(int(s.get("r", "0")) + 1):
            media_path = template.get("media", "").replace("$Number%05d$", f"{number:05d}")
            found.append((media_path, int(s.get("d", "0"))))
            number += 1
    return found


async def test_the_mpd_names_every_hls_segment_and_nothing_else(tmp_path: Path) -> None:
    stream = await encode_stream(tmp_path, size="640x360", seconds=13)
    hls, info, variants, audio = stream.hls, stream.info, stream.variants, stream.audio
    assert audio is not None

    root = ET.fromstring(dash.dash_manifest(hls, variants, audio))
    assert root.tag == f"{{{dash.NAMESPACE}}}MPD" and root.get("type") == "static"
    assert root.get("profiles") == dash.PROFILE
    named: set[str] = set()
    representations = root.findall("d:Period/d:AdaptationSet/d:Representation", NS)
    assert [r.get("id") for r in representations] == ["240p", "360p", "audio"]
    for representation in representations:
        template = representation.find("d:SegmentTemplate", NS)
        assert template is not None and template.get("timescale") == "1000"
        folder = representation.get("id")
        playlist = hls / str(folder) / "index.m3u8"
        segments = media.segment_durations(playlist)
        expanded = _expanded(template)
        assert [path for path, _ in expanded] == [f"{folder}/{name}" for name, _ in segments]
        # Durations in ms, rounded on the running sum: never more than 1 ms off at any edge.
        edge = exact = 0.0
        for (_, ms), (_, seconds) in zip(expanded, segments, strict=True):
            edge += ms
            exact += seconds * 1000
            assert abs(edge - exact) <= 1
        named |= {path for path, _ in expanded} | {str(template.get("initialization"))}
        assert representation.get("codecs") in {v.video_codecs for v in variants} | {"mp4a.40.2"}
    on_disk = {  # the stream's files (encode_locally keeps its chunks under chunks/)
        str(p.relative_to(hls))
        for p in hls.rglob("*")
        if p.suffix in (".m4s", ".mp4") and p.relative_to(hls).parts[0] != "chunks"
    }
    assert named == on_disk  # the same files as HLS: no second copy, nothing left out
    [channels] = root.findall(".//d:AudioChannelConfiguration", NS)
    assert channels.get("value") == str(audio.channels)
    video = root.find("d:Period/d:AdaptationSet[@contentType='video']", NS)
    assert video is not None and video.get("maxHeight") == "360"
    duration = root.get("mediaPresentationDuration", "")
    assert abs(float(duration.removeprefix("PT").removesuffix("S")) - info.duration) < 0.2
