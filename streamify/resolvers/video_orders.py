"""Lists of videos in orders other than newest first (MOST_VIEWED from PostgreSQL's totals,
TRENDING from the Redis ranking), and how many a list holds. Every order shows what
`videos` always shows: others' READY PUBLIC videos, or all of one's own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

from streamify.domain import (
    BadUserInput,
    Unavailable,
    Video,
    VideoOrder,
    VideoStatus,
    Visibility,
)
from streamify.infra.redis_client import REDIS_DOWN_ERRORS
from streamify.infra.sql import stats as stats_sql
from streamify.resolvers.context import Context
from streamify.resolvers.ids import decode_order_cursor, encode_order_cursor
from streamify.resolvers.videos import Listing, can_view

# Trending entries read per round while looking for a page of visible videos, and rounds.
TRENDING_ROUNDS = 20


Pairs = list[tuple[str, Video]]


async def most_viewed(ctx: Context, listing: Listing, after: str | None) -> tuple[Pairs, bool]:
    cursor = None
    if after is not None:
        views, id_ = decode_order_cursor(after, "v")
        cursor = stats_sql.ViewsCursor(int(views), id_)
    if listing.empty:
        return [], False
    rows = await stats_sql.most_viewed_page(
        ctx.db.pool,
        limit=listing.limit + 1,
        after=cursor,
        owner_id=listing.owner_id,
        status=listing.status.value if listing.status else None,
        visibilities=[v.value for v in listing.visibilities],
    )
    has_next = len(rows) > listing.limit
    rows = rows[: listing.limit]
    videos = await ctx.loaders.video_by_id.load_many([video for video, _ in rows])
    return [
        (encode_order_cursor("v", str(views), video.id), video)
        for (_, views), video in zip(rows, videos, strict=True)
        if video is not None and can_view(ctx, video, by_id=False)
    ], has_next


async def trending(ctx: Context, listing: Listing, after: str | None) -> tuple[Pairs, bool]:
    if listing.owner_id is not None:
        raise BadUserInput("orderBy TRENDING lists everyone's videos: leave ownerId out.")
    cursor: tuple[float, UUID] | None = None
    if after is not None:
        written, id_ = decode_order_cursor(after, "t")
        try:
            cursor = (float.fromhex(written), id_)
        except ValueError:
            raise BadUserInput(f"after: {after!r} is not a cursor of this order.") from None
    if listing.empty:
        return [], False
    shown: Pairs = []
    try:
        for _ in range(TRENDING_ROUNDS):
            entries = await ctx.viewing.trending.after(cursor, listing.limit + 1)
            if not entries:
                break
            videos = await ctx.loaders.video_by_id.load_many([video for video, _ in entries])
            for (video_id, rank), video in zip(entries, videos, strict=True):
                cursor = (rank, video_id)
                if video is not None and _listed(ctx, video):
                    shown.append((encode_order_cursor("t", rank.hex(), video.id), video))
            if len(shown) > listing.limit or len(entries) <= listing.limit:
                break
    except REDIS_DOWN_ERRORS:
        raise Unavailable("Trending is unavailable while Redis does not answer.") from None
    return shown[: listing.limit], len(shown) > listing.limit


def _listed(ctx: Context, video: Video) -> bool:
    return (
        video.visibility is Visibility.PUBLIC
        and video.status is VideoStatus.READY
        and can_view(ctx, video, by_id=False)
    )


def total_of(ctx: Context, listing: Listing, order: VideoOrder) -> Callable[[], Awaitable[int]]:
    """How many videos the list holds, computed only when asked for."""

    async def total() -> int:
        if listing.empty:
            return 0
        if order is VideoOrder.TRENDING:
            return await ctx.viewing.trending.size()
        return await stats_sql.count_videos(
            ctx.db.pool,
            owner_id=listing.owner_id,
            status=listing.status.value if listing.status else None,
            visibilities=[v.value for v in listing.visibilities],
        )

    return total
