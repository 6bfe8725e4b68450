"""create_app(settings) -> Starlette. The lifespan owns every client; requests borrow them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from typing import TypedDict

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType

from streamify.execution.engine import CompiledExecution
from streamify.infra.metrics import Metrics
from streamify.infra.settings import Settings
from streamify.infra.tokens import verify_token
from streamify.loaders import LoadersFactory, build_loaders
from streamify.resolvers.context import Viewer
from streamify.schema import build_schema
from streamify.schema.context import GraphQLContext
from streamify.services import Services, open_services
from streamify.web import graphiql, media, uppy, web_app
from streamify.web.access_log import AccessLog
from streamify.web.beacons import beacons
from streamify.web.context import graphql_context_for, services_of, viewer_from_token
from streamify.web.cors import CorsPolicy
from streamify.web.graphql_http import GraphQLEndpoint
from streamify.web.health import healthz, metrics, readyz
from streamify.web.hooks import s3_hook
from streamify.web.request_layer import RequestLayer
from streamify.web.session_watch import watch_session

NO_ACK_PAYLOAD = UnsetType()
# Where a websocket's session watchers are kept, to be cancelled when it ends.
WATCHERS = "streamify.session_watchers"


class State(TypedDict):
    services: Services


class StreamifyGraphQL(GraphQL[GraphQLContext, None]):
    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        """Subscriptions authenticate with the token in connection_init's payload
        (`{"authorization": "Bearer <token>"}`); a bad token closes the socket with 4403."""
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization") or params.get("token")
        if raw is None:
            if context.viewer is not None and context.websocket is not None:
                # Signed in by the session cookie: the session's own end closes the socket.
                self._watch(context, context.viewer, expires_at=float("inf"))
            return NO_ACK_PAYLOAD
        token = str(raw).removeprefix("Bearer ").strip()
        viewer, error = await viewer_from_token(token, "access", context.settings, context.loaders)
        if viewer is None:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED", "message": error})
        context.viewer, context.auth_error = viewer, None
        settings = context.settings
        claims = verify_token(
            token, kind="access", secret=settings.jwt_secret, algorithm=settings.jwt_algorithm
        )
        self._watch(context, viewer, expires_at=claims.expires_at)
        return NO_ACK_PAYLOAD

    def _watch(self, context: GraphQLContext, viewer: Viewer, *, expires_at: float) -> None:
        websocket = context.websocket
        if websocket is None:
            return
        watcher = asyncio.create_task(
            watch_session(websocket, services_of(websocket), viewer, expires_at=expires_at)
        )
        websocket.scope[WATCHERS].append(watcher)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        watchers: list[asyncio.Task[None]] = []
        scope[WATCHERS] = watchers
        try:
            await super().__call__(scope, receive, send)
        finally:
            for watcher in watchers:
                watcher.cancel()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GraphQLContext:
        context = await graphql_context_for(
            request, response if isinstance(response, Response) else None
        )
        if isinstance(request, WebSocket):
            context.websocket = request
        return context


def _metrics_of(scope: Scope) -> Metrics | None:
    services: Services | None = scope.get("state", {}).get("services")
    return services.metrics if services is not None else None


def create_app(
    settings: Settings | None = None,
    *,
    loaders_factory: LoadersFactory = build_loaders,
    access_log: AccessLog | None = None,
) -> Starlette:
    """`access_log`: where request lines go (default: stdout, when `settings.access_log`)."""
    settings = settings or Settings()
    schema = build_schema(settings)
    # Strawberry's view serves the websocket; GraphiQL's page is our own (no CDN).
    graphql = StreamifyGraphQL(schema, graphql_ide=None)
    endpoint = GraphQLEndpoint(
        graphql,
        schema,
        response_cache_bytes=settings.response_cache_max_bytes,
        document_cache_bytes=settings.graphql_document_cache_bytes,
        graphiql=settings.graphiql_on,
        compiled=CompiledExecution(schema, settings)
        if settings.graphql_compiled_execution
        else None,
    )

    if access_log is None and settings.access_log:
        access_log = AccessLog()

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[State]:
        async with open_services(settings, loaders_factory=loaders_factory) as services:
            writer = asyncio.create_task(access_log.run()) if access_log is not None else None
            # Everything made to start the process (modules, the schema, clients) lives as long
            # as it: out of the collector's sight, a full collection scans only what requests
            # made since, instead of stalling the event loop for tens of milliseconds.
            gc.collect()
            gc.freeze()
            try:
                yield {"services": services}
            finally:
                if writer is not None:
                    writer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await writer

    return Starlette(
        routes=[
            Route("/graphql", endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            WebSocketRoute("/graphql", graphql),
            *([Mount("/graphiql", graphiql.assets())] if settings.graphiql_on else []),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/hooks/s3", s3_hook, methods=["POST"]),
            Route("/beacons", beacons, methods=["POST"]),
            *uppy.routes,
            *media.routes,
            *web_app.routes(),
        ],
        middleware=[
            Middleware(
                RequestLayer,
                metrics=_metrics_of,
                access_log=access_log,
                forwarded_allow_ips=settings.forwarded_allow_ips,
                cors=CorsPolicy(
                    origins=settings.cors_allow_origins,
                    methods=["GET", "POST", "DELETE", "OPTIONS"],
                    headers=["content-type", "authorization", "uppy-versions", "uppy-auth-token"],
                    expose=["etag"],
                    max_age=600,
                ),
                max_body_bytes=settings.max_request_body_bytes,
            ),
        ],
        lifespan=lifespan,
    )
