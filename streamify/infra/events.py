"""Processing-status events of a video over Redis pub/sub (channel `video:{id}:events`), so any
API process can stream what any worker reports."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import msgspec
import redis.asyncio as redis

from streamify.domain import VideoStatus


@dataclass(frozen=True, slots=True)
class ProcessingEvent:
    video_id: UUID
    status: VideoStatus
    step: str
    progress: float | None
    message: str | None
    at: datetime

    @classmethod
    def now(
        cls,
        video_id: UUID,
        status: VideoStatus,
        step: str,
        *,
        progress: float | None = None,
        message: str | None = None,
    ) -> ProcessingEvent:
        return cls(video_id, status, step, progress, message, datetime.now(UTC))

    @property
    def final(self) -> bool:
        return self.status in (VideoStatus.READY, VideoStatus.FAILED)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ProcessingEvent)


def heartbeat_key(prefix: str, video_id: UUID) -> str:
    return f"{prefix}processing:{video_id}"


async def heartbeat(client: redis.Redis, prefix: str, video_id: UUID, *, ttl: float) -> None:
    """Say that a worker is still processing this video, for `ttl` seconds."""
    await client.set(heartbeat_key(prefix, video_id), b"1", px=int(ttl * 1000))


def channel(prefix: str, video_id: UUID) -> str:
    return f"{prefix}video:{video_id}:events"


async def publish(client: redis.Redis, prefix: str, event: ProcessingEvent) -> None:
    await client.publish(channel(prefix, event.video_id), _encoder.encode(event))


@contextlib.asynccontextmanager
async def subscription(
    client: redis.Redis, prefix: str, video_id: UUID
) -> AsyncIterator[AsyncIterator[ProcessingEvent]]:
    """Subscribed on entry (so nothing published after entry is missed); iterate for events."""
    async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe(channel(prefix, video_id))

        async def events() -> AsyncIterator[ProcessingEvent]:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield _decoder.decode(message["data"])

        yield events()
