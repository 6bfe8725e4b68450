"""Lines of the playlists, manifests and WebVTT files we write and rewrite.

HLS and WebVTT end a line with LF or CR LF; players are looser (hls.js also breaks on a lone
CR) and `str.splitlines()` breaks on ten characters. A file we rewrite is split on LF alone,
and any other character that anything treats as a line break is made a space: text of a
stranger's inside an attribute stays inside it."""

from __future__ import annotations

import re

# CR, VT, FF, FS, GS, RS, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR: every break
# `str.splitlines()` knows but LF.
_OTHER_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def split_lines(text: str) -> list[str]:
    """The lines of `text` (without a last empty one for its final LF), each free of any
    line break."""
    lines = text.removesuffix("\n").split("\n")
    return [_OTHER_BREAKS.sub(" ", line.removesuffix("\r")) for line in lines]


def has_line_break(text: str) -> bool:
    return "\n" in text or _OTHER_BREAKS.search(text) is not None
