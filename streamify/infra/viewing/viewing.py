"""The parts of viewing statistics one API process holds, made from its settings and clients."""

from __future__ import annotations

from dataclasses import dataclass

from streamify.infra.db import Database
from streamify.infra.redis_client import RedisClient
from streamify.infra.settings import Settings
from streamify.infra.viewing.address_limit import AddressLimiter
from streamify.infra.viewing.counter import BeaconCounter
from streamify.infra.viewing.flusher import StatsFlusher
from streamify.infra.viewing.reader import StatsReader
from streamify.infra.viewing.trending import Trending
from streamify.names import RedisNames


@dataclass
class Viewing:
    counter: BeaconCounter
    flusher: StatsFlusher
    reader: StatsReader
    trending: Trending
    addresses: AddressLimiter


def viewing_from(
    settings: Settings, client: RedisClient, names: RedisNames, db: Database
) -> Viewing:
    trending = Trending(client, names, db, half_life_hours=settings.trending_half_life_hours)
    return Viewing(
        counter=BeaconCounter(
            client,
            names,
            shards=settings.stats_shards,
            view_window_seconds=settings.stats_view_window_seconds,
            events_per_session_per_minute=settings.beacon_events_per_session_per_minute,
        ),
        flusher=StatsFlusher(
            client, names, db, shards=settings.stats_shards, trending=trending.add
        ),
        reader=StatsReader(
            client,
            names,
            db,
            shards=settings.stats_shards,
            max_staleness_seconds=settings.stats_max_staleness_seconds,
        ),
        trending=trending,
        addresses=AddressLimiter(settings.beacon_events_per_address_per_second),
    )
