"""Builds a request's Context from what the lifespan owns: the one place requests meet services,
and where credentials (bearer token or session cookie) become a Viewer. REST routes get the
resolvers' Context; GraphQL gets the same with its response and connection parameters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import Response

from streamify.infra.client_address import limit_subject
from streamify.infra.settings import Settings
from streamify.infra.tokens import InvalidToken, TokenType, verify_token
from streamify.loaders import Loaders
from streamify.resolvers.context import Context, Viewer
from streamify.schema.context import GraphQLContext
from streamify.services import Services

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def services_of(conn: HTTPConnection) -> Services:
    services: Services = conn.state.services
    return services


async def context_for(conn: HTTPConnection) -> Context:
    """The resolvers' Context for a REST route."""
    services = services_of(conn)
    loaders = services.loaders_factory(services.db, services.cache)
    viewer, auth_error = await authenticate(conn, services, loaders)
    return Context(**_fields(conn, services, loaders), viewer=viewer, auth_error=auth_error)


async def graphql_context_for(
    conn: HTTPConnection, response: Response | None = None
) -> GraphQLContext:
    services = services_of(conn)
    loaders = services.loaders_factory(services.db, services.cache)
    viewer, auth_error = await authenticate(conn, services, loaders)
    return GraphQLContext(
        **_fields(conn, services, loaders),
        viewer=viewer,
        auth_error=auth_error,
        response=response,
    )


def _fields(conn: HTTPConnection, services: Services, loaders: Loaders) -> dict[str, Any]:
    loaders.stats_reader = services.viewing.reader
    return {
        "settings": services.settings,
        "db": services.db,
        "cache": services.cache,
        "storage": services.storage,
        "redis": services.redis,
        "names": services.names,
        "events": services.events,
        "fanout": services.fanout,
        "writes": services.writes,
        "processing": services.intake,
        "playback": services.playback,
        "cdn_purge": services.cdn_purge,
        "loaders": loaders,
        "viewing": services.viewing,
        "views": services.views,
        "client_network": limit_subject(conn.client.host) if conn.client else "unknown",
    }


async def authenticate(
    conn: HTTPConnection, services: Services, loaders: Loaders
) -> tuple[Viewer | None, str | None]:
    """(viewer, None), or (None, why the credentials were refused); (None, None) if none."""
    # Most requests carry no credentials: look at the raw headers once before building
    # Starlette's header and cookie mappings.
    names = {name for name, _ in conn.scope["headers"]}
    if b"authorization" not in names and b"cookie" not in names:
        return None, None
    header = conn.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "Authorization must be 'Bearer <token>'."
        return await viewer_from_token(token.strip(), "access", services.settings, loaders)
    cookie = conn.cookies.get(services.settings.session_cookie_name)
    if cookie:
        if not same_origin_or_safe(conn, services.settings.cors_allow_origins):
            return None, "A cookie session needs a request from an allowed Origin."
        return await viewer_from_token(cookie, "session", services.settings, loaders)
    return None, None


async def viewer_from_token(
    token: str, kind: TokenType, settings: Settings, loaders: Loaders
) -> tuple[Viewer | None, str | None]:
    try:
        claims = verify_token(
            token, kind=kind, secret=settings.jwt_secret, algorithm=settings.jwt_algorithm
        )
    except InvalidToken:
        return None, "The credentials are invalid or expired; sign in again."
    if claims.session_id is None and settings.is_production:
        # Only tokens of a log-in session can be ended by logging out.
        return None, "The credentials are not of a session; sign in again."
    if claims.session_id is not None:
        session = await loaders.session_by_id.load(claims.session_id)
        ended = (
            session is None
            or session.revoked_at is not None
            or session.expires_at <= datetime.now(UTC)
            or session.user_id != claims.user_id
        )
        if ended:
            return None, "The session has ended; sign in again."
    return Viewer(user_id=claims.user_id, session_id=claims.session_id), None


def same_origin_or_safe(conn: HTTPConnection, allowed: list[str]) -> bool:
    """CSRF guard for cookie sessions: state-changing requests must say where they come from,
    and it must be this API's own origin or an allowed one."""
    if conn.scope["type"] == "http" and conn.scope.get("method", "GET") in SAFE_METHODS:
        return True
    origin = conn.headers.get("origin")
    if not origin or origin == "null":
        return False
    if origin in allowed:
        return True
    parts = urlsplit(origin)
    return parts.netloc == conn.headers.get("host", "")
