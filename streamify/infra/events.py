"""Processing-status events of a video over Redis pub/sub, so any API process can stream what
any worker reports, and the worker's heartbeat that says a run is alive. Every video's events
go on one channel; each API process reads it through one connection (`EventFanout`)
and hands each event to that video's subscriptions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import msgspec

from streamify.domain import VideoStatus
from streamify.infra import pubsub
from streamify.infra.redis_client import REDIS_DOWN_ERRORS, RedisClient, is_cluster
from streamify.infra.subscription_leases import SubscriptionLeases
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

    @property
    def access_changed(self) -> bool:
        """Not a processing step: the video was deleted or its visibility changed, so who may
        follow it must be checked again."""
        return self.step == ACCESS_CHANGED


ACCESS_CHANGED = "access-changed"
# Put in a subscription's queue after the listener reconnected: events may have been missed.
RESYNC = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ProcessingEvent)


class ProcessingEvents:
    """Publishes and subscribes to processing events; refreshes and reads heartbeats."""

    def __init__(self, client: RedisClient, names: RedisNames) -> None:
        self.client = client
        self.names = names
        self.sharded = is_cluster(client)

    async def publish(self, event: ProcessingEvent) -> None:
        await pubsub.publish(
            self.client,
            self.names.processing_channel,
            _encoder.encode(event),
            sharded=self.sharded,
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

    async def end_heartbeat(self, video_id: UUID) -> None:
        """No worker holds the video any more (its run failed and handed it back)."""
        await self.client.delete(self.names.heartbeat(video_id))

    async def is_alive(self, video_id: UUID) -> bool:
        return bool(await self.client.exists(self.names.heartbeat(video_id)))


class TooManySubscriptions(Exception):
    """The subscriber already follows as many videos as it may at once."""


class EventFanout:
    """One Redis connection per API process for every processing subscription: it listens to
    the processing channel and hands each event to the queues of that video's subscribers.
    A subscriber (user, or address) may hold `per_subscriber` at once: across every process
    through `leases`, and in this process alone while Redis is down (or without leases)."""

    def __init__(
        self,
        client: RedisClient,
        names: RedisNames,
        *,
        per_subscriber: int,
        leases: SubscriptionLeases | None = None,
    ) -> None:
        self.client = client
        self.names = names
        self.per_subscriber = per_subscriber
        self.leases = leases
        self.queues: dict[UUID, set[asyncio.Queue[ProcessingEvent | None]]] = defaultdict(set)
        self.held: dict[Hashable, int] = defaultdict(int)
        self.ready = asyncio.Event()

    @contextlib.asynccontextmanager
    async def subscription(
        self, video_id: UUID, *, subscriber: Hashable
    ) -> AsyncIterator[asyncio.Queue[ProcessingEvent | None]]:
        """A queue of the video's events from now on (RESYNC after a reconnect)."""
        if self.held[subscriber] >= self.per_subscriber:
            raise TooManySubscriptions
        self.held[subscriber] += 1
        try:
            lease = await self._lease(subscriber)
        except TooManySubscriptions:
            self._let_go(subscriber)
            raise
        queue: asyncio.Queue[ProcessingEvent | None] = asyncio.Queue(maxsize=1000)
        self.queues[video_id].add(queue)
        try:
            await self.ready.wait()
            yield queue
        finally:
            self.queues[video_id].discard(queue)
            if not self.queues[video_id]:
                del self.queues[video_id]
            self._let_go(subscriber)
            if lease is not None and self.leases is not None:
                await self.leases.release(lease)

    async def _lease(self, subscriber: Hashable) -> str | None:
        if self.leases is None:
            return None
        try:
            lease = await self.leases.acquire(subscriber)
        except REDIS_DOWN_ERRORS as exc:
            log.warning("subscriptions counted in this process only, Redis unavailable: %s", exc)
            return None
        if lease is None:
            raise TooManySubscriptions
        return lease

    def _let_go(self, subscriber: Hashable) -> None:
        self.held[subscriber] -= 1
        if not self.held[subscriber]:
            del self.held[subscriber]

    def _deliver(self, item: ProcessingEvent | None, video_id: UUID | None = None) -> None:
        targets = (
            self.queues.get(video_id, set())
            if video_id is not None
            else {q for qs in self.queues.values() for q in qs}
        )
        for queue in targets:
            if queue.full():  # a subscriber that stopped reading: it resyncs instead
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(RESYNC)
            else:
                queue.put_nowait(item)

    async def run(self, *, retry_seconds: float = 0.5) -> None:
        """Listen until cancelled; after a reconnect or failover every subscription resyncs."""

        def deliver(data: bytes) -> None:
            try:
                event = _decoder.decode(data)
            except msgspec.ValidationError:
                log.warning("dropping an unreadable processing event")
                return
            self._deliver(event, event.video_id)

        await pubsub.listen(
            self.client,
            self.names.processing_channel,
            on_message=deliver,
            on_resubscribed=lambda: self._deliver(RESYNC),
            ready=self.ready,
            retry_seconds=retry_seconds,
        )
