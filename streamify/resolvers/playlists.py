"""Signed copies of a signed video's text files. HLS playlists, the DASH manifest and the
storyboard's WebVTT name their files relatively, and a relative URI drops the query string of
the file it is read from; so every URI in them gets the signature parameters the request came
with, and players need nothing but the first URL."""

from __future__ import annotations

import re

from streamify.infra.text_lines import split_lines

URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')
# The attributes of a DASH SegmentTemplate that name files.
TEMPLATE_ATTRIBUTE = re.compile(r'\b(initialization|media)="([^"]*)"')
BASE_URL = re.compile(r"<BaseURL>([^<]*)</BaseURL>")


def _is_relative(uri: str) -> bool:
    return "://" not in uri and not uri.startswith(("/", "data:"))


def with_query(uri: str, query: str) -> str:
    """`uri` with `query` added before its fragment (`sprite.jpg#xywh=…` keeps its tile)."""
    if not _is_relative(uri):
        return uri
    base, hash_mark, fragment = uri.partition("#")
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{query}{hash_mark}{fragment}"


def signed_playlist(text: str, query: str) -> str:
    """An HLS playlist whose URIs (lines and `URI="…"` attributes) carry `query`."""
    lines = []
    for line in split_lines(text):
        stripped = line.strip()
        if stripped.startswith("#"):
            lines.append(URI_ATTRIBUTE.sub(lambda m: f'URI="{with_query(m[1], query)}"', line))
        elif stripped:
            lines.append(with_query(stripped, query))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def signed_mpd(text: str, query: str) -> str:
    """A DASH manifest whose segment templates and base URLs (the captions' WebVTT files)
    carry `query` (XML-escaped: `&` is `&amp;`; DASH players substitute $Number$ and keep
    the query)."""
    escaped = query.replace("&", "&amp;")
    text = TEMPLATE_ATTRIBUTE.sub(lambda m: f'{m[1]}="{with_query(m[2], escaped)}"', text)
    return BASE_URL.sub(lambda m: f"<BaseURL>{with_query(m[1], escaped)}</BaseURL>", text)


def signed_webvtt(text: str, query: str) -> str:
    """A WebVTT index whose cue payloads (the sprite URL of each tile) carry `query`."""
    lines = []
    in_cue = False
    for line in split_lines(text):
        stripped = line.strip()
        if "-->" in stripped:
            in_cue = True
            lines.append(line)
        elif not stripped:
            in_cue = False
            lines.append(line)
        else:
            lines.append(with_query(stripped, query) if in_cue else line)
    return "\n".join(lines) + "\n"
