"""Captions as owners send them (WebVTT or SRT text) → checked, sanitised WebVTT cues.

Every error names the line it found (`BadUserInput`, "line 12: …"): the libraries that parse
these formats (webvtt-py, srt) report a malformed file without saying where. What comes out
is WebVTT this module wrote itself: cue timings and the cue settings players know, and cue
text in which the only markup left is WebVTT's own (`<i>`, `<b>`, `<u>`, `<c.class>`,
`<v Speaker>`, `<lang tag>`, `<ruby>`, `<rt>`, cue timestamps); any other tag (`<font>`,
`<script>`, …) is dropped with its text kept, and a stray `<`, `>` or `&` is escaped. STYLE,
REGION and NOTE blocks are not kept: no style sheet of a stranger's reaches a page."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import NamedTuple

from streamify.domain import BadUserInput

MAX_CAPTION_BYTES = 512 * 1024
# A cue per 1.4 s over the 4 h a video may last: more is not a caption, and the count is
# what every later step (segmenting, publishing) scales with.
MAX_CUES = 10_000
# A cue that spans segment boundaries is repeated in at most this many following HLS
# segments (players drop the repeats), so the segmented files hold at most 1 + this many
# copies of the caption, whatever its cues say.
MAX_REPEATS = 3

# Every pattern here runs on a stranger's text: none may backtrack over unbounded input.
# Timestamps are matched on one whitespace-free token; tags are cut out by a scan for the
# next "<", ">" or line end, and only then matched on that short span.
_VTT_TIME = re.compile(r"(?:(\d{2,9}):)?([0-5]\d):([0-5]\d)\.(\d{3})")
_SRT_TIME = re.compile(r"(\d{1,9}):([0-5]\d):([0-5]\d)[,.](\d{3})")
_BLANKS = re.compile(r"[ \t]+")
# A whole timing line at once (the common case; any other shape is looked at part by part
# to say what is wrong). Its one open-ended part, the settings, runs to the line's end.
_VTT_TIMING = re.compile(
    r"(?:(\d{2,9}):)?([0-5]\d):([0-5]\d)\.(\d{3})[ \t]+-->[ \t]+"
    r"(?:(\d{2,9}):)?([0-5]\d):([0-5]\d)\.(\d{3})(?:[ \t]+(.*))?"
)
_SRT_TIMING = re.compile(
    r"(\d{1,9}):([0-5]\d):([0-5]\d)[,.](\d{3})[ \t]+-->[ \t]+"
    r"(\d{1,9}):([0-5]\d):([0-5]\d)[,.](\d{3})(?:[ \t]+(.*))?"
)
_SETTINGS = {
    "vertical": re.compile(r"rl|lr"),
    "line": re.compile(r"(?:-?\d{1,9}|\d{1,3}(?:\.\d{1,6})?%)(?:,(?:start|center|end))?"),
    "position": re.compile(r"\d{1,3}(?:\.\d{1,6})?%(?:,(?:line-left|center|line-right))?"),
    "size": re.compile(r"\d{1,3}(?:\.\d{1,6})?%"),
    "align": re.compile(r"start|center|end|left|right"),
}
_CANDIDATE_TAG = re.compile(r"<([^<>\n]*)>")
# A candidate's body (no "<", ">" or line end in it): one way to split it, so no backtracking.
_TAG_BODY = re.compile(r"(/?)([A-Za-z]+)((?:\.[A-Za-z0-9_-]+)*)(?:[ \t]+(.*))?")
_TIMESTAMP_TAG = re.compile(r"(?:\d{2,9}:)?[0-5]\d:[0-5]\d\.\d{3}")
_KEPT_TAGS = {"c", "i", "b", "u", "ruby", "rt", "v", "lang"}
_ANNOTATED = {"v", "lang"}
_REFERENCE_NAME = r"(?:amp|lt|gt|lrm|rlm|nbsp|#\d{1,7}|#[xX][0-9A-Fa-f]{1,6});"
_LONE_AMPERSAND = re.compile(f"&(?!{_REFERENCE_NAME})")
# Override tags of SubStation Alpha that SRT files carry ({\an8}, {\i1}). No "{" inside one,
# so a run of "{\" without "}" costs one scan to the next "{", not one to the end each.
_ASS_OVERRIDE = re.compile(r"\{\\[^{}\n]*\}")


class Cue(NamedTuple):
    # A tuple, not a frozen dataclass: a caption makes up to 10,000 of them, twice.
    start: float  # seconds
    end: float
    text: str  # sanitised cue text (WebVTT markup only), lines joined by "\n"
    identifier: str = ""
    settings: str = ""


@dataclass(frozen=True, slots=True)
class Captions:
    cues: tuple[Cue, ...]
    source_format: str  # "WebVTT" or "SRT"


def timestamp(seconds: float) -> str:
    return _timestamp(round(seconds * 1000))


@functools.lru_cache(maxsize=16384)
def _timestamp(ms: int) -> str:
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _refuse(line: int, message: str) -> BadUserInput:
    return BadUserInput(f"caption line {line}: {message}")


def _seconds(text: str, pattern: re.Pattern[str], line: int, shape: str) -> float:
    match = pattern.fullmatch(text)
    if match is None:
        raise _refuse(line, f"{text[:40]!r} is not a timestamp ({shape})")
    hours, minutes, secs, millis = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + secs + millis / 1000


def _settings(raw: str) -> str:
    kept = []
    for item in raw.split():
        name, _, value = item.partition(":")
        pattern = _SETTINGS.get(name)
        if pattern is not None and pattern.fullmatch(value):
            kept.append(f"{name}:{value}")
    return " ".join(kept)


def sanitise(text: str) -> str:
    """Cue text with WebVTT's own markup only, in a few passes of `re` and `str` over it.

    A candidate tag is a "<" up to the next ">" with no "<" or line end between: one scan
    stops at the next "<", so no stretch of text is scanned twice over. A tag that is kept
    comes out spelled with placeholders (\\x00 for "<", \\x01 for ">", \\x02 for "&": control
    characters that no cue keeps), so the rest is escaped as a whole, then the placeholders
    become markup again."""
    text = text.translate(_PLACEHOLDERS_OUT)
    if "{\\" in text:
        text = _ASS_OVERRIDE.sub("", text)
    if "<" in text:
        text = _CANDIDATE_TAG.sub(_kept_tag, text)
    if "&" in text:
        text = _LONE_AMPERSAND.sub("&amp;", text)
    return text.replace("<", "&lt;").replace(">", "&gt;").translate(_PLACEHOLDERS_IN)


_PLACEHOLDERS_OUT = dict.fromkeys((0, 1, 2))
# What parsing takes out of a whole file first: the placeholders and the cue break.
_WORKING_CHARACTERS = dict.fromkeys((0, 1, 2, 3))
_PLACEHOLDERS_IN = {0: "<", 1: ">", 2: "&"}


def _kept_tag(candidate: re.Match[str]) -> str:
    body = candidate.group(1)
    # Captions repeat a few short tags thousands of times: those are worked out once.
    kept = _short_tag(body) if len(body) <= 64 else _tag(body)
    return candidate.group(0) if kept is None else kept


def _tag(body: str) -> str | None:
    """What a tag `<body>` becomes, in placeholders: itself (WebVTT's own), "" (any other
    tag: dropped, its text kept), or None (not a tag: its "<" and ">" are text)."""
    parts = _TAG_BODY.fullmatch(body)
    if parts is None:
        return f"\x00{body}\x01" if _TIMESTAMP_TAG.fullmatch(body) else None
    closing, name, classes, annotation = parts.groups()
    name = name.lower()
    if name not in _KEPT_TAGS:
        return ""
    if closing:
        return f"\x00/{name}\x01"
    note = ""
    if name in _ANNOTATED and annotation and annotation.strip():
        note = " " + _LONE_AMPERSAND.sub("&amp;", annotation.strip()).replace("&", "\x02")
    kept = f"{name}{classes}{note}"
    # "<c.x-->" would read as a cue timing line in the file we write: such a tag goes.
    return "" if kept.endswith("--") else f"\x00{kept}\x01"


_short_tag = functools.lru_cache(maxsize=4096)(_tag)


def forget_tags() -> None:
    """Empty the cache of short tags (for measuring a first parse)."""
    _short_tag.cache_clear()


@dataclass(slots=True)
class _Block:
    line: int  # of its first line, counting from 1
    lines: list[str]


# A line of nothing but whitespace (as `str.strip()` sees it) separates blocks like an empty
# one; blocks are then cut at runs of line feeds, in C, counting lines as they go.
# (A pattern that starts with a line feed: `re` jumps from one to the next.)
_BLANK_LINE = re.compile(r"\n[^\S\n]+(?=\n|\Z)")
_GAP = re.compile(r"(\n{2,})")


def _blocks(text: str) -> list[_Block]:
    text = _BLANK_LINE.sub("\n", "\n" + text)[1:]
    body = text.lstrip("\n")
    line = len(text) - len(body) + 1
    pieces = _GAP.split(body)
    blocks = []
    for at in range(0, len(pieces), 2):
        block = pieces[at]
        if block:
            blocks.append(_Block(line, block.removesuffix("\n").split("\n")))
        if at + 1 < len(pieces):
            line += block.count("\n") + len(pieces[at + 1])
    return blocks


def _check_encoding(text: str) -> None:
    for marker, problem in (
        ("\x00", "holds a NUL character: this is not a text file"),
        ("\ufffd", "holds U+FFFD: the file was not UTF-8 (save it as UTF-8 and send it again)"),
    ):
        at = text.find(marker)
        if at >= 0:
            raise _refuse(text.count("\n", 0, at) + 1, problem)


def _timing(line: str) -> tuple[str, str, str] | None:
    """(start, end, settings) of a cue timing line 'start --> end [settings]', or None."""
    before, arrow, after = line.strip().partition("-->")
    if not arrow or before[-1:] not in (" ", "\t") or after[:1] not in (" ", "\t"):
        return None
    start = before.strip(" \t")
    rest = _BLANKS.split(after.strip(" \t"), maxsplit=1)
    if not start or not rest[0] or _BLANKS.search(start):
        return None
    return start, rest[0], rest[1] if len(rest) > 1 else ""


def _slow_timing(line: str, number: int, *, srt: bool) -> tuple[float, float, str]:
    """(start, end, settings) of a timing line the one-pattern match refused, or why not."""
    timing = _timing(line)
    if timing is None:
        raise _refuse(number, "a cue timing line is 'start --> end'")
    pattern, shape = (_SRT_TIME, "hh:mm:ss,ttt") if srt else (_VTT_TIME, "hh:mm:ss.ttt")
    start = _seconds(timing[0], pattern, number, shape)
    end = _seconds(timing[1], pattern, number, shape)
    return start, end, timing[2]


def _cue(block: _Block, *, srt: bool, duration: float | None) -> Cue:
    lines = block.lines
    timing_at = 0
    identifier = ""
    if "-->" not in lines[0]:
        if len(lines) < 2 or "-->" not in lines[1]:
            shape = "00:00:01,000 --> 00:00:02,000" if srt else "00:00:01.000 --> 00:00:02.000"
            raise _refuse(block.line, f"expected a cue timing line ({shape})")
        identifier = "" if srt else lines[0].strip()
        timing_at = 1
    number = block.line + timing_at
    fast = (_SRT_TIMING if srt else _VTT_TIMING).fullmatch(lines[timing_at].strip())
    if fast is not None:
        h1, m1, s1, t1, h2, m2, s2, t2, raw_settings = fast.groups()
        start = int(h1 or 0) * 3600 + int(m1) * 60 + int(s1) + int(t1) / 1000
        end = int(h2 or 0) * 3600 + int(m2) * 60 + int(s2) + int(t2) / 1000
    else:
        start, end, raw_settings = _slow_timing(lines[timing_at], number, srt=srt)
    if end <= start:
        raise _refuse(
            number, f"the cue ends ({timestamp(end)}) before it starts ({timestamp(start)})"
        )
    if duration is not None:
        if start >= duration:
            raise _refuse(
                number,
                f"the cue starts at {timestamp(start)}, after the video ends "
                f"({timestamp(duration)})",
            )
        # A cue shows no longer than the video plays (its end clamped, to the millisecond
        # the file can say, never onto its start).
        end = max(min(end, math.floor(duration * 1000) / 1000), start + 0.001)
    text = "\n".join(lines[timing_at + 1 :])  # as sent: `_sanitised` does all cues at once
    if "-->" in text:
        offset = number + 1 + text.count("\n", 0, text.index("-->"))
        raise _refuse(offset, "a timing line inside a cue: separate cues with an empty line")
    settings = "" if srt or not raw_settings else _settings(raw_settings)
    return Cue(start, end, text, identifier, settings)


# Between two cues' texts while they are sanitised as one (the text holds no U+0003: the
# control characters sanitising uses are taken out of the whole file first).
_CUE_BREAK = "\x03"
# Only where a run of blanks starts (the lookbehind): tried from inside a run too, a run of
# n blanks not at a line's end would cost n^2.
_TRAILING_BLANKS = re.compile(r"(?<![^\S\n])[^\S\n]+$", re.MULTILINE)
_EMPTY_LINES = re.compile(r"\n{2,}")


def _sanitised(cues: list[Cue]) -> list[Cue]:
    """The cues with their text sanitised, all in one pass of `sanitise` and two of `re`. A
    line that sanitises to nothing ("{\\an8}", "<font></font>") would end the cue early in the
    file we write: it goes, and so do blanks at a line's end."""
    joined = sanitise(f"\n{_CUE_BREAK}\n".join(c.text for c in cues))
    joined = _EMPTY_LINES.sub("\n", _TRAILING_BLANKS.sub("", joined))
    texts = joined.split(_CUE_BREAK)
    return [
        Cue(c.start, c.end, t.strip("\n"), c.identifier, c.settings)
        for c, t in zip(cues, texts, strict=True)
    ]


def parse(content: str, *, duration: float | None = None) -> Captions:
    """Check WebVTT or SRT text; its cues in time order. `duration`, when known, is the
    video's: a cue starting after it is an error, and every cue ends by then. Linear in the
    text's length, whatever it holds."""
    size = len(content.encode("utf-8", "surrogatepass"))
    if size > MAX_CAPTION_BYTES:
        raise BadUserInput(f"content is {size} bytes; a caption file is at most 512 KiB.")
    text = content.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    _check_encoding(text)
    text = text.translate(_WORKING_CHARACTERS)
    if text.count("-->") > MAX_CUES:
        raise BadUserInput(f"content has more than {MAX_CUES:,} cues.")
    blocks = _blocks(text)
    if not blocks:
        raise BadUserInput("content is empty: send a WebVTT or SRT file.")
    head = blocks[0].lines[0]
    vtt = head == "WEBVTT" or head.startswith(("WEBVTT ", "WEBVTT\t"))
    if vtt:
        blocks = [b for b in blocks[1:] if not _is_skipped_block(b.lines[0])]  # header goes
    elif not any("-->" in line for line in blocks[0].lines[:2]):
        raise _refuse(
            blocks[0].line,
            "expected WebVTT (a first line 'WEBVTT') or SRT (a number, then "
            "'00:00:01,000 --> 00:00:02,000')",
        )
    if not blocks:
        raise BadUserInput("content has no cues.")
    cues = _sanitised([_cue(b, srt=not vtt, duration=duration) for b in blocks])
    cues.sort(key=lambda c: c.start)
    return Captions(tuple(cues), source_format="WebVTT" if vtt else "SRT")


def stored_form(captions: Captions) -> str:
    """The WebVTT we keep and publish for these cues; refused if escaping made it larger
    than a caption may be (every `<` may have become `&lt;`)."""
    vtt = to_webvtt(captions.cues)
    size = len(vtt.encode())
    if size > MAX_CAPTION_BYTES:
        raise BadUserInput(
            f"content is {size} bytes once written as WebVTT (stray '<', '>' and '&' "
            "escaped, times in full); a caption file is at most 512 KiB."
        )
    return vtt


def _is_skipped_block(first: str) -> bool:
    word = first.split(maxsplit=1)[0] if first.strip() else ""
    return word in ("NOTE", "STYLE", "REGION") and "-->" not in first


def _render(start: float, end: float, text: str, identifier: str, settings: str) -> str:
    head = f"{timestamp(start)} --> {timestamp(end)}"
    if settings:
        head = f"{head} {settings}"
    if identifier:
        head = f"{identifier}\n{head}"
    return f"\n{head}\n{text}\n" if text else f"\n{head}\n"


def to_webvtt(
    cues: tuple[Cue, ...] | list[Cue], *, header: str = "", until: float | None = None
) -> str:
    """A WebVTT file of these cues (`header`: lines after WEBVTT, such as X-TIMESTAMP-MAP);
    with `until` (the video's duration), cues from then on left out and every cue ending by
    then."""
    top = "WEBVTT\n" + (header + "\n" if header else "")
    if until is None:
        return top + "".join(_render(*cue) for cue in cues)
    return top + "".join(
        _render(c.start, min(c.end, until), c.text, c.identifier, c.settings)
        for c in cues
        if c.start < until
    )


SEGMENT_HEADER = "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000"


def segments(cues: tuple[Cue, ...], duration: float, seconds: float) -> list[tuple[float, str]]:
    """The captions cut into HLS WebVTT segments of `seconds` over the video's `duration`:
    (segment duration, file text). A cue is in the segment it starts in and, while it lasts,
    in at most MAX_REPEATS following ones, with its own times (players drop the repeats);
    times map to the media timeline from 0, as the CMAF segments' do. Cues past the end are
    left out and every cue ends by then, so the files hold at most 1 + MAX_REPEATS copies of
    each cue plus a header per segment, however the cues overlap; one pass over the cues."""
    total = duration if duration > 0 else max((c.end for c in cues), default=seconds)
    count = max(1, math.ceil(total / seconds - 1e-6))
    inside: list[list[str]] = [[] for _ in range(count)]
    for cue in cues:
        if cue.start >= total:
            continue
        end = min(cue.end, total)
        first = min(count - 1, int(cue.start // seconds))
        last = min(count - 1, first + MAX_REPEATS, math.ceil(end / seconds - 1e-9) - 1)
        text = _render(cue.start, end, cue.text, cue.identifier, cue.settings)
        for index in range(first, max(first, last) + 1):
            inside[index].append(text)
    top = "WEBVTT\n" + SEGMENT_HEADER + "\n"
    out = []
    for index in range(count):
        start = index * seconds
        end = min(total, start + seconds) if index == count - 1 else start + seconds
        out.append((end - start, top + "".join(inside[index])))
    return out
