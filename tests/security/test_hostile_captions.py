"""Captions a stranger writes to freeze, inflate or rewrite what we publish (issue 34).

`re` holds the GIL, so a pattern that backtracks over a caption stops every request of the
process, health checks included: parsing must be linear in the text, whatever it holds.
What we store must parse again to the same cues, fit the size limit as stored, and its
segmented files must stay a small multiple of the caption however its cues overlap."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamify.domain import BadUserInput
from streamify.infra import subtitle_tracks, webvtt
from streamify.resolvers.captions import validated_label, validated_language
from streamify.resolvers.playlists import signed_playlist, signed_webvtt

KIB = 1024
LIMIT = webvtt.MAX_CAPTION_BYTES
HEAD = "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n"


def _cue_of(unit: str) -> Callable[[int], str]:
    """A caption of about `size` bytes: one cue whose text repeats `unit`."""
    return lambda size: (HEAD + unit * ((size - len(HEAD)) // len(unit)))[:size]


def _cues_of(cue: str) -> Callable[[int], str]:
    return lambda size: ("WEBVTT\n\n" + cue * (size // len(cue)))[:size]


HOSTILE: dict[str, Callable[[int], str]] = {
    # The two the review found: an unterminated tag full of blanks, and "{\" without "}".
    # (A letter after the blanks: cue lines are stripped at their end.)
    "<v and spaces, no >": lambda size: (HEAD + "<v" + " " * size)[: size - 1] + "x",
    "<v and tabs and spaces, no >": lambda size: (HEAD + "<v" + " \t" * size)[: size - 1] + "x",
    "{\\ without }": _cue_of("{\\"),
    "{ without \\": _cue_of("{"),
    "< run": _cue_of("<"),
    "& run": _cue_of("&"),
    "&# run": _cue_of("&#"),
    "&#1111… one reference": lambda size: (HEAD + "&#" + "1" * size)[:size],
    "<c.a.a.a… no >": lambda size: (HEAD + "<c" + ".a" * size)[:size],
    "<v and 50 blanks, repeated": _cue_of("<v " + " " * 50),
    "<b on every line": _cue_of("<b\n"),
    "blanks, then a letter": lambda size: (HEAD + " " * size)[: size - 1] + "x",
    "50 blanks and a letter, repeated": _cue_of(" " * 50 + "x"),
    "<v, 50 blanks, repeated": _cue_of("<v " + " " * 50),
    "<b> repeated": _cue_of("<b>"),
    "distinct tags": lambda size: (HEAD + "".join(f"<c.a{i}>" for i in range(size // 6)))[:size],
    "digits before the arrow": lambda size: "WEBVTT\n\n" + "0" * size + " --> 00:01.000\nx\n",
    "blanks before the arrow": lambda size: (
        "WEBVTT\n\n00:00.000" + " " * size + "--> 00:01.000\nx\n"
    ),
    "a long setting": lambda size: "WEBVTT\n\n00:00.000 --> 00:01.000 line:" + "1" * size,
    "blank lines": lambda size: "WEBVTT\n" + "\n" * size,
    "most cues a file may hold": _cues_of("00:00.000 --> 00:01.000\nx\n\n"),
    "overlapping cues with markup": _cues_of(
        "00:00:01.000 --> 99:00:00.000 line:10% align:start\n<v Bob>hi</v> &amp; <i>x</i>\n\n"
    ),
    "SRT, each cue a lone {\\an8}": lambda size: "".join(
        f"{i}\n00:00:01,000 --> 00:00:02,000\n{{\\an8}}\n\n" for i in range(1, size // 44)
    )[:size],
}


def _checked(content: str) -> None:
    """What addCaption does with the text before it touches a database: parse, sanitise,
    write the stored form (refused or accepted, never hung)."""
    with contextlib.suppress(BadUserInput):
        webvtt.stored_form(webvtt.parse(content, duration=600))


def _seconds(content: str) -> float:
    best = float("inf")
    for _ in range(3):
        webvtt.forget_tags()  # each run as the first: no tag worked out by an earlier one
        started = time.perf_counter()
        _checked(content)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("shape", HOSTILE)
def test_a_hostile_caption_is_checked_in_linear_time(shape: str) -> None:
    make = HOSTILE[shape]
    # 16 KiB first: a quadratic pattern takes seconds here already, and an hour at 512 KiB.
    small = _seconds(make(16 * KIB))
    assert small < 0.05, f"{shape}: {small * 1000:.0f} ms for 16 KiB"
    full = _seconds(make(LIMIT - 64))
    # Under 100 ms on a quiet 2-core machine; the bound leaves CI's load room.
    assert full < 0.3, f"{shape}: {full * 1000:.0f} ms for 512 KiB"
    # Linear: 32 times the text costs about 32 times as much (a quadratic parse, 1,024 times);
    # the margin is for a machine whose speed changes between the two measurements.
    assert full < 128 * max(small, 0.0005), f"{shape}: {small * 1000:.1f} → {full * 1000:.1f} ms"


SINGLE = ["<", ">", "&", "{", "\\", "}", " ", "\t", "v", "c", ".", "-", "#", "1", ":", ";", "\n"]
PIECES = st.sampled_from(
    [*SINGLE, "x", "<v ", "</v>", "<b>", "&amp;", "&#", "{\\an8}", "-->", "00:00.000", "<c."]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unit=st.lists(PIECES, min_size=1, max_size=8).map("".join))
def test_any_repeated_pattern_costs_at_most_a_bound_per_kib(unit: str) -> None:
    """Whatever short pattern a stranger repeats to 64 KiB, the check costs at most 1 ms per
    KiB (a linear parser here takes 2 to 20 ms in all; a quadratic one, seconds to minutes)."""
    content = (HEAD + unit * (64 * KIB // len(unit)))[: 64 * KIB]
    assert _seconds(content) < 64 * 0.001


CUE_TEXT = st.lists(
    st.one_of(
        PIECES.filter(lambda p: p not in ("\n", "-->")),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
    ),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(CUE_TEXT, min_size=1, max_size=4),
    identifier=st.sampled_from(["", "intro", "2", "a<b>"]),
    srt=st.booleans(),
)
def test_what_is_stored_parses_again_to_the_same_cues(
    texts: list[str], identifier: str, srt: bool
) -> None:
    if srt:
        blocks = [f"{i}\n00:00:0{i},000 --> 00:00:0{i + 1},500\n{t}" for i, t in enumerate(texts)]
        content = "\n\n".join(blocks) + "\n"
    else:
        blocks = [
            f"{identifier}\n00:00:0{i}.000 --> 00:00:0{i + 1}.500 align:start\n{t}".lstrip("\n")
            for i, t in enumerate(texts)
        ]
        content = "WEBVTT\n\n" + "\n\n".join(blocks) + "\n"
    try:
        parsed = webvtt.parse(content, duration=30)
    except BadUserInput:
        return  # refused as sent: nothing is stored
    stored = webvtt.stored_form(parsed)
    again = webvtt.parse(stored, duration=30)
    assert again.cues == parsed.cues
    assert webvtt.stored_form(again) == stored


def test_a_lone_override_line_leaves_no_blank_line_inside_the_cue() -> None:
    srt = "1\n00:00:01,000 --> 00:00:02,000\n{\\an8}\nTop line\n<font></font>\n"
    parsed = webvtt.parse(srt)
    assert parsed.cues[0].text == "Top line"
    assert webvtt.parse(webvtt.stored_form(parsed)).cues == parsed.cues


def test_a_tag_that_would_read_as_a_timing_line_is_dropped() -> None:
    """No "-->" in the text as sent, but one appears once the override tags go."""
    content = "WEBVTT\n\n00:01.000 --> 00:02.000\n<c.x--{\\an8}>a</c> <v --{\\i1}>b</v>\n"
    parsed = webvtt.parse(content)
    assert "-->" not in parsed.cues[0].text
    assert webvtt.parse(webvtt.stored_form(parsed)).cues == parsed.cues


def test_the_size_limit_is_checked_on_what_is_stored() -> None:
    """Escaping `<` as `&lt;` makes 512 KiB of them 2 MiB: refused, not stored larger."""
    content = (HEAD + "<" * LIMIT)[: LIMIT - 8]
    parsed = webvtt.parse(content)  # fits as sent
    with pytest.raises(BadUserInput, match="once written as WebVTT"):
        webvtt.stored_form(parsed)


def test_cue_ends_are_clamped_to_the_video() -> None:
    parsed = webvtt.parse("WEBVTT\n\n00:00:01.000 --> 99:00:00.000\nall along\n", duration=600.25)
    assert parsed.cues[0].end == 600.25
    unknown = webvtt.parse("WEBVTT\n\n00:00:01.000 --> 99:00:00.000\nall along\n")
    assert unknown.cues[0].end == 99 * 3600  # clamped when the flow segments it


def test_overlapping_cues_cannot_multiply_into_the_segments() -> None:
    """The review's attack: 10,000 cues each spanning the whole of a 10-minute video (340 KB)
    made 102 files and 34 MB. Each cue is now in at most 1 + MAX_REPEATS segments."""
    caption = "WEBVTT\n\n" + "00:00:00.000 --> 99:00:00.000\nx\n\n" * 10_000
    assert len(caption) < LIMIT
    cues = webvtt.parse(caption).cues  # duration unknown when it was added
    started = time.perf_counter()
    files = subtitle_tracks.caption_files("en", cues, 600.0, 6)
    elapsed = time.perf_counter() - started
    segments = [text for path, text in files if path.startswith("captions/en/0")]
    assert len(segments) == 100
    stored = len(webvtt.to_webvtt(cues))
    header = len("WEBVTT\n" + webvtt.SEGMENT_HEADER + "\n")
    total = sum(len(text) for text in segments)
    assert total <= (1 + webvtt.MAX_REPEATS) * stored + len(segments) * header
    assert "99:00:00.000" not in segments[0]  # ends clamped to the video's 10 minutes
    assert elapsed < 1.0


# Every character some line splitter breaks on, and the spaces that are not the plain one.
SEPARATORS = ["\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
OTHER_CZ = ["\u00a0", "\u200b", "\u3000", "\t", "\x00", "\u202e", "\ufeff", "\ue000"]


@pytest.mark.parametrize("char", SEPARATORS + OTHER_CZ, ids=repr)
def test_a_label_or_language_with_a_line_break_or_odd_space_is_refused(char: str) -> None:
    with pytest.raises(BadUserInput):
        validated_label(f'English{char}#EXT-X-STREAM-INF:BANDWIDTH=1\nhttps://evil/x.m3u8"')
    with pytest.raises(BadUserInput):
        validated_label(f"Eng{char}lish")
    with pytest.raises(BadUserInput):
        validated_language(f"en{char}US")
    assert validated_label("English (US) — ✓") == "English (US) — ✓"


MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="A{sep}#EXT-X-STREAM-INF:BANDWIDTH=1{sep}https://evil.example/x.m3u8",LANGUAGE="en",URI="captions/en/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=1280x720,SUBTITLES="subs"
720p/index.m3u8
"""


@pytest.mark.parametrize("sep", [s for s in SEPARATORS if s not in "\n\r"], ids=repr)
def test_manifest_writers_split_on_line_feeds_only(sep: str) -> None:
    """A master stored before labels were checked (or a label that slipped through) keeps
    its odd character inside the attribute: no writer or rewriter turns it into a line."""
    master = MASTER.format(sep=sep)
    signed = signed_playlist(master, "Policy=p&Signature=s")
    assert signed.count("\n") == master.count("\n")
    assert [line for line in signed.split("\n") if line.startswith("#EXT-X-STREAM-INF")] == [
        '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=1280x720,SUBTITLES="subs"'
    ]
    assert "evil.example/x.m3u8?Policy" not in signed
    spliced = subtitle_tracks.master_with_captions(master, [])
    assert spliced.count("\n") == master.count("\n") - 1  # the old rendition goes, whole
    vtt = f"WEBVTT\n\n00:00.000 --> 00:01.000\nsprite.jpg#xywh=0,0,1,1{sep}evil.jpg\n"
    assert signed_webvtt(vtt, "q=1").count("\n") == vtt.count("\n")
