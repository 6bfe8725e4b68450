"""S3 notifications delivered through SQS (AWS's path) reach the intake once each, however
often SQS delivers them; unreadable messages are dropped, never retried forever. moto serves
the queue."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from streamify.devtools.local import free_port
from streamify.infra.settings import Settings
from streamify.infra.storage import open_sqs
from streamify.names import source_key
from streamify.pipelines.triggers.event_intake import EventIntake, StoredObject
from streamify.pipelines.triggers.sqs_events import poll_sqs
from streamify.services import Services
from tests.helpers import insert_user, insert_video


@pytest.fixture
def sqs_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


async def test_the_poller_hands_each_notification_to_the_intake_once(
    settings: Settings, services: Services, sqs_endpoint: str
) -> None:
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner, status="UPLOADED")
    started: list[uuid.UUID] = []

    async def record(video_id: uuid.UUID, _: StoredObject) -> None:
        started.append(video_id)

    intake = EventIntake(services.db, raw_bucket=settings.s3_raw_bucket, start_processing=record)
    event = {
        "Records": [
            {
                "eventName": "ObjectCreated:CompleteMultipartUpload",
                "s3": {
                    "bucket": {"name": settings.s3_raw_bucket},
                    "object": {"key": source_key(video), "size": 10, "eTag": "abc"},
                },
            }
        ]
    }
    async with open_sqs(settings.model_copy(update={"sqs_endpoint_url": sqs_endpoint})) as sqs:
        queue = (await sqs.create_queue(QueueName=f"events-{uuid.uuid4().hex}"))["QueueUrl"]
        for body in (json.dumps(event), json.dumps(event), "not json", json.dumps([1])):
            await sqs.send_message(QueueUrl=queue, MessageBody=body)
        poller = asyncio.create_task(poll_sqs(sqs, queue, intake, wait_seconds=1))
        try:
            async with asyncio.timeout(20):
                while True:
                    counts = (
                        await sqs.get_queue_attributes(
                            QueueUrl=queue,
                            AttributeNames=[
                                "ApproximateNumberOfMessages",
                                "ApproximateNumberOfMessagesNotVisible",
                            ],
                        )
                    )["Attributes"]
                    if set(counts.values()) == {"0"}:
                        break
                    await asyncio.sleep(0.1)
        finally:
            poller.cancel()
    assert started == [video]
