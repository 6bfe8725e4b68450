"""A websocket keeps its login only while it stands: its token's expiry closes the socket with
4401, a session ended by logOut (or revoked) with 4403, checked every
`websocket_session_check_seconds`."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from starlette.websockets import WebSocket

from streamify.resolvers.context import Viewer
from streamify.services import Services

EXPIRED = 4401
ENDED = 4403


async def session_stands(services: Services, viewer: Viewer) -> bool:
    if viewer.session_id is None:
        return True
    # Fresh loaders: a request's memo would keep the session as it was.
    loaders = services.loaders_factory(services.db, services.cache)
    session = await loaders.session_by_id.load(viewer.session_id)
    return (
        session is not None
        and session.revoked_at is None
        and session.expires_at > datetime.now(UTC)
        and session.user_id == viewer.user_id
    )


async def watch_session(
    websocket: WebSocket, services: Services, viewer: Viewer, *, expires_at: float
) -> None:
    interval = services.settings.websocket_session_check_seconds
    while True:
        left = expires_at - time.time()
        if left <= 0:
            await websocket.close(EXPIRED, "The credentials expired; sign in again.")
            return
        await asyncio.sleep(min(interval, left))  # inf - now is inf: never expires by time
        if time.time() < expires_at and not await session_stands(services, viewer):
            await websocket.close(ENDED, "The session has ended; sign in again.")
            return
