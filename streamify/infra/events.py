"""Processing-status events of a video over Redis pub/sub, so any API process can stream what
any worker reports, and the worker's heartbeat that says a run is alive."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import msgspec
import redis.asyncio as redis

from streamify.domain import VideoStatus
from streamify.infra.redis_client import REDIS_DOWN_ERRORS
from streamify.names import RedisNames

log = logging.getLogger(__name__)


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


class ProcessingEvents:
    """Publishes and subscribes to processing events; refreshes and reads heartbeats."""

    def __init__(self, client: redis.Redis, names: RedisNames) -> None:
        self.client = client
        self.names = names

    async def publish(self, event: ProcessingEvent) -> None:
        await self.client.publish(
            self.names.processing_channel(event.video_id), _encoder.encode(event)
        )

    async def publish_quietly(self, event: ProcessingEvent) -> None:
        """Publish; a Redis failure is logged, not raised (the state is already written and
        a subscriber that reconnects reads it)."""
        try:
            await self.publish(event)
        except REDIS_DOWN_ERRORS as exc:
            log.warning("could not publish a processing event for %s: %s", event.video_id, exc)

    async def heartbeat(self, video_id: UUID, *, ttl: float) -> None:
        """Say that a worker is still processing this video, for `ttl` seconds."""
        await self.client.set(self.names.heartbeat(video_id), b"1", px=int(ttl * 1000))

    async def is_alive(self, video_id: UUID) -> bool:
        return bool(await self.client.exists(self.names.heartbeat(video_id)))

    @contextlib.asynccontextmanager
    async def subscription(self, video_id: UUID) -> AsyncIterator[AsyncIterator[ProcessingEvent]]:
        """Subscribed on entry (so nothing published after entry is missed); iterate for
        events."""
        async with self.client.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self.names.processing_channel(video_id))

            async def events() -> AsyncIterator[ProcessingEvent]:
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        yield _decoder.decode(message["data"])

            yield events()
