"""S3 ObjectCreated events for the raw-uploads bucket, from any delivery path (SQS, an SNS
HTTP subscription, a MinIO webhook), deduplicated and handed to `start_processing` once."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus
from uuid import UUID

from streamify.infra.db import Database

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

log = logging.getLogger(__name__)

# Defined here (not imported from the flow) so the API does not import the flow's tasks.
TRANSCODE_DEPLOYMENT = "transcode-video/transcode"

SOURCE_KEY = re.compile(
    r"^uploads/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/source$"
)


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One ObjectCreated record."""

    bucket: str
    key: str
    event_name: str
    size_bytes: int | None
    etag: str | None
    version_id: str | None
    sequencer: str | None

    @property
    def dedupe_key(self) -> str:
        # The same object version (or write, by its sequencer) is one event however often
        # it is delivered. Servers that send neither (moto) are told apart by ETag.
        marker = self.version_id or self.sequencer or self.etag or ""
        return f"{self.bucket}/{self.key}#{marker}"


StartProcessing = Callable[[UUID, StoredObject], Awaitable[None]]


class BadEvent(ValueError):
    """The body is not an S3 event notification in any format we accept."""


def object_records(body: Any) -> list[StoredObject]:
    """ObjectCreated records of an AWS event, an SNS envelope of one, or a MinIO webhook body.
    Test events and other event types yield nothing."""
    if not isinstance(body, dict):
        raise BadEvent("expected a JSON object")
    if body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        try:
            return object_records(json.loads(body["Message"]))
        except json.JSONDecodeError as exc:
            raise BadEvent("SNS Message is not JSON") from exc
    if body.get("Event") == "s3:TestEvent":
        return []
    records = body.get("Records")
    if not isinstance(records, list):
        raise BadEvent("no Records in the event")
    return [r for r in (_parse_record(rec) for rec in records) if r is not None]


def _parse_record(record: Any) -> StoredObject | None:
    try:
        name = str(record["eventName"])
        if not name.removeprefix("s3:").startswith("ObjectCreated:"):
            return None
        s3 = record["s3"]
        obj = s3["object"]
        return StoredObject(
            bucket=str(s3["bucket"]["name"]),
            key=unquote_plus(str(obj["key"])),
            event_name=name,
            size_bytes=int(obj["size"]) if obj.get("size") is not None else None,
            etag=str(obj["eTag"]).strip('"') if obj.get("eTag") else None,
            version_id=str(obj["versionId"]) if obj.get("versionId") else None,
            sequencer=str(obj["sequencer"]) if obj.get("sequencer") else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadEvent(f"malformed S3 record: {exc}") from exc


class EventIntake:
    def __init__(self, db: Database, *, raw_bucket: str, start_processing: StartProcessing) -> None:
        self.db = db
        self.raw_bucket = raw_bucket
        self.start_processing = start_processing

    async def handle(self, records: Iterable[StoredObject]) -> int:
        """Record each new event once and start processing its video; returns how many started."""
        started = 0
        for record in records:
            if record.bucket != self.raw_bucket:
                continue
            match = SOURCE_KEY.match(record.key)
            if match is None:
                log.info("ignoring object %s: not an upload source", record.key)
                continue
            video_id = UUID(match.group(1))
            # Recorded and started together: if starting fails, the record is rolled back and
            # the redelivered event (SQS, webhook retry) tries again.
            async with self.db.pool.acquire() as conn, conn.transaction():
                first_time = await conn.fetchval(
                    """INSERT INTO s3_events
                           (dedupe_key, bucket, object_key, video_id, event_name, size_bytes, etag)
                       SELECT $1, $2, $3, v.id, $4, $5, $6 FROM videos v WHERE v.id = $7
                       ON CONFLICT (dedupe_key) DO NOTHING
                       RETURNING true""",
                    record.dedupe_key,
                    record.bucket,
                    record.key,
                    record.event_name,
                    record.size_bytes,
                    record.etag,
                    video_id,
                )
                if not first_time:
                    log.info("duplicate or orphan event for %s ignored", record.key)
                    continue
                await self.start_processing(video_id, record)
            started += 1
        return started


async def record_only(video_id: UUID, obj: StoredObject) -> None:
    """Without a Prefect API an uploaded video stays UPLOADED; the event is kept in s3_events
    so it can be processed later."""
    log.info("video %s uploaded (%s bytes); no Prefect API to process it", video_id, obj.size_bytes)


def prefect_starter(api_url: str) -> StartProcessing:
    """start_processing that creates a run of the transcoding deployment. The object's dedupe
    key is the run's idempotency key, so a repeated event cannot start a second run."""
    from prefect.client.orchestration import PrefectClient

    async def start(video_id: UUID, obj: StoredObject) -> None:
        async with PrefectClient(api_url) as client:
            deployment = await client.read_deployment_by_name(TRANSCODE_DEPLOYMENT)
            run = await client.create_flow_run_from_deployment(
                deployment.id,
                parameters={"video_id": str(video_id)},
                idempotency_key=obj.dedupe_key,
            )
        log.info("started transcoding run %s for video %s", run.id, video_id)

    return start


async def poll_sqs(
    client: SQSClient, queue_url: str, intake: EventIntake, *, wait_seconds: int = 10
) -> None:
    """Long-poll the queue until cancelled. A message is deleted only after it was handled, so
    a crash redelivers it (and the dedupe key makes that harmless)."""
    while True:
        try:
            received = await client.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
            )
            for message in received.get("Messages", []):
                try:
                    await intake.handle(object_records(json.loads(message.get("Body", ""))))
                except (BadEvent, json.JSONDecodeError) as exc:
                    log.warning("dropping unreadable S3 event message: %s", exc)
                await client.delete_message(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("S3 event poll failed; retrying")
            await asyncio.sleep(1)
