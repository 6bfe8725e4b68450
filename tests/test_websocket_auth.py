"""graphql-transport-ws: the token travels in connection_init; a bad one closes the socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from streamify.domain import VideoStatus
from streamify.infra.events import ProcessingEvent
from streamify.infra.settings import Settings
from streamify.services import Services
from tests.documents import SUBSCRIBE
from tests.helpers import insert_user, insert_video, token_for
from tests.servers import api_process


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


async def _subscribe(url: str, video_id: object, token: str | None, publish: Any) -> list[Any]:
    """Run one subscription; `publish` is awaited once the first event (the current state)
    has arrived. Returns every message the server sent for it, in order."""
    received: list[Any] = []
    async with websockets.connect(
        url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    ) as ws:
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": {"id": str(video_id)}},
                }
            )
        )
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            received.append(message)
            if message["type"] != "next" or message.get("payload", {}).get("errors"):
                return received
            if len(received) == 1:
                await publish()


async def test_processing_subscription_yields_current_then_live_events(
    ws_url: str, settings: Settings, services: Services
) -> None:
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner, status="UPLOADED")
    steps = [
        ("PROCESSING", "probe", None),
        ("PROCESSING", "encode", 0.5),
        ("READY", "publish", 1.0),
    ]

    async def publish() -> None:
        for status, step, progress in steps:
            await services.events.publish(
                ProcessingEvent.now(video, VideoStatus(status), step, progress=progress)
            )

    messages = await _subscribe(ws_url, video, token_for(settings, owner), publish)
    assert [m["type"] for m in messages] == ["next"] * 4 + ["complete"]
    got = [
        (
            m["payload"]["data"]["videoProcessing"]["status"],
            m["payload"]["data"]["videoProcessing"]["step"],
        )
        for m in messages[:4]
    ]
    assert got == [
        ("UPLOADED", "current"),
        ("PROCESSING", "probe"),
        ("PROCESSING", "encode"),
        ("READY", "publish"),
    ]


async def test_private_video_subscriptions_are_for_the_owner(
    ws_url: str, settings: Settings, services: Services
) -> None:
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner, visibility="PRIVATE", status="READY")
    other = token_for(settings, await insert_user(services.db.pool, "Eve"))

    async def nothing() -> None:
        return None

    refused = await _subscribe(ws_url, video, other, nothing)
    assert refused[0]["type"] in ("error", "next")
    errors = (
        refused[0]["payload"] if refused[0]["type"] == "error" else refused[0]["payload"]["errors"]
    )
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    finished = await _subscribe(ws_url, video, token_for(settings, owner), nothing)
    assert [m["type"] for m in finished] == ["next", "complete"]
