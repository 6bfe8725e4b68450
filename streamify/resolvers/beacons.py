"""What `POST /beacons` does with a player's events: drop what may not count (a bot, a video the
caller may not see, a flood), count the rest. It never says which were dropped: a beacon
must not tell whether a video exists."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from streamify.infra.redis_client import REDIS_DOWN_ERRORS
from streamify.infra.viewing.events import Event, RawEvent, is_bot, normalised
from streamify.resolvers.context import Context
from streamify.resolvers.videos import can_view

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


async def take_beacon(ctx: Context, raw: Sequence[RawEvent], *, user_agent: str) -> Outcome:
    outcome = Outcome()
    if is_bot(user_agent):
        outcome.bot = len(raw)
        return outcome
    viewing = ctx.viewing
    if not viewing.addresses.allow(ctx.client_network, len(raw)):
        outcome.address_rate = len(raw)
        return outcome
    events = [e for e in (normalised(r) for r in raw) if e is not None]
    outcome.invalid = len(raw) - len(events)
    countable = await _visible(ctx, events)
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


async def _visible(ctx: Context, events: list[Event]) -> list[Event]:
    """Events of videos the caller may watch now (by id, as a player has it): their owner in
    any state, anyone else while it plays and is not someone else's PRIVATE video."""
    ids = list({e.video_id for e in events})
    videos = await ctx.loaders.video_by_id.load_many(ids)
    watchable = {
        video.id
        for video in videos
        if video is not None and video.playable and can_view(ctx, video, by_id=True)
    }
    return [e for e in events if e.video_id in watchable]
