"""graphql-transport-ws: the token travels in connection_init; a bad one closes the socket."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from streamify.domain import VideoStatus
from streamify.infra.events import ProcessingEvent
from streamify.infra.settings import Settings
from streamify.services import Services
from tests.documents import SUBSCRIBE, sign_up
from tests.helpers import gql, insert_user, insert_video, token_for
from tests.servers import api_process

# The cache tier, auth, rate limits and subscriptions promise the same on a Redis Cluster.
pytestmark = pytest.mark.both_redis


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
    # A well-formed token for this user, signed with another key.
    forged = token_for(settings.model_copy(update={"jwt_secret": "k" * 40}), user)
    assert await _init(ws_url, {"authorization": f"Bearer {forged}"}) == 4403
    assert await _init(ws_url, {"authorization": f"Bearer {good}x"}) == 4403
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


async def _open(url: str, token: str | None) -> Any:
    ws = await websockets.connect(
        url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    )
    payload = {"authorization": f"Bearer {token}"} if token else {}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    return ws


async def _start(ws: Any, op: str, video_id: object) -> dict[str, Any]:
    await ws.send(
        json.dumps(
            {
                "id": op,
                "type": "subscribe",
                "payload": {"query": SUBSCRIBE, "variables": {"id": str(video_id)}},
            }
        )
    )
    first: dict[str, Any] = json.loads(await ws.recv())
    return first


async def _closed_with(ws: Any, timeout: float = 10) -> int:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    return int(closed.value.rcvd.code)


async def test_sockets_follow_their_session_and_subscriptions_their_video(
    settings: Settings, services: Services
) -> None:
    env = {
        "STREAMIFY_WEBSOCKET_SESSION_CHECK_SECONDS": "0.2",
        "STREAMIFY_SUBSCRIPTIONS_PER_SUBSCRIBER": "2",
    }
    async with api_process(settings, **env) as base, httpx.AsyncClient(base_url=base) as http:
        url = base.replace("http://", "ws://") + "/graphql"
        account = await sign_up(http)
        token, owner = account["accessToken"], uuid.UUID(account["viewer"]["id"])
        video = await insert_video(services.db.pool, owner, status="UPLOADED")

        # A subscription of the owner's ends when the video is deleted.
        ws = await _open(url, token)
        assert (await _start(ws, "a", video))["type"] == "next"
        deleted = await gql(http, f'mutation {{ deleteVideo(id: "{video}") }}', token=token)
        assert deleted["data"]["deleteVideo"] == str(video)
        async with asyncio.timeout(10):
            assert json.loads(await ws.recv()) == {"id": "a", "type": "complete"}

        # Two at once per user; a third is refused.
        videos = [await insert_video(services.db.pool, owner, status="UPLOADED") for _ in range(3)]
        assert (await _start(ws, "b", videos[0]))["type"] == "next"
        assert (await _start(ws, "c", videos[1]))["type"] == "next"
        refused = await _start(ws, "d", videos[2])
        assert refused["type"] == "next", refused
        assert refused["payload"]["errors"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"

        # logOut elsewhere: the socket that logged in with that session closes with 4403.
        assert (await gql(http, "mutation { logOut }", token=token))["data"]["logOut"] is True
        assert await _closed_with(ws) == 4403

        # A token that expires closes its socket with 4401.
        short = token_for(settings, owner, ttl_seconds=2)
        expiring = await _open(url, short)
        assert await _closed_with(expiring) == 4401
