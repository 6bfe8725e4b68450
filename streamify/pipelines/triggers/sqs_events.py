"""S3 event notifications delivered through an SQS queue, long-polled by each API process."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from streamify.pipelines.triggers.event_intake import BadEvent, EventIntake, object_records

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

log = logging.getLogger(__name__)


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
