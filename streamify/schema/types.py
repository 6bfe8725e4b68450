"""Strawberry object types. They map records to fields; what a field does lives in the resolvers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import strawberry
from strawberry.types import Info

from streamify import domain
from streamify.resolvers import videos as video_resolvers
from streamify.resolvers.playback import media_urls, needs_signature
from streamify.schema.context import GraphQLContext
from streamify.schema.stats import VideoStatsType, stats_of

Visibility = strawberry.enum(domain.Visibility, description="Who may see a video.")
VideoStatus = strawberry.enum(domain.VideoStatus, description="Where a video is in its life.")
VideoOrder = strawberry.enum(domain.VideoOrder, description="The order of a list of videos.")


@strawberry.type(name="User")
class UserType:
    id: strawberry.ID
    display_name: str

    @classmethod
    def of(cls, ctx: GraphQLContext, user: domain.User) -> UserType:
        return ctx.views.users.get(user, cls._made)

    @classmethod
    def _made(cls, user: domain.User) -> UserType:
        return cls(id=strawberry.ID(str(user.id)), display_name=user.display_name)


@strawberry.type(name="Rendition")
class RenditionType:
    height: int
    width: int
    bitrate: int = strawberry.field(description="Peak bits per second.")
    codecs: str

    @classmethod
    def of(cls, r: domain.Rendition) -> RenditionType:
        return cls(height=r.height, width=r.width, bitrate=r.bitrate, codecs=r.codecs)


def rendition_objects(
    ctx: GraphQLContext, found: domain.VideoRenditions | None
) -> list[RenditionType]:
    """A video's renditions as GraphQL objects, made once per loaded record."""
    if found is None:
        return []
    return ctx.views.renditions.get(found, _renditions_made)


def _renditions_made(found: domain.VideoRenditions) -> list[RenditionType]:
    return [RenditionType.of(r) for r in video_resolvers.renditions_in(found)]


@strawberry.type(name="Manifest")
class ManifestType:
    url: str = strawberry.field(
        description="HLS master playlist on the CDN. Signed for PRIVATE and UNLISTED videos: "
        "play it as it is (every file it names carries the signature) until expiresAt."
    )
    expires_at: datetime | None = strawberry.field(
        description="When a signed URL stops working (ask again before); null: unsigned."
    )
    dash_url: str | None = strawberry.field(
        description="DASH manifest (MPD) of the same stream: it names the same CMAF segments "
        "as url, and is signed and expires alike. Null for a stream published before DASH."
    )


@strawberry.type(name="Storyboard")
class StoryboardType:
    image_url: str = strawberry.field(description="The sprite of thumbnails.")
    vtt_url: str = strawberry.field(
        description="WebVTT index: each cue names the sprite's tile (#xywh=) for its time span, "
        "as players show them over the seek bar."
    )


@strawberry.type(name="Caption")
class CaptionType:
    language: str = strawberry.field(description="BCP 47 language tag, in its standard form.")
    label: str = strawberry.field(description="The name players show in their captions menu.")
    url: str | None = strawberry.field(
        description="The whole WebVTT file on the CDN (for a <track> element; signed like "
        "manifest). Null until the video's stream is published."
    )

    @classmethod
    def of(cls, track: domain.CaptionTrack, url: str | None) -> CaptionType:
        return cls(language=track.language, label=track.label, url=url)


def captions_of(video: domain.Video, urls: tuple[str | None, ...]) -> list[CaptionType]:
    padded = (*urls, *([None] * (len(video.captions) - len(urls))))
    return [CaptionType.of(t, url) for t, url in zip(video.captions, padded, strict=False)]


@strawberry.type(name="Video")
class VideoType:
    # Scalars are plain attributes, filled once: Strawberry resolves them with getattr,
    # which costs far less per field than a resolver method (it matters on 50-video pages).
    record: strawberry.Private[domain.Video]
    id: strawberry.ID
    title: str
    description: str
    tags: list[str]
    visibility: Visibility  # type: ignore[valid-type]
    status: VideoStatus  # type: ignore[valid-type]
    duration: float | None = strawberry.field(description="Seconds; null until processed.")
    created_at: datetime
    updated_at: datetime
    playable: bool = strawberry.field(
        description="Its stream plays: true from the moment its lowest rung is published "
        "(while PROCESSING, further rungs join the manifest as they finish) and when READY."
    )
    manifest: ManifestType | None
    thumbnail_url: str | None = strawberry.field(description="The poster (signed like manifest).")
    storyboard: StoryboardType | None
    failure_reason: str | None = strawberry.field(
        description="Why the video FAILED, for its owner to act on; null otherwise."
    )
    captions: list[CaptionType] = strawberry.field(
        description="Its captions, by language tag; the HLS master lists each as a subtitles "
        "rendition and the DASH manifest as a text adaptation set."
    )

    @classmethod
    def of(cls, ctx: GraphQLContext, video: domain.Video) -> VideoType:
        """The video as GraphQL shows it to this viewer. Without signed URLs it shows every
        viewer the same: made once per record (`RecordViews`), not once per request."""
        if needs_signature(video.visibility):
            return cls._made(ctx, video)
        return ctx.views.videos.get(video, lambda record: cls._made(ctx, record))

    @classmethod
    def _made(cls, ctx: GraphQLContext, video: domain.Video) -> VideoType:
        urls = media_urls(ctx, video)
        expires = (
            datetime.fromtimestamp(urls.expires_at, UTC) if urls.expires_at is not None else None
        )
        return cls(
            record=video,
            id=strawberry.ID(str(video.id)),
            title=video.title,
            description=video.description,
            tags=list(video.tags),
            visibility=video.visibility,
            status=video.status,
            duration=video.duration_seconds,
            created_at=video.created_at,
            updated_at=video.updated_at,
            playable=video.playable,
            manifest=ManifestType(url=urls.manifest, expires_at=expires, dash_url=urls.dash)
            if urls.manifest is not None
            else None,
            thumbnail_url=urls.thumbnail,
            storyboard=StoryboardType(image_url=urls.storyboard_image, vtt_url=urls.storyboard_vtt)
            if urls.storyboard_image is not None and urls.storyboard_vtt is not None
            else None,
            failure_reason=video.failure_reason
            if video.status is domain.VideoStatus.FAILED
            else None,
            captions=captions_of(video, urls.captions) if video.captions else [],
        )

    @strawberry.field
    async def owner(self, info: Info[GraphQLContext, None]) -> UserType | None:
        user = await video_resolvers.owner_of(info.context, self.record)
        return UserType.of(info.context, user) if user is not None else None

    @strawberry.field(description="Processing runs started for this video, retries included.")
    async def processing_attempts(self, info: Info[GraphQLContext, None]) -> int:
        return await info.context.loaders.processing_attempts_by_video_id.load(self.record.id)

    @strawberry.field
    async def renditions(self, info: Info[GraphQLContext, None]) -> list[RenditionType]:
        found = await video_resolvers.renditions_record_of(info.context, self.record)
        return rendition_objects(info.context, found)

    @strawberry.field(
        description="How it is watched: counted from players' beacons (POST /beacons)."
    )
    async def stats(self, info: Info[GraphQLContext, None]) -> VideoStatsType:
        return await stats_of(info.context, self.record)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class VideoEdge:
    cursor: str
    node: VideoType


@strawberry.type
class VideoConnection:
    count: strawberry.Private[Callable[[], Awaitable[int]]]
    edges: list[VideoEdge]
    page_info: PageInfo

    @strawberry.field(description="How many videos the whole list holds (every page).")
    async def total_count(self) -> int:
        return await self.count()

    @strawberry.field
    def nodes(self) -> list[VideoType]:
        return [edge.node for edge in self.edges]


@strawberry.input
class UpdateVideoInput:
    title: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    visibility: Visibility | None = None  # type: ignore[valid-type]


@strawberry.type(name="ProcessingEvent")
class ProcessingEventType:
    video_id: strawberry.ID
    status: VideoStatus  # type: ignore[valid-type]
    step: str
    progress: float | None = strawberry.field(description="0..1 within the step, when known.")
    message: str | None
    at: datetime


@strawberry.input
class AddCaptionInput:
    video_id: strawberry.ID
    language: str = strawberry.field(description="BCP 47 language tag, e.g. en, pt-BR.")
    label: str = strawberry.field(description="The name players show, e.g. English.")
    content: str = strawberry.field(
        description="WebVTT or SRT text, at most 512 KiB; stored and published as WebVTT."
    )
