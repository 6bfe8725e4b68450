"""Captions as owners send them (WebVTT or SRT text) → checked, sanitised WebVTT cues.

Every error names the line it found (`BadUserInput`, "line 12: …"): the libraries that parse
these formats (webvtt-py, srt) report a malformed file without saying where. What comes out
is WebVTT this module wrote itself: cue timings and the cue settings players know, and cue
text in which the only markup left is WebVTT's own (`<i>`, `<b>`, `<u>`, `<c.class>`,
`<v Speaker>`, `<lang tag>`, `<ruby>`, `<rt>`, cue timestamps); any other tag (`<font>`,
`<script>`, …) is dropped with its text kept, and a stray `<`, `>` or `&` is escaped. STYLE,
REGION and NOTE blocks are not kept: no style sheet of a stranger's reaches a page."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from streamify.domain import BadUserInput

MAX_CAPTION_BYTES = 512 * 1024

_VTT_TIME = re.compile(r"^(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})$")
_SRT_TIME = re.compile(r"^(\d{1,}):([0-5]\d):([0-5]\d)[,.](\d{3})$")
_ARROW = re.compile(r"^(\S+)[ \t]+-->[ \t]+(\S+)(?:[ \t]+(.*))?$")
_SETTINGS = {
    "vertical": re.compile(r"^(rl|lr)$"),
    "line": re.compile(r"^(-?\d+|\d+(\.\d+)?%)(,(start|center|end))?$"),
    "position": re.compile(r"^\d+(\.\d+)?%(,(line-left|center|line-right))?$"),
    "size": re.compile(r"^\d+(\.\d+)?%$"),
    "align": re.compile(r"^(start|center|end|left|right)$"),
}
_TAG = re.compile(r"<(/?)([A-Za-z]+)((?:\.[A-Za-z0-9_-]+)*)(?:[ \t]+([^<>\n]*))?>")
_TIMESTAMP_TAG = re.compile(r"<(?:\d{2,}:)?[0-5]\d:[0-5]\d\.\d{3}>")
_KEPT_TAGS = {"c", "i", "b", "u", "ruby", "rt", "v", "lang"}
_ANNOTATED = {"v", "lang"}
_REFERENCE_NAME = r"(?:amp|lt|gt|lrm|rlm|nbsp|#\d{1,7}|#[xX][0-9A-Fa-f]{1,6});"
_REFERENCE = re.compile("&" + _REFERENCE_NAME)
_LONE_AMPERSAND = re.compile(f"&(?!{_REFERENCE_NAME})")
# Override tags of SubStation Alpha that SRT files carry ({\an8}, {\i1}).
_ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")


@dataclass(frozen=True, slots=True)
class Cue:
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
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _refuse(line: int, message: str) -> BadUserInput:
    return BadUserInput(f"caption line {line}: {message}")


def _seconds(text: str, pattern: re.Pattern[str], line: int, shape: str) -> float:
    match = pattern.match(text)
    if match is None:
        raise _refuse(line, f"{text[:40]!r} is not a timestamp ({shape})")
    hours, minutes, secs, millis = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + secs + millis / 1000


def _settings(raw: str | None) -> str:
    kept = []
    for item in (raw or "").split():
        name, _, value = item.partition(":")
        pattern = _SETTINGS.get(name)
        if pattern is not None and pattern.match(value):
            kept.append(f"{name}:{value}")
    return " ".join(kept)


def sanitise(text: str) -> str:
    """Cue text with WebVTT's own markup only."""
    text = _ASS_OVERRIDE.sub("", text)
    out: list[str] = []
    at = 0
    while at < len(text):
        char = text[at]
        if char == "<":
            stamp = _TIMESTAMP_TAG.match(text, at)
            if stamp is not None:
                out.append(stamp.group())
                at = stamp.end()
                continue
            tag = _TAG.match(text, at)
            if tag is not None:
                closing, name, classes, annotation = tag.groups()
                name = name.lower()
                if name in _KEPT_TAGS:
                    if closing:
                        out.append(f"</{name}>")
                    else:
                        note = ""
                        if name in _ANNOTATED and annotation and annotation.strip():
                            note = " " + _escape_text(annotation.strip())
                        out.append(f"<{name}{classes}{note}>")
                at = tag.end()  # any other tag goes; its text stays
                continue
            out.append("&lt;")
        elif char == ">":
            out.append("&gt;")
        elif char == "&":
            reference = _REFERENCE.match(text, at)
            if reference is not None:
                out.append(reference.group())
                at = reference.end()
                continue
            out.append("&amp;")
        else:
            out.append(char)
        at += 1
    return "".join(out)


def _escape_text(text: str) -> str:
    """An annotation (`<v Name>`): its `&` escaped unless it starts a reference."""
    return _LONE_AMPERSAND.sub("&amp;", text)


@dataclass
class _Block:
    line: int  # of its first line, counting from 1
    lines: list[str]


def _blocks(lines: list[str], first: int = 0) -> list[_Block]:
    blocks: list[_Block] = []
    current: _Block | None = None
    for number, line in enumerate(lines[first:], start=first + 1):
        if line.strip():
            if current is None:
                current = _Block(number, [])
                blocks.append(current)
            current.lines.append(line)
        else:
            current = None
    return blocks


def _check_encoding(text: str) -> None:
    for marker, problem in (
        ("\x00", "holds a NUL character: this is not a text file"),
        ("\ufffd", "holds U+FFFD: the file was not UTF-8 (save it as UTF-8 and send it again)"),
    ):
        at = text.find(marker)
        if at >= 0:
            raise _refuse(text.count("\n", 0, at) + 1, problem)


def _cue(block: _Block, *, srt: bool) -> Cue:
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
    match = _ARROW.match(lines[timing_at].strip())
    if match is None:
        raise _refuse(number, "a cue timing line is 'start --> end'")
    pattern, shape = (_SRT_TIME, "hh:mm:ss,ttt") if srt else (_VTT_TIME, "hh:mm:ss.ttt")
    start = _seconds(match.group(1), pattern, number, shape)
    end = _seconds(match.group(2), pattern, number, shape)
    if end <= start:
        raise _refuse(
            number, f"the cue ends ({timestamp(end)}) before it starts ({timestamp(start)})"
        )
    text_lines = lines[timing_at + 1 :]
    for offset, line in enumerate(text_lines, start=number + 1):
        if "-->" in line:
            raise _refuse(offset, "a timing line inside a cue: separate cues with an empty line")
    return Cue(
        start=start,
        end=end,
        text=sanitise("\n".join(line.rstrip() for line in text_lines)),
        identifier=identifier,
        settings="" if srt else _settings(match.group(3)),
    )


def parse(content: str, *, duration: float | None = None) -> Captions:
    """Check WebVTT or SRT text; its cues in time order. `duration`, when known, is the
    video's: a cue starting after it is an error."""
    size = len(content.encode("utf-8", "surrogatepass"))
    if size > MAX_CAPTION_BYTES:
        raise BadUserInput(f"content is {size} bytes; a caption file is at most 512 KiB.")
    text = content.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    _check_encoding(text)
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise BadUserInput("content is empty: send a WebVTT or SRT file.")
    head = lines[first]
    vtt = head == "WEBVTT" or head.startswith(("WEBVTT ", "WEBVTT\t"))
    if vtt:
        blocks = _blocks(lines, first)[1:]  # the header block goes
        blocks = [b for b in blocks if not _is_skipped_block(b.lines[0])]
    else:
        blocks = _blocks(lines)
        if not any("-->" in line for line in blocks[0].lines[:2]):
            raise _refuse(
                first + 1,
                "expected WebVTT (a first line 'WEBVTT') or SRT (a number, then "
                "'00:00:01,000 --> 00:00:02,000')",
            )
    cues = [_cue(b, srt=not vtt) for b in blocks]
    if duration is not None:
        for block, cue in zip(blocks, cues, strict=True):
            if cue.start >= duration:
                raise _refuse(
                    block.line,
                    f"the cue starts at {timestamp(cue.start)}, after the video ends "
                    f"({timestamp(duration)})",
                )
    if not cues:
        raise BadUserInput("content has no cues.")
    return Captions(
        tuple(sorted(cues, key=lambda c: c.start)), source_format="WebVTT" if vtt else "SRT"
    )


def _is_skipped_block(first: str) -> bool:
    word = first.split(maxsplit=1)[0] if first.strip() else ""
    return word in ("NOTE", "STYLE", "REGION") and "-->" not in first


def _cue_text(cue: Cue) -> str:
    head = f"{timestamp(cue.start)} --> {timestamp(cue.end)}"
    if cue.settings:
        head += " " + cue.settings
    parts = [cue.identifier, head] if cue.identifier else [head]
    if cue.text:
        parts.append(cue.text)
    return "\n".join(parts)


def to_webvtt(cues: tuple[Cue, ...] | list[Cue], *, header: str = "") -> str:
    """A WebVTT file of these cues (`header`: lines after WEBVTT, such as X-TIMESTAMP-MAP)."""
    top = "WEBVTT\n" + (header + "\n" if header else "")
    return top + "".join("\n" + _cue_text(cue) + "\n" for cue in cues)


def segments(cues: tuple[Cue, ...], duration: float, seconds: float) -> list[tuple[float, str]]:
    """The captions cut into HLS WebVTT segments of `seconds` over the video's `duration`:
    (segment duration, file text). A cue spanning a boundary is in every segment it
    overlaps, with its own times (players drop the repeats); times map to the media timeline
    from 0, as the CMAF segments' do."""
    total = duration if duration > 0 else max((c.end for c in cues), default=seconds)
    count = max(1, math.ceil(total / seconds - 1e-6))
    out = []
    for index in range(count):
        start = index * seconds
        end = min(total, start + seconds) if index == count - 1 else start + seconds
        inside = [c for c in cues if c.start < end and c.end > start]
        out.append(
            (end - start, to_webvtt(inside, header="X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000"))
        )
    return out
