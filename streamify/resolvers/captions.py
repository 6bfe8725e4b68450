"""What the caption mutations do: validate (language, label, the file), authorize, write."""

from __future__ import annotations

import asyncio
import re
import unicodedata

import langcodes

from streamify.domain import BadUserInput, Video
from streamify.resolvers.context import Context
from streamify.resolvers.rate_limits import rate_limited
from streamify.resolvers.storage_call import storage_call
from streamify.resolvers.videos import owned_video
from streamify.writes.captions import CaptionWrites, prepared_caption

MAX_LABEL = 64
# A normalised tag is letters, digits and hyphens: it names files and goes into manifests.
TAG_SHAPE = re.compile(r"[A-Za-z0-9-]{1,35}")


def validated_language(raw: str) -> str:
    """The BCP 47 tag in its standard form (`EN-us` → `en-US`, `eng` → `en`)."""
    tag = raw.strip()
    if not tag or not langcodes.tag_is_valid(tag):
        raise BadUserInput(f"language: {raw[:40]!r} is not a BCP 47 language tag (e.g. en, pt-BR).")
    standard = langcodes.standardize_tag(tag)
    if not TAG_SHAPE.fullmatch(standard):
        raise BadUserInput(f"language: {raw[:40]!r} is not a BCP 47 language tag (e.g. en, pt-BR).")
    return standard


def validated_label(raw: str) -> str:
    label = raw.strip()
    if not 1 <= len(label) <= MAX_LABEL:
        raise BadUserInput(f"label must be 1 to {MAX_LABEL} characters.")
    if '"' in label or any(not _allowed_in_label(ch) for ch in label):
        raise BadUserInput(
            "label may not hold double quotes, control characters, line or paragraph "
            "separators, or spaces other than the plain space."
        )
    return label


def _allowed_in_label(char: str) -> bool:
    """Labels go inside quoted manifest attributes: no character of categories C (controls,
    format, private use, unassigned) or Z (spaces and line and paragraph separators, which
    `str.splitlines()` and some players break lines on) but the plain space."""
    return char == " " or unicodedata.category(char)[0] not in "CZ"


def writes_of(ctx: Context) -> CaptionWrites:
    return CaptionWrites(ctx.writes, ctx.storage, max_per_video=ctx.settings.caption_max_per_video)


@rate_limited()
async def add_caption(
    ctx: Context, raw_video_id: str, *, language: str, label: str, content: str
) -> tuple[Video, str]:
    """Add the caption (or replace the one in its language); the video as it is now, and
    the caption's language tag as stored."""
    video = await owned_video(ctx, raw_video_id, what="videoId", action="change its captions")
    tag = validated_language(language)
    name = validated_label(label)
    # Up to 512 KiB of text: parsed (in linear time) and its files made off the event loop.
    caption = await asyncio.to_thread(
        prepared_caption, content, language=tag, duration=video.duration_seconds
    )
    async with storage_call():
        await writes_of(ctx).put(
            video.id, language=tag, label=name, caption=caption, memo=ctx.loaders
        )
    await ctx.cdn_purge.purge(video.id)
    return await _reloaded(ctx, video), tag


@rate_limited()
async def remove_caption(ctx: Context, raw_video_id: str, *, language: str) -> bool:
    """Remove the caption in this language; false when the video has none in it."""
    video = await owned_video(ctx, raw_video_id, what="videoId", action="change its captions")
    tag = validated_language(language)
    async with storage_call():
        removed = await writes_of(ctx).remove(video.id, tag, memo=ctx.loaders)
    if removed:
        await ctx.cdn_purge.purge(video.id)
    return removed


async def _reloaded(ctx: Context, video: Video) -> Video:
    found = await ctx.loaders.video_by_id.load(video.id)
    return found if found is not None else video
