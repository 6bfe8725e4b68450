"""End to end: the upload API -> S3 notification (the webhook, fed from the local S3's
metadata stream as dev feeds it) -> a Prefect run of the deployment,
served by `streamify worker` in its own process -> READY, streamed to a subscriber."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.sorting import FlowRunSort

from streamify.app import create_app
from streamify.devtools.clips import synthetic_clip
from streamify.infra.settings import Settings
from streamify.names import TRANSCODE_DEPLOYMENT
from streamify.pipelines.triggers.processing_starter import prefect_starter
from streamify.services import Services, open_services
from tests.documents import COMPLETE, CREATE, SIGN, SUBSCRIBE, put_part
from tests.helpers import gql, insert_user, token_for
from tests.servers import SessionS3, forwarded, serve_app, with_state

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    # The flow's chunks run on the session's encoders.
    pytest.mark.usefixtures("encoders"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(300),
    pytest.mark.slow,
]


async def test_upload_to_ready_through_the_notification_path(
    worker: None,
    prefect_url: str,
    settings: Settings,
    services: Services,
    local_s3: SessionS3,
    tmp_path: Path,
) -> None:
    clip = synthetic_clip(tmp_path / "clip.mp4", size="1280x720", seconds=10)
    data = clip.read_bytes()
    owner = await insert_user(services.db.pool)
    token = token_for(settings, owner)

    async with (
        open_services(settings, start_processing=prefect_starter(prefect_url)) as api,
        serve_app(with_state(create_app(settings), api)) as base,
        httpx.AsyncClient(base_url=base) as client,
        forwarded(local_s3, settings, base),
    ):
        created = (
            await gql(
                client,
                CREATE,
                {
                    "input": {
                        "filename": "clip.mp4",
                        "contentType": "video/mp4",
                        "sizeBytes": len(data),
                        # One part: its URL signs exactly the whole file's length.
                        "partSizeBytes": max(len(data), 5 * 1024 * 1024),
                        "title": "Holiday",
                    }
                },
                token=token,
            )
        )["data"]["createUpload"]
        video_id = created["video"]["id"]
        # The uploader watches over GraphQL (graphql-transport-ws), as a client would.
        seen: list[dict[str, Any]] = []
        subscribed = asyncio.Event()
        ws_url = base.replace("http://", "ws://") + "/graphql"

        async def listen() -> None:
            protocol = websockets.Subprotocol("graphql-transport-ws")
            async with websockets.connect(ws_url, subprotocols=[protocol]) as ws:
                await ws.send(
                    json.dumps(
                        {
                            "type": "connection_init",
                            "payload": {"authorization": f"Bearer {token}"},
                        }
                    )
                )
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                await ws.send(
                    json.dumps(
                        {
                            "id": "1",
                            "type": "subscribe",
                            "payload": {"query": SUBSCRIBE, "variables": {"id": video_id}},
                        }
                    )
                )
                while True:
                    message = json.loads(await ws.recv())
                    if message["type"] != "next":
                        return
                    seen.append(message["payload"]["data"]["videoProcessing"])
                    subscribed.set()

        listener = asyncio.create_task(listen())
        await asyncio.wait_for(subscribed.wait(), 10)
        signed = (await gql(client, SIGN, {"id": created["id"], "parts": [1]}, token=token))[
            "data"
        ]["signUploadParts"]
        etag = await put_part(signed[0]["url"], data)
        done = await gql(
            client,
            COMPLETE,
            {"id": created["id"], "parts": [{"partNumber": 1, "etag": etag}]},
            token=token,
        )
        assert done["data"]["completeUpload"]["status"] == "COMPLETED"
        await asyncio.wait_for(listener, 240)
        assert seen[0]["step"] == "current" and seen[0]["status"] == "UPLOADING"
        assert seen[-1]["status"] == "READY", seen
        steps = [e["step"] for e in seen]
        assert steps.index("start") < steps.index("probe") < steps.index("encode")
        assert steps.index("encode") < steps.index("PLAYABLE") < steps.index("done")
        progress = [e["progress"] for e in seen if e["step"] == "encode"]
        assert progress == sorted(progress) and progress[-1] == 1.0
        video = (
            await gql(
                client,
                "query($id: ID!) { video(id: $id) { status duration "
                "manifest { url } renditions { height } } }",
                {"id": video_id},
            )
        )["data"]["video"]
        assert video["status"] == "READY" and abs(video["duration"] - 10) < 0.2
        assert [r["height"] for r in video["renditions"]] == [720, 480, 360, 240]

        # The same event again starts no second run.
        obj_key = f"uploads/{video_id}/source"
        record = {
            "eventName": "ObjectCreated:CompleteMultipartUpload",
            "s3": {
                "bucket": {"name": settings.s3_raw_bucket},
                "object": {
                    "key": obj_key,
                    "size": len(data),
                    "eTag": await services.db.pool.fetchval(
                        "SELECT etag FROM s3_events WHERE object_key = $1", obj_key
                    ),
                },
            },
        }
        again = await client.post(
            "/hooks/s3",
            json={"Records": [record]},
            headers={"authorization": f"Bearer {settings.s3_webhook_secret}"},
        )
        assert again.json() == {"received": 1, "started": 0}
    async with PrefectClient(prefect_url) as prefect:
        deployment = await prefect.read_deployment_by_name(TRANSCODE_DEPLOYMENT)
        # READY is committed before the run ends (it still releases the heartbeat).
        for _ in range(100):
            runs = await prefect.read_flow_runs(limit=200, sort=FlowRunSort.ID_DESC)
            mine = [
                r
                for r in runs
                if r.deployment_id == deployment.id and r.parameters.get("video_id") == video_id
            ]
            if len(mine) != 1 or mine[0].state is None or not mine[0].state.is_running():
                break
            await asyncio.sleep(0.2)
        assert len(mine) == 1 and mine[0].state is not None and mine[0].state.is_completed()
    # The run carries the id of the request that started it (the S3 webhook's), and the
    # worker's account of the run names it.
    [tag] = [t for t in mine[0].tags if t.startswith("request:")]
    request_id = tag.removeprefix("request:")
    logged = (tmp_path / "worker.log").read_text()
    assert f"started by request {request_id}" in logged
