from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from redis.asyncio import Redis
from starlette.responses import Response

from streamify.domain import Unauthenticated
from streamify.infra.db import Database
from streamify.infra.settings import Settings
from streamify.infra.storage import Storage
from streamify.loaders import Loaders
from streamify.loaders.cache_aside import CacheTier


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: UUID
    # The log-in session the credentials belong to (None for sessionless access tokens).
    session_id: UUID | None = None


@dataclass
class Context:
    """Everything a resolver may use, built per request from what the lifespan owns."""

    settings: Settings
    db: Database
    cache: CacheTier
    storage: Storage
    redis: Redis
    loaders: Loaders
    viewer: Viewer | None
    # Why presented credentials were refused; raised only where a viewer is needed.
    auth_error: str | None = None
    # Where the request came from (rate limits) and its response (cookies).
    client_ip: str = "unknown"
    response: Response | None = None
    # The graphql-transport-ws connection_init payload (Strawberry sets it on websockets).
    connection_params: dict[str, object] | None = None

    def require_viewer(self) -> Viewer:
        if self.viewer is None:
            raise Unauthenticated(self.auth_error or "Sign in to do this.")
        return self.viewer
