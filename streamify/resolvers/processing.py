"""The live processing status of a video: its current state first, then what workers report."""

from __future__ import annotations

from collections.abc import AsyncIterator

from streamify.domain import NotFound, VideoStatus
from streamify.infra import events
from streamify.infra.events import ProcessingEvent
from streamify.resolvers.ids import parse_id
from streamify.resolvers.videos import can_view
from streamify.schema.context import Context

FINAL = (VideoStatus.READY, VideoStatus.FAILED)


async def processing_events(ctx: Context, raw_id: str) -> AsyncIterator[ProcessingEvent]:
    video_id = parse_id(raw_id, what="videoId")
    video = await ctx.loaders.video_by_id.load(video_id)
    if video is None or not can_view(ctx, video, by_id=True):
        raise NotFound("No such video.")
    prefix = ctx.settings.cache_key_prefix
    # Subscribe before reading the current state, so nothing between the two is lost.
    async with events.subscription(ctx.redis, prefix, video_id) as live:
        row = await ctx.db.pool.fetchrow(
            "SELECT status, failure_reason, updated_at FROM videos WHERE id = $1", video_id
        )
        if row is None:
            raise NotFound("No such video.")
        status = VideoStatus(row["status"])
        yield ProcessingEvent(
            video_id, status, "current", None, row["failure_reason"], row["updated_at"]
        )
        if status in FINAL:
            return
        async for event in live:
            yield event
            if event.final:
                return
