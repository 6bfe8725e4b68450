"""What `Video.stats` shows: totals to anyone who may see the video, playback quality and views
by hour to its owner alone."""

from __future__ import annotations

from dataclasses import dataclass

from streamify.domain import BadUserInput, Forbidden, Video
from streamify.infra.sql import stats as stats_sql
from streamify.infra.viewing.events import STARTUP_BUCKETS_MS
from streamify.infra.viewing.reader import VideoStats
from streamify.resolvers.context import Context

MAX_HOURS = 24 * 90
# Playback quality covers the last 30 days.
QUALITY_HOURS = 24 * 30


async def stats_of(ctx: Context, video: Video) -> VideoStats:
    """Only ever called for a video the caller may see (the field is on it)."""
    return await ctx.loaders.video_stats_by_id.load(video.id)


def _owns(ctx: Context, video: Video) -> bool:
    return ctx.viewer is not None and ctx.viewer.user_id == video.owner_id


@dataclass(frozen=True, slots=True)
class Quality:
    startup_p50_ms: float | None
    startup_p95_ms: float | None
    rebuffer_ratio: float
    error_rate: float
    renditions: list[tuple[int, float]]  # (height, share of watch time), tallest first


async def playback_quality(ctx: Context, video: Video) -> Quality | None:
    """None for anyone but the owner."""
    if not _owns(ctx, video):
        return None
    q = await stats_sql.quality(ctx.db.pool, video.id, QUALITY_HOURS)
    rendition_total = sum(q.rendition_ms.values())
    return Quality(
        startup_p50_ms=percentile(q.startup_buckets, 0.5),
        startup_p95_ms=percentile(q.startup_buckets, 0.95),
        rebuffer_ratio=q.rebuffer_ms / q.watch_ms if q.watch_ms else 0.0,
        error_rate=q.errors / q.views if q.views else 0.0,
        renditions=[
            (height, ms / rendition_total)
            for height, ms in sorted(q.rendition_ms.items(), reverse=True)
        ]
        if rendition_total
        else [],
    )


def percentile(buckets: dict[int, int], rank: float) -> float | None:
    """The `rank` percentile of a startup-time histogram, linear within its bucket."""
    total = sum(buckets.values())
    if total == 0:
        return None
    wanted = rank * total
    seen = 0
    for bucket in range(len(STARTUP_BUCKETS_MS) + 1):
        count = buckets.get(bucket, 0)
        if count and seen + count >= wanted:
            low = STARTUP_BUCKETS_MS[bucket - 1] if bucket > 0 else 0
            if bucket >= len(STARTUP_BUCKETS_MS):
                return float(low)  # the open bucket: "at least"
            high = STARTUP_BUCKETS_MS[bucket]
            return low + (high - low) * (wanted - seen) / count
        seen += count
    return float(STARTUP_BUCKETS_MS[-1])


async def views_by_hour(ctx: Context, video: Video, hours: int) -> list[stats_sql.HourlyRow]:
    if not _owns(ctx, video):
        raise Forbidden("Only the video's owner sees its views by hour.")
    if not 1 <= hours <= MAX_HOURS:
        raise BadUserInput(f"hours must be between 1 and {MAX_HOURS}.")
    return await stats_sql.hourly(ctx.db.pool, video.id, hours)
