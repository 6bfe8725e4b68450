"""No subscriber waits forever (issue 22.9): the final READY event of a video is lost (its
PUBLISH fails, as `publish_quietly` swallows it), yet the processing subscription still ends
READY within seconds, because it reads the video's row again when events stop coming."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import websockets

from streamify.domain import VideoStatus
from streamify.infra.events import ProcessingEvent
from streamify.services import Services
from tests.documents import SUBSCRIBE
from tests.helpers import insert_user, insert_video, token_for
from tests.servers import api_process


async def test_a_lost_final_event_still_ends_the_subscription_ready(services: Services) -> None:
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner, status="PROCESSING", renditions=())
    settings = services.settings
    lost: list[ProcessingEvent] = []
    publish = services.events.publish

    async def drop_the_final_one(event: ProcessingEvent) -> None:
        if event.status is VideoStatus.READY:
            lost.append(event)
            raise ConnectionError("PUBLISH failed")  # what a dropped connection raises
        await publish(event)

    services.events.publish = drop_the_final_one  # type: ignore[method-assign]
    async with api_process(settings, STREAMIFY_SUBSCRIPTION_RECHECK_SECONDS="1") as base:
        url = base.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(
            url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
        ) as ws:
            token = token_for(settings, owner)
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
                )
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            subscribe = {"query": SUBSCRIBE, "variables": {"id": str(video)}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
            first = json.loads(await ws.recv())
            assert first["payload"]["data"]["videoProcessing"]["status"] == "PROCESSING"
            async with services.writes.transaction() as tx:
                await tx.transition(video, VideoStatus.READY)
            done_at = time.monotonic()
            messages: list[dict[str, Any]] = []
            async with asyncio.timeout(10):
                while not messages or messages[-1]["type"] != "complete":
                    messages.append(json.loads(await ws.recv()))
            waited = time.monotonic() - done_at
    assert len(lost) == 1  # the final event was never published
    statuses = [m["payload"]["data"]["videoProcessing"]["status"] for m in messages[:-1]]
    assert statuses == ["READY"]
    assert waited < 4, waited
