"""The GraphQL context: the resolvers' Context plus what only this transport has."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response
from starlette.websockets import WebSocket

from streamify.resolvers.context import Context


@dataclass
class GraphQLContext(Context):
    # The HTTP response being built (cookies); None on websockets.
    response: Response | None = None
    # The graphql-transport-ws connection_init payload (Strawberry sets it on websockets).
    connection_params: dict[str, object] | None = None
    # The websocket itself, so its session can be watched (None over HTTP).
    websocket: WebSocket | None = None
