"""The live processing status of a video: its current state first, then what workers report."""

from __future__ import annotations

from collections.abc import AsyncIterator

from streamify.core.context import Context
from streamify.core.ids import parse_id
from streamify.core.videos import can_view
from streamify.domain import NotFound, VideoStatus
from streamify.infra.events import ProcessingEvent
from streamify.infra.sql import videos as sql

FINAL = (VideoStatus.READY, VideoStatus.FAILED)


async def processing_events(ctx: Context, raw_id: str) -> AsyncIterator[ProcessingEvent]:
    video_id = parse_id(raw_id, what="videoId")
    video = await ctx.loaders.video_by_id.load(video_id)
    if video is None or not can_view(ctx, video, by_id=True):
        raise NotFound("No such video.")
    # Subscribe before reading the current state, so nothing between the two is lost.
    async with ctx.events.subscription(video_id) as live:
        now = await sql.status_now(ctx.db.pool, video_id)
        if now is None:
            raise NotFound("No such video.")
        yield ProcessingEvent(
            video_id, now.status, "current", None, now.failure_reason, now.updated_at
        )
        if now.status in FINAL:
            return
        async for event in live:
            yield event
            if event.final:
                return
