"""S3 ObjectCreated events for the raw-uploads bucket, from any delivery path (SQS, an SNS
HTTP subscription, a MinIO webhook), deduplicated and handed to `start_processing` once."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus
from uuid import UUID

from streamify.infra.db import Database
from streamify.infra.sql import events as sql
from streamify.names import source_key, video_id_of_source

log = logging.getLogger(__name__)


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

    async def start_again(self, video_id: UUID, attempt: int, why: str) -> bool:
        """Start another run of a video whose source is already stored, recorded like an S3
        event under a key of its own per attempt; False when that attempt was started before."""
        record = StoredObject(
            bucket=self.raw_bucket,
            key=source_key(video_id),
            event_name=f"streamify:{why}",
            size_bytes=None,
            etag=None,
            version_id=None,
            sequencer=f"retry-{attempt}",
        )
        return await self.handle([record]) == 1

    async def handle(self, records: Iterable[StoredObject]) -> int:
        """Record each new event once and start processing its video; returns how many started."""
        started = 0
        for record in records:
            if record.bucket != self.raw_bucket:
                continue
            video_id = video_id_of_source(record.key)
            if video_id is None:
                log.info("ignoring object %s: not an upload source", record.key)
                continue
            # Recorded and started together: if starting fails, the record is rolled back and
            # the redelivered event (SQS, webhook retry) tries again.
            async with self.db.pool.acquire() as conn, conn.transaction():
                first_time = await sql.record_first_delivery(
                    conn,
                    dedupe_key=record.dedupe_key,
                    bucket=record.bucket,
                    object_key=record.key,
                    video_id=video_id,
                    event_name=record.event_name,
                    size_bytes=record.size_bytes,
                    etag=record.etag,
                )
                if not first_time:
                    log.info("duplicate or orphan event for %s ignored", record.key)
                    continue
                await self.start_processing(video_id, record)
            started += 1
        return started
