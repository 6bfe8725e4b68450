"""Viewing statistics in the schema: `Video.stats` and its owner-only parts."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from streamify import domain
from streamify.resolvers import stats as stats_resolvers
from streamify.schema.context import GraphQLContext


@strawberry.type(name="HourlyViews")
class HourlyViewsType:
    hour: datetime
    views: int
    watch_time_seconds: float


@strawberry.type(name="RenditionShare")
class RenditionShareType:
    height: int
    watch_share: float = strawberry.field(description="Share of watch time, 0 to 1.")


@strawberry.type(name="PlaybackQuality")
class PlaybackQualityType:
    startup_time_ms_p50: float | None = strawberry.field(
        description="Median time from play() to the first frame; null without samples."
    )
    startup_time_ms_p95: float | None
    rebuffer_ratio: float = strawberry.field(description="Time stalled over time watched.")
    error_rate: float = strawberry.field(description="Views that met a playback error.")
    renditions: list[RenditionShareType] = strawberry.field(
        description="Watch time by rendition height, tallest first."
    )


@strawberry.type(name="VideoStats")
class VideoStatsType:
    record: strawberry.Private[domain.Video]
    views: int = strawberry.field(
        description="Sessions that started playing it (once per session and video, until the "
        "session has been idle for STREAMIFY_STATS_VIEW_WINDOW_SECONDS). At most "
        "STREAMIFY_STATS_MAX_STALENESS_SECONDS old."
    )
    unique_viewers: int = strawberry.field(description="Distinct sessions, estimated (~1%).")
    watch_time_seconds: float

    @strawberry.field(
        description="The last 30 days' playback quality; its owner's alone (null for others)."
    )
    async def playback_quality(
        self, info: Info[GraphQLContext, None]
    ) -> PlaybackQualityType | None:
        found = await stats_resolvers.playback_quality(info.context, self.record)
        if found is None:
            return None
        return PlaybackQualityType(
            startup_time_ms_p50=found.startup_p50_ms,
            startup_time_ms_p95=found.startup_p95_ms,
            rebuffer_ratio=found.rebuffer_ratio,
            error_rate=found.error_rate,
            renditions=[RenditionShareType(height=h, watch_share=s) for h, s in found.renditions],
        )

    @strawberry.field(description="Views and watch time per hour, oldest first; owners only.")
    async def views_by_hour(
        self, info: Info[GraphQLContext, None], hours: int = 48
    ) -> list[HourlyViewsType]:
        rows = await stats_resolvers.views_by_hour(info.context, self.record, hours)
        return [
            HourlyViewsType(hour=r.hour, views=r.views, watch_time_seconds=r.watch_ms / 1000)
            for r in rows
        ]


async def stats_of(ctx: GraphQLContext, video: domain.Video) -> VideoStatsType:
    found = await stats_resolvers.stats_of(ctx, video)
    return VideoStatsType(
        record=video,
        views=found.views,
        unique_viewers=found.unique_viewers,
        watch_time_seconds=found.watch_ms / 1000,
    )
