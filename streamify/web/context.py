"""Builds a request's Context from what the lifespan owns: the one place requests meet services."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from streamify.infra.settings import Settings
from streamify.infra.tokens import InvalidToken, verify_access_token
from streamify.loaders import build_loaders
from streamify.schema.context import Context, Viewer
from streamify.services import Services


def services_of(conn: HTTPConnection) -> Services:
    services: Services = conn.state.services
    return services


def context_for(conn: HTTPConnection) -> Context:
    services = services_of(conn)
    viewer, auth_error = viewer_from(conn, services.settings)
    return Context(
        settings=services.settings,
        db=services.db,
        cache=services.cache,
        storage=services.storage,
        loaders=build_loaders(services.db, services.cache),
        viewer=viewer,
        auth_error=auth_error,
    )


def viewer_from(conn: HTTPConnection, settings: Settings) -> tuple[Viewer | None, str | None]:
    header = conn.headers.get("authorization")
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
