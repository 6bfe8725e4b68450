"""Strawberry object types. They map records to fields; what a field does lives in resolvers."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from streamify import domain
from streamify.resolvers import videos as video_resolvers
from streamify.schema.context import Context

Visibility = strawberry.enum(domain.Visibility, description="Who may see a video.")
VideoStatus = strawberry.enum(domain.VideoStatus, description="Where a video is in its life.")


@strawberry.type(name="User")
class UserType:
    record: strawberry.Private[domain.User]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.record.id))

    @strawberry.field
    def display_name(self) -> str:
        return self.record.display_name


@strawberry.type(name="Rendition")
class RenditionType:
    height: int
    width: int
    bitrate: int = strawberry.field(description="Peak bits per second.")
    codecs: str


@strawberry.type(name="Manifest")
class ManifestType:
    url: str = strawberry.field(description="HLS master playlist on the CDN.")


@strawberry.type(name="Video")
class VideoType:
    record: strawberry.Private[domain.Video]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.record.id))

    @strawberry.field
    def title(self) -> str:
        return self.record.title

    @strawberry.field
    def description(self) -> str:
        return self.record.description

    @strawberry.field
    def tags(self) -> list[str]:
        return self.record.tags

    @strawberry.field
    def visibility(self) -> Visibility:  # type: ignore[valid-type]
        return self.record.visibility

    @strawberry.field
    def status(self) -> VideoStatus:  # type: ignore[valid-type]
        return self.record.status

    @strawberry.field(description="Seconds; null until processed.")
    def duration(self) -> float | None:
        return self.record.duration_seconds

    @strawberry.field
    def created_at(self) -> datetime:
        return self.record.created_at

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.record.updated_at

    @strawberry.field
    async def owner(self, info: Info[Context, None]) -> UserType | None:
        user = await video_resolvers.owner_of(info.context, self.record)
        return UserType(record=user) if user is not None else None

    @strawberry.field
    async def renditions(self, info: Info[Context, None]) -> list[RenditionType]:
        found = await video_resolvers.renditions_of(info.context, self.record)
        return [
            RenditionType(height=r.height, width=r.width, bitrate=r.bitrate, codecs=r.codecs)
            for r in found
        ]

    @strawberry.field
    def manifest(self, info: Info[Context, None]) -> ManifestType | None:
        url = video_resolvers.manifest_url(info.context, self.record)
        return ManifestType(url=url) if url is not None else None

    @strawberry.field
    def thumbnail_url(self, info: Info[Context, None]) -> str | None:
        return video_resolvers.thumbnail_url(info.context, self.record)


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
    edges: list[VideoEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[VideoType]:
        return [edge.node for edge in self.edges]


@strawberry.input
class UpdateVideoInput:
    title: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    visibility: Visibility | None = None  # type: ignore[valid-type]
