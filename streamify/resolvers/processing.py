"""The live processing status of a video: its current state first, then what workers report,
until READY or FAILED — or until the video is deleted or hidden from the subscriber. Events are
best-effort (a failed or slow PUBLISH loses one): after `subscription_recheck_seconds` without
one, the video's row is read again, so a lost final event still ends the stream in seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID

from streamify.domain import NotFound, TooManySubscriptions, VideoStatus
from streamify.infra import events
from streamify.infra.events import ProcessingEvent
from streamify.infra.sql import videos as sql
from streamify.resolvers.context import Context
from streamify.resolvers.ids import parse_id
from streamify.resolvers.videos import can_view

FINAL = (VideoStatus.READY, VideoStatus.FAILED)


async def processing_events(ctx: Context, raw_id: str) -> AsyncIterator[ProcessingEvent]:
    video_id = parse_id(raw_id, what="videoId")
    video = await ctx.loaders.video_by_id.load(video_id)
    if video is None or not can_view(ctx, video, by_id=True):
        raise NotFound("No such video.")
    subscriber = ctx.viewer.user_id if ctx.viewer is not None else f"ip:{ctx.client_network}"
    limit = ctx.settings.subscriptions_per_subscriber
    try:
        subscription = ctx.fanout.subscription(video_id, subscriber=subscriber)
        # Subscribed before the current state is read, so nothing between the two is lost.
        async with subscription as live:
            current = await _current(ctx, video_id)
            if current is None:
                raise NotFound("No such video.")
            yield current
            last = current.status
            recheck = ctx.settings.subscription_recheck_seconds
            while last not in FINAL:
                try:
                    item = await asyncio.wait_for(live.get(), recheck)
                except TimeoutError:
                    item = events.RESYNC  # quiet for a while: look at the row itself
                if item is events.RESYNC or item.access_changed:
                    # Events may have been missed, or who may see the video changed.
                    if not await _still_visible(ctx, video_id):
                        return
                    current = await _current(ctx, video_id)
                    if current is None:
                        return
                    if current.status is not last:
                        yield current
                        last = current.status
                    continue
                yield item
                last = item.status
    except events.TooManySubscriptions:
        raise TooManySubscriptions(
            f"At most {limit} processing subscriptions at once; end one first."
        ) from None


async def _current(ctx: Context, video_id: UUID) -> ProcessingEvent | None:
    now = await sql.status_now(ctx.db.pool, video_id)
    if now is None:
        return None
    message = now.failure_reason
    if message is not None and now.status is not VideoStatus.FAILED:
        # A run that failed on our side left why; another run is due (or under way).
        message = f"The last attempt: {message}"
    return ProcessingEvent(video_id, now.status, "current", None, message, now.updated_at)


async def _still_visible(ctx: Context, video_id: UUID) -> bool:
    """Read from PostgreSQL itself: the request's loader memo holds the video as it was."""
    found = await sql.videos_by_ids(ctx.db.pool, [video_id])
    return bool(found) and can_view(ctx, found[0], by_id=True)
