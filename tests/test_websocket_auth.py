"""graphql-transport-ws: the token travels in connection_init; a bad one closes the socket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import websockets

from streamify.infra.settings import Settings
from streamify.services import Services
from tests.conftest import api_process
from tests.helpers import insert_user, token_for


@pytest.fixture
async def ws_url(settings: Settings, services: Services) -> AsyncIterator[str]:
    async with api_process(settings) as base:
        yield base.replace("http://", "ws://") + "/graphql"


async def _init(url: str, payload: dict[str, str] | None) -> dict[str, object] | int:
    """The server's answer to connection_init: its message, or the close code."""
    async with websockets.connect(
        url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        try:
            answer: dict[str, object] = json.loads(await ws.recv())
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else -1
        return answer


async def test_connection_init_token(ws_url: str, settings: Settings, services: Services) -> None:
    user = await insert_user(services.db.pool)
    good = token_for(settings, user)
    assert await _init(ws_url, {"authorization": f"Bearer {good}"}) == {"type": "connection_ack"}
    assert await _init(ws_url, None) == {"type": "connection_ack"}  # anonymous is allowed
    assert await _init(ws_url, {"authorization": "Bearer forged.token.here"}) == 4403
    assert await _init(ws_url, {"token": token_for(settings, user, ttl_seconds=-1)}) == 4403
