"""What `POST /beacons` does with a player's events: drop what may not count (a bot, a video the
caller may not see, a flood), count the rest. It never says which were dropped: a beacon
must not tell whether a video exists.

Beacons are the hottest write there is, so this takes only what it needs (the viewing parts,
the cache tier, the caller) rather than a request's whole context and loaders: a hot video's
record comes from L1 with no batch at all."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from streamify.domain import Video
from streamify.infra.cache.namespaces import VIDEOS
from streamify.infra.cache.tier import MISS, CacheTier
from streamify.infra.db import Database
from streamify.infra.redis_client import REDIS_DOWN_ERRORS
from streamify.infra.sql import videos as video_sql
from streamify.infra.viewing.events import Event, RawEvent, is_bot, normalised
from streamify.infra.viewing.viewing import Viewing
from streamify.resolvers.videos import can_view_as

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """How many events went which way (the metric's outcomes)."""

    counted: int = 0
    invalid: int = 0
    bot: int = 0
    invisible: int = 0
    session_rate: int = 0
    address_rate: int = 0
    redis_down: int = 0


async def take_beacon(
    viewing: Viewing,
    tier: CacheTier,
    db: Database,
    raw: Sequence[RawEvent],
    *,
    viewer_id: UUID | None,
    address: str,
    user_agent: str,
) -> Outcome:
    outcome = Outcome()
    if is_bot(user_agent):
        outcome.bot = len(raw)
        return outcome
    if not viewing.addresses.allow(address, len(raw)):
        outcome.address_rate = len(raw)
        return outcome
    events = [e for e in (normalised(r) for r in raw) if e is not None]
    outcome.invalid = len(raw) - len(events)
    countable = await _watchable(tier, db, events, viewer_id)
    outcome.invisible = len(events) - len(countable)
    if not countable:
        return outcome
    try:
        outcome.counted = await viewing.counter.count(countable)
    except REDIS_DOWN_ERRORS as exc:
        log.warning("playback events dropped, Redis unavailable: %s", exc)
        outcome.redis_down = len(countable)
        return outcome
    outcome.session_rate = len(countable) - outcome.counted
    return outcome


async def _watchable(
    tier: CacheTier, db: Database, events: list[Event], viewer_id: UUID | None
) -> list[Event]:
    """Events of videos the caller may watch now (by id, as a player has it): their owner in
    any state, anyone else while it plays and is not someone else's PRIVATE video."""
    ids = list({e.video_id for e in events})
    videos: dict[UUID, Video | None] = {}
    missing = []
    for video_id in ids:
        held = tier.peek(VIDEOS, video_id)
        if held is MISS:
            missing.append(video_id)
        else:
            videos[video_id] = held
    if missing:

        async def fetch(wanted: list[UUID]) -> dict[UUID, tuple[int, Video]]:
            return {v.id: (v.version, v) for v in await video_sql.videos_by_ids(db.pool, wanted)}

        found = await tier.get_many(VIDEOS, missing, fetch)
        videos.update(zip(missing, found, strict=True))
    watchable = {
        video_id
        for video_id, video in videos.items()
        if video is not None and video.playable and can_view_as(viewer_id, video, by_id=True)
    }
    return [e for e in events if e.video_id in watchable]
