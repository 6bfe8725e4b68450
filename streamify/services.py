"""Every long-lived client of one API process, created together and closed together."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from streamify.infra.cache.drops import listen_for_drops
from streamify.infra.cache.redis_store import RedisCache
from streamify.infra.cache.tier import CacheTier, Clock
from streamify.infra.cdn_purge import CdnPurge, open_cdn_purge
from streamify.infra.db import Database, create_database
from streamify.infra.events import EventFanout, ProcessingEvents
from streamify.infra.metrics import CountersCollector, Metrics
from streamify.infra.persisted_store import PersistedStore
from streamify.infra.playback_signing import Playback, playback_from
from streamify.infra.redis_client import RedisClient, create_redis
from streamify.infra.settings import Settings
from streamify.infra.storage import Storage, open_sqs, open_storage
from streamify.infra.subscription_leases import SubscriptionLeases
from streamify.infra.viewing.viewing import Viewing, viewing_from
from streamify.loaders import LoadersFactory, build_loaders
from streamify.names import RedisNames
from streamify.pipelines.sweeps.stalled_videos import restart_stalled
from streamify.pipelines.sweeps.upload_sweeper import run_sweeper, sweep_expired_uploads
from streamify.pipelines.triggers.event_intake import EventIntake, StartProcessing
from streamify.pipelines.triggers.processing_starter import (
    no_runs_to_mark,
    prefect_crash_marker,
    prefect_starter,
    record_only,
)
from streamify.pipelines.triggers.sqs_events import poll_sqs
from streamify.resolvers.record_views import RecordViews
from streamify.writes.videos import VideoWrites


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: RedisClient
    names: RedisNames
    cache: CacheTier
    storage: Storage
    events: ProcessingEvents
    fanout: EventFanout
    writes: VideoWrites
    intake: EventIntake
    drop_listener_ready: asyncio.Event
    metrics: Metrics
    playback: Playback
    cdn_purge: CdnPurge
    persisted: PersistedStore
    viewing: Viewing
    loaders_factory: LoadersFactory = build_loaders
    background: list[asyncio.Task[None]] = field(default_factory=list)
    views: RecordViews = field(default_factory=RecordViews)


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    start_processing: StartProcessing | None = None,
    background_jobs: bool = True,
    loaders_factory: LoadersFactory = build_loaders,
    clock: Clock = time.monotonic,
) -> AsyncIterator[Services]:
    """Open every client; with background_jobs, also run the upload sweeper and the S3 event
    queue poller (when a queue is configured) beside the API. `clock` drives the cache tier's
    L1 expiry and circuit breaker (tests advance one of their own)."""
    async with contextlib.AsyncExitStack() as stack:
        db = await create_database(
            settings.database_url,
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
        )
        stack.push_async_callback(db.close)
        client = create_redis(
            settings.redis_url, timeout=settings.redis_timeout_seconds, mode=settings.redis_mode
        )
        stack.push_async_callback(client.aclose)
        listener_client = create_redis(settings.redis_url, timeout=None, mode=settings.redis_mode)
        stack.push_async_callback(listener_client.aclose)
        storage = await stack.enter_async_context(open_storage(settings))
        cdn_purge = await stack.enter_async_context(open_cdn_purge(settings))

        names = RedisNames(settings.cache_key_prefix)
        cache = CacheTier(settings, RedisCache(client, channel=names.l1_drop_channel), clock=clock)
        events = ProcessingEvents(client, names)
        leases = SubscriptionLeases(client, names, cap=settings.subscriptions_per_subscriber)
        fanout = EventFanout(
            listener_client,
            names,
            per_subscriber=settings.subscriptions_per_subscriber,
            leases=leases,
        )
        writes = VideoWrites(db, cache, events)
        if start_processing is None:
            start_processing = (
                prefect_starter(settings.prefect_api_url)
                if settings.prefect_api_url
                else record_only
            )
        intake = EventIntake(
            db, raw_bucket=settings.s3_raw_bucket, start_processing=start_processing
        )
        mark_crashed = (
            prefect_crash_marker(settings.prefect_api_url)
            if settings.prefect_api_url
            else no_runs_to_mark
        )
        metrics = Metrics()
        metrics.add_collector(
            CountersCollector(
                tier_stats=lambda: list(cache.stats.items()),
                statements=db.statements,
                redis=cache.redis,
                l1_size=lambda: len(cache.l1),
            )
        )
        services = Services(
            settings=settings,
            db=db,
            redis=client,
            names=names,
            cache=cache,
            storage=storage,
            events=events,
            fanout=fanout,
            writes=writes,
            intake=intake,
            drop_listener_ready=asyncio.Event(),
            metrics=metrics,
            playback=playback_from(settings),
            cdn_purge=cdn_purge,
            persisted=PersistedStore(
                client,
                names,
                max_bytes=settings.persisted_query_store_max_bytes,
                ttl_seconds=settings.persisted_query_ttl_seconds,
            ),
            viewing=viewing_from(settings, client, names, db),
            loaders_factory=loaders_factory,
        )
        tasks = services.background
        tasks.append(
            asyncio.create_task(
                listen_for_drops(
                    listener_client,
                    names.l1_drop_channel,
                    cache.drop_l1,
                    cache.clear_l1,
                    ready=services.drop_listener_ready,
                ),
                name="cache-drop-listener",
            )
        )
        tasks.append(asyncio.create_task(fanout.run(), name="processing-event-listener"))
        tasks.append(asyncio.create_task(leases.keep_renewed(), name="subscription-leases"))
        if metrics.shared is not None:
            tasks.append(asyncio.create_task(metrics.keep_shared(), name="shared-metrics"))
        if background_jobs:
            tasks.append(
                asyncio.create_task(
                    run_sweeper(
                        [
                            lambda: sweep_expired_uploads(writes, storage),
                            lambda: restart_stalled(
                                writes, events, intake, settings, mark_crashed=mark_crashed
                            ),
                        ],
                        interval=settings.upload_sweep_interval_seconds,
                    ),
                    name="sweeper",
                )
            )
            tasks.append(
                asyncio.create_task(
                    services.viewing.flusher.run(settings.stats_flush_seconds),
                    name="stats-flusher",
                )
            )
            if settings.s3_events_queue_url:
                sqs = await stack.enter_async_context(open_sqs(settings))
                tasks.append(
                    asyncio.create_task(
                        poll_sqs(sqs, settings.s3_events_queue_url, intake), name="s3-event-poller"
                    )
                )
        try:
            yield services
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
