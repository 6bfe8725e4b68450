"""Captions as owners send them: WebVTT and SRT are checked line by line (every error names
its line), stored as sanitised WebVTT, cut into HLS segments and spliced into the master
playlist and the DASH manifest."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from streamify.domain import BadUserInput, CaptionTrack
from streamify.infra import subtitle_tracks, webvtt

VTT = """WEBVTT Kind: captions

STYLE
::cue { background: url(https://evil.example/track.png) }

NOTE a comment

intro
00:00:00.500 --> 00:00:02.000 align:start position:10% bogus:1 line:0
<v Narrator>Hello <b>world</b> & friends</v>

00:01.000 --> 00:00:05.000
<script>alert(1)</script> <font color="red">red</font> a < b > c &amp; <00:00:02.000>later
"""

SRT = """1
00:00:01,000 --> 00:00:02,500
{\\an8}Top <i>italic</i>

2
00:00:00,200 --> 00:00:00,900
First
"""


def test_webvtt_keeps_webvtts_own_markup_and_drops_everything_else() -> None:
    parsed = webvtt.parse(VTT)
    assert parsed.source_format == "WebVTT"
    first, second = parsed.cues
    assert (first.identifier, first.start, first.end) == ("intro", 0.5, 2.0)
    assert first.settings == "align:start position:10% line:0"  # bogus:1 dropped
    assert first.text == "<v Narrator>Hello <b>world</b> &amp; friends</v>"
    assert second.text == "alert(1) red a &lt; b &gt; c &amp; <00:00:02.000>later"
    out = webvtt.to_webvtt(parsed.cues)
    assert out.startswith("WEBVTT\n\nintro\n00:00:00.500 --> 00:00:02.000 align:start")
    assert "STYLE" not in out and "evil" not in out and "NOTE" not in out
    assert "<script" not in out and "<font" not in out
    assert webvtt.parse(out).cues == parsed.cues  # what is stored parses back the same


def test_srt_becomes_webvtt_in_time_order() -> None:
    parsed = webvtt.parse("\ufeff" + SRT.replace("\n", "\r\n"))
    assert parsed.source_format == "SRT"
    assert [(c.start, c.end, c.text) for c in parsed.cues] == [
        (0.2, 0.9, "First"),
        (1.0, 2.5, "Top <i>italic</i>"),
    ]
    assert all(c.identifier == "" for c in parsed.cues)  # SRT's numbers are not kept


@pytest.mark.parametrize(
    ("content", "line", "says"),
    [
        ("WEBVTT\n\n00:00:01.000 --> 00:00:00.500\nBackwards\n", 3, "ends (00:00:00.500) before"),
        (
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nOk\n\n00:00:61.000 --> 00:01:02.000\nX\n",
            6,
            "not a timestamp",
        ),
        ("WEBVTT\n\nan id\nno timing here\n", 3, "expected a cue timing line"),
        (
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nOne\n00:00:02.000 --> 00:00:03.000\n",
            5,
            "separate cues",
        ),
        ("1\n00:00:01,000 --> 00:00:2,000\nShort seconds\n", 2, "not a timestamp"),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nCaf\ufffd\n", 4, "not UTF-8"),
        ("Just some text\nwith no cues\n", 1, "expected WebVTT"),
        (
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA\n\n00:00:20.000 --> 00:00:21.000\nB\n",
            6,
            "after the video ends",
        ),
    ],
)
def test_a_broken_file_is_refused_naming_its_line(content: str, line: int, says: str) -> None:
    with pytest.raises(BadUserInput) as refused:
        webvtt.parse(content, duration=12.5)
    assert refused.value.code == "BAD_USER_INPUT"
    assert refused.value.message.startswith(f"caption line {line}:"), refused.value.message
    assert says in refused.value.message


def test_size_and_emptiness_are_checked() -> None:
    cue = "00:00:01.000 --> 00:00:02.000\n" + "x" * 100 + "\n\n"
    big = "WEBVTT\n\n" + cue * (webvtt.MAX_CAPTION_BYTES // len(cue) + 1)
    with pytest.raises(BadUserInput, match="512 KiB"):
        webvtt.parse(big)
    with pytest.raises(BadUserInput, match="empty"):
        webvtt.parse(" \n\n")
    with pytest.raises(BadUserInput, match="no cues"):
        webvtt.parse("WEBVTT\n\nNOTE only a note\n")


def test_segments_cover_the_video_and_repeat_a_cue_across_a_boundary() -> None:
    cues = webvtt.parse("WEBVTT\n\n00:00:03.000 --> 00:00:05.000\nSpans\n").cues
    parts = webvtt.segments(cues, 10.0, 4)
    assert [seconds for seconds, _ in parts] == [4, 4, 2]
    assert ["Spans" in text for _, text in parts] == [True, True, False]
    assert all(
        text.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n")
        for _, text in parts
    )
    files = dict(subtitle_tracks.caption_files("en", cues, 10.0, 4))
    playlist = files["captions/en/index.m3u8"]
    assert "#EXT-X-TARGETDURATION:4" in playlist and "#EXT-X-PLAYLIST-TYPE:VOD" in playlist
    assert playlist.count("#EXTINF:") == 3 and playlist.endswith("#EXT-X-ENDLIST\n")
    assert set(files) == {
        "captions/en.vtt",
        "captions/en/index.m3u8",
        *(f"captions/en/0000{i}.vtt" for i in range(3)),
    }


MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Main",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,AUDIO="audio"
720p/index.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,CODECS="avc1.64001f",RESOLUTION=1280x720,URI="720p/iframes.m3u8"
"""


def test_the_master_lists_one_subtitles_rendition_per_caption_and_none_after_removal() -> None:
    tracks = [CaptionTrack("en", "English"), CaptionTrack("pt-BR", "Português")]
    master = subtitle_tracks.master_with_captions(MASTER, tracks)
    lines = master.splitlines()
    subs = [x for x in lines if x.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")]
    assert subs == [
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",DEFAULT=NO,'
        'AUTOSELECT=YES,FORCED=NO,URI="captions/en/index.m3u8"',
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Português",LANGUAGE="pt-BR",'
        'DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="captions/pt-BR/index.m3u8"',
    ]
    stream = next(x for x in lines if x.startswith("#EXT-X-STREAM-INF:"))
    assert stream.endswith(',AUDIO="audio",SUBTITLES="subs"')
    iframe = next(x for x in lines if x.startswith("#EXT-X-I-FRAME-STREAM-INF:"))
    assert "SUBTITLES" not in iframe
    assert lines.index(subs[-1]) < lines.index(stream)
    # Splicing again replaces; with no captions the master is as the transcoder wrote it.
    assert subtitle_tracks.master_with_captions(master, tracks) == master
    assert subtitle_tracks.master_with_captions(master, []) == MASTER


MPD = """<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">
  <Period id="0" start="PT0S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" />
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" lang="und" />
  </Period>
</MPD>
"""


def test_the_mpd_has_one_text_adaptation_set_per_caption() -> None:
    tracks = [CaptionTrack("en", "English")]
    mpd = subtitle_tracks.mpd_with_captions(MPD, tracks)
    ns = f"{{{subtitle_tracks.MPD_NAMESPACE}}}"
    root = ET.fromstring(mpd)
    assert root.tag == f"{ns}MPD" and "ns0:" not in mpd
    sets = root.findall(f"{ns}Period/{ns}AdaptationSet")
    assert [(s.get("id"), s.get("contentType")) for s in sets] == [
        ("0", "video"),
        ("1", "audio"),
        ("2", "text"),
    ]
    text = sets[-1]
    assert (text.get("mimeType"), text.get("lang")) == ("text/vtt", "en")
    assert text.findtext(f"{ns}Label") == "English"
    role = text.find(f"{ns}Role")
    assert role is not None and role.get("value") == "subtitle"
    assert text.findtext(f"{ns}Representation/{ns}BaseURL") == "captions/en.vtt"
    again = subtitle_tracks.mpd_with_captions(mpd, [])
    assert len(ET.fromstring(again).findall(f"{ns}Period/{ns}AdaptationSet")) == 2
    assert subtitle_tracks.mpd_with_captions(MPD, []) == MPD
