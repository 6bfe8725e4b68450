"""create_app(settings) -> Starlette. The lifespan owns every client; requests borrow them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TypedDict

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from streamify.infra.settings import Settings
from streamify.infra.tokens import InvalidToken, verify_access_token
from streamify.loaders import build_loaders
from streamify.schema import build_schema
from streamify.schema.context import Context, Viewer
from streamify.services import Services, open_services


class State(TypedDict):
    services: Services


class StreamifyGraphQL(GraphQL[Context, None]):
    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        services: Services = request.state.services
        viewer, auth_error = _viewer_from(request, services.settings)
        return Context(
            settings=services.settings,
            db=services.db,
            cache=services.cache,
            loaders=build_loaders(services.db, services.cache),
            viewer=viewer,
            auth_error=auth_error,
        )


def _viewer_from(
    request: Request | WebSocket, settings: Settings
) -> tuple[Viewer | None, str | None]:
    header = request.headers.get("authorization")
    if not header:
        return None, None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None, "Authorization must be 'Bearer <token>'."
    try:
        user_id = verify_access_token(
            token.strip(), secret=settings.jwt_secret, algorithm=settings.jwt_algorithm
        )
    except InvalidToken:
        return None, "The access token is invalid or expired."
    return Viewer(user_id=user_id), None


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """503 only when PostgreSQL is down; a Redis outage is served, so it is `degraded`."""
    services: Services = request.state.services
    postgres = await services.db.ping()
    redis_ok = await services.cache.redis.ping() if services.cache.redis is not None else True
    checks = {"postgres": "ok" if postgres else "down", "redis": "ok" if redis_ok else "down"}
    status = "ok" if postgres and redis_ok else ("degraded" if postgres else "down")
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if postgres else 503)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    graphql = StreamifyGraphQL(build_schema(), graphql_ide="graphiql")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[State]:
        async with open_services(settings) as services:
            yield {"services": services}

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
