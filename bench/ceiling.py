"""Rows (d) and (e) of the benchmark: what the framework costs with no data access at all.

(d) is the same GraphQL query against a Strawberry schema of the same shape whose resolvers
return static objects; (e) is a plain Starlette JSON endpoint returning the same fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

from streamify.names import master_key, poster_key

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


@strawberry.type
class User:
    id: strawberry.ID
    display_name: str


@strawberry.type
class Rendition:
    height: int
    width: int
    bitrate: int
    codecs: str


@strawberry.type
class Manifest:
    url: str


@strawberry.type
class Video:
    id: strawberry.ID
    title: str
    description: str
    tags: list[str]
    visibility: str
    status: str
    duration: float | None
    created_at: datetime
    updated_at: datetime
    owner: User | None
    renditions: list[Rendition]
    manifest: Manifest | None
    thumbnail_url: str | None


def static_video(video_id: str) -> Video:
    return Video(
        id=strawberry.ID(video_id),
        title="Sunset drone tour",
        description="Seeded demo video.",
        tags=["sunset", "drone", "tour"],
        visibility="PUBLIC",
        status="READY",
        duration=123.4,
        created_at=CREATED,
        updated_at=CREATED,
        owner=User(id=strawberry.ID("00000000-0000-0000-0000-000000000001"), display_name="Ada"),
        renditions=[
            Rendition(height=h, width=w, bitrate=b, codecs="avc1.640028,mp4a.40.2")
            for h, w, b in ((720, 1280, 2_800_000), (480, 854, 1_400_000), (360, 640, 800_000))
        ],
        manifest=Manifest(url=f"http://cdn/{master_key(video_id)}"),
        thumbnail_url=f"http://cdn/{poster_key(video_id)}",
    )


@strawberry.type
class VideoEdge:
    cursor: str
    node: Video


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class VideoConnection:
    edges: list[VideoEdge]
    page_info: PageInfo


@strawberry.type
class Query:
    @strawberry.field
    async def video(self, id: strawberry.ID) -> Video | None:
        return static_video(str(id))

    @strawberry.field
    async def videos(self, first: int | None = None, after: str | None = None) -> VideoConnection:
        edges = [
            VideoEdge(cursor=f"c{i}", node=static_video(f"00000000-0000-0000-0000-{i:012d}"))
            for i in range(first or 20)
        ]
        return VideoConnection(edges=edges, page_info=PageInfo(has_next_page=True, end_cursor="c"))


def ceiling_app() -> Starlette:
    schema = strawberry.Schema(
        query=Query,
        extensions=[lambda: ParserCache(maxsize=1024), lambda: ValidationCache(maxsize=1024)],
    )
    return Starlette(routes=[Route("/graphql", GraphQL(schema), methods=["GET", "POST"])])


def _as_json(video: Video) -> dict[str, Any]:
    return {
        "id": video.id,
        "title": video.title,
        "description": video.description,
        "tags": video.tags,
        "visibility": video.visibility,
        "status": video.status,
        "duration": video.duration,
        "createdAt": video.created_at.isoformat(),
        "updatedAt": video.updated_at.isoformat(),
        "owner": {"id": video.owner.id, "displayName": video.owner.display_name}
        if video.owner
        else None,
        "renditions": [
            {"height": r.height, "width": r.width, "bitrate": r.bitrate, "codecs": r.codecs}
            for r in video.renditions
        ],
        "manifest": {"url": video.manifest.url} if video.manifest else None,
        "thumbnailUrl": video.thumbnail_url,
    }


def plain_app() -> Starlette:
    async def video(request: Request) -> Response:
        return JSONResponse({"data": {"video": _as_json(static_video(request.path_params["id"]))}})

    async def videos(request: Request) -> Response:
        first = int(request.query_params.get("first", "20"))
        edges = [
            {"cursor": f"c{i}", "node": _as_json(static_video(f"00000000-0000-0000-0000-{i:012d}"))}
            for i in range(first)
        ]
        return JSONResponse(
            {
                "data": {
                    "videos": {"edges": edges, "pageInfo": {"hasNextPage": True, "endCursor": "c"}}
                }
            }
        )

    return Starlette(routes=[Route("/video/{id}", video), Route("/videos", videos)])


def bare_beacons_app() -> Starlette:
    """What a beacon endpoint costs with nothing behind it: the same body read and JSON
    decoded the same way (msgspec, Streamify's own decoder), then 204."""
    from streamify.infra.viewing.events import decode

    async def beacons(request: Request) -> Response:
        decode(await request.body())
        return Response(status_code=204)

    return Starlette(routes=[Route("/beacons", beacons, methods=["POST"])])


class StaticLoader:
    """Answers every key at once with a static record: no batching, no cache, no I/O."""

    def __init__(self, make: Any) -> None:
        self.make = make

    async def load(self, key: Any) -> Any:
        return self.make(key)

    async def load_many(self, keys: Any) -> list[Any]:
        return [self.make(k) for k in keys]

    def prime(self, key: Any, value: Any) -> None:
        return None

    def clear(self, key: Any) -> None:
        return None


def static_loaders(db: Any, tier: Any) -> Any:
    """Loaders for row (d): Streamify's own stack with data access replaced by constants."""
    import uuid as uuid_module
    from functools import cached_property

    from streamify.domain import Rendition, User, Video, VideoRenditions, VideoStatus, Visibility
    from streamify.infra.cache.namespaces import VideoPage
    from streamify.loaders import Loaders
    from streamify.names import hls_key

    owner = uuid_module.UUID("00000000-0000-0000-0000-000000000001")

    def video(video_id: uuid_module.UUID) -> Video:
        return Video(
            id=video_id,
            owner_id=owner,
            title="Sunset drone tour",
            description="Seeded demo video.",
            tags=("sunset", "drone", "tour"),
            visibility=Visibility.PUBLIC,
            status=VideoStatus.READY,
            duration_seconds=123.4,
            created_at=CREATED,
            updated_at=CREATED,
            version=1,
            manifest_path=master_key(video_id),
            thumbnail_path=poster_key(video_id),
        )

    def renditions(video_id: uuid_module.UUID) -> VideoRenditions:
        return VideoRenditions(
            video_id,
            tuple(
                Rendition(h, w, b, "avc1.640028,mp4a.40.2", hls_key(video_id, f"{h}p/index.m3u8"))
                for h, w, b in ((720, 1280, 2_800_000), (480, 854, 1_400_000), (360, 640, 800_000))
            ),
        )

    page_ids = tuple(uuid_module.UUID(int=i + 2) for i in range(100))

    class StaticLoaders(Loaders):
        @cached_property
        def video_by_id(self) -> Any:
            return StaticLoader(video)

        @cached_property
        def user_by_id(self) -> Any:
            return StaticLoader(lambda user_id: User(user_id, "ada@example.com", "Ada", CREATED, 1))

        @cached_property
        def renditions_by_video_id(self) -> Any:
            return StaticLoader(renditions)

        @cached_property
        def video_page_by_query(self) -> Any:
            return StaticLoader(lambda query: VideoPage(page_ids[: query.limit], has_next=True))

    return StaticLoaders(db, tier)
