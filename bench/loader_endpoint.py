"""Row (h) of the benchmark: a plain Starlette endpoint that serves the same records as the
GraphQL queries from the same cache tier and loaders, with the same context and the same
response fields, encoded with msgspec. The ratio of a GraphQL row to it is what GraphQL
execution itself costs; the ratio to the static row (e) includes data access too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamify.app import create_app
from streamify.domain import Rendition, User, Video
from streamify.infra.settings import Settings
from streamify.resolvers import videos as video_resolvers
from streamify.resolvers.context import Context
from streamify.resolvers.playback import media_urls
from streamify.web.context import graphql_context_for

_encode = msgspec.json.Encoder().encode


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _video_json(ctx: Context, video: Video, owner: Any, renditions: Any) -> dict[str, Any]:
    urls = media_urls(ctx, video)
    return {
        "id": str(video.id),
        "title": video.title,
        "description": video.description,
        "tags": list(video.tags),
        "visibility": video.visibility.name,
        "status": video.status.name,
        "duration": video.duration_seconds,
        "createdAt": _iso(video.created_at),
        "updatedAt": _iso(video.updated_at),
        "owner": {"id": str(owner.id), "displayName": owner.display_name}
        if isinstance(owner, User)
        else None,
        "renditions": [
            {"height": r.height, "width": r.width, "bitrate": r.bitrate, "codecs": r.codecs}
            for r in renditions
            if isinstance(r, Rendition)
        ],
        "manifest": {"url": urls.manifest} if urls.manifest is not None else None,
        "thumbnailUrl": urls.thumbnail,
    }


async def video(request: Request) -> Response:
    ctx = await graphql_context_for(request)
    found = await video_resolvers.video_by_id(ctx, request.path_params["id"])
    body: Any = None
    if found is not None:
        owner = await video_resolvers.owner_of(ctx, found)
        renditions = await video_resolvers.renditions_of(ctx, found)
        body = _video_json(ctx, found, owner, renditions)
    return Response(_encode({"data": {"video": body}}), media_type="application/json")


async def videos(request: Request) -> Response:
    ctx = await graphql_context_for(request)
    first = int(request.query_params.get("first", "20"))
    pairs, has_next = await video_resolvers.video_page(
        ctx, first=first, after=None, owner_id=None, status=None
    )
    page = [v for _, v in pairs]
    # Every load is issued before the first await: one batch per loader.
    owner_loads = video_resolvers.owner_loads(ctx, page)
    rendition_loads = video_resolvers.rendition_loads(ctx, page)
    owners = [await load for load in owner_loads]
    renditions = [video_resolvers.renditions_in(await load) for load in rendition_loads]
    edges = [
        {"cursor": cursor, "node": _video_json(ctx, v, o, r)}
        for (cursor, v), o, r in zip(pairs, owners, renditions, strict=True)
    ]
    end = pairs[-1][0] if pairs else None
    body = {"videos": {"edges": edges, "pageInfo": {"hasNextPage": has_next, "endCursor": end}}}
    return Response(_encode({"data": body}), media_type="application/json")


def loader_app(settings: Settings) -> Starlette:
    """Streamify itself (same middleware, same lifespan) with the two plain routes added."""
    app = create_app(settings)
    app.router.routes[:0] = [Route("/video/{id}", video), Route("/videos", videos)]
    return app
