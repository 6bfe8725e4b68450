"""Playback events as `POST /beacons` takes them: decoded, bounded and normalised before
anything counts them. Durations arrive in seconds or milliseconds as players measure them
and are kept as whole milliseconds."""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

import crawleruseragents  # type: ignore[import-untyped]
import msgspec

MAX_EVENTS_PER_BEACON = 50
MAX_BEACON_BYTES = 32 * 1024
MAX_SESSION_ID = 64
# One event never accounts for more than this (a heartbeat comes every 10 s).
MAX_EVENT_MS = 120_000
MAX_STARTUP_MS = 60_000
MAX_HEIGHT = 4320
# Upper bounds of the startup-time histogram's buckets (the last one is open).
STARTUP_BUCKETS_MS = (100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000, 30_000)
USER_AGENT_CHECKED = 512


class Kind(StrEnum):
    START = "start"
    HEARTBEAT = "heartbeat"
    END = "end"
    REBUFFER = "rebuffer"
    ERROR = "error"
    RENDITION = "rendition"


class RawEvent(msgspec.Struct, forbid_unknown_fields=False):
    """One event as a player sends it; anything else in it is ignored."""

    videoId: str
    sessionId: str
    event: str
    positionSeconds: float | None = None
    watchedSeconds: float | None = None
    startupMs: float | None = None
    rebufferMs: float | None = None
    height: int | None = None


_ONE = msgspec.json.Decoder(RawEvent)
_MANY = msgspec.json.Decoder(list[RawEvent])


@dataclass(frozen=True, slots=True)
class Event:
    video_id: UUID
    session: str
    kind: Kind
    watched_ms: int = 0
    startup_bucket: int = -1  # index into STARTUP_BUCKETS_MS (one past the end: slower)
    rebuffer_ms: int = 0
    height: int = 0  # the rendition watched, 0 when unknown


class BadBeacon(ValueError):
    """A body that is not a beacon at all (a 400); single bad events are only dropped."""


def decode(body: bytes) -> list[RawEvent]:
    """One event or a JSON array of at most MAX_EVENTS_PER_BEACON."""
    if len(body) > MAX_BEACON_BYTES:
        raise BadBeacon(f"a beacon is at most {MAX_BEACON_BYTES} bytes")
    stripped = body.lstrip()
    try:
        if stripped.startswith(b"["):
            events = _MANY.decode(body)
            if len(events) > MAX_EVENTS_PER_BEACON:
                raise BadBeacon(f"a beacon holds at most {MAX_EVENTS_PER_BEACON} events")
            return events
        return [_ONE.decode(body)]
    except msgspec.ValidationError as exc:
        raise BadBeacon(f"not a playback event: {exc}") from None
    except msgspec.DecodeError:
        raise BadBeacon("the body is not JSON") from None


def normalised(raw: RawEvent) -> Event | None:
    """The event with every value in range, or None when it cannot be counted at all."""
    try:
        video_id = UUID(raw.videoId)
        kind = Kind(raw.event)
    except ValueError:
        return None
    session = raw.sessionId
    if (
        not 8 <= len(session) <= MAX_SESSION_ID
        or not session.isascii()
        or not session.isprintable()
    ):
        return None
    return Event(
        video_id=video_id,
        session=session,
        kind=kind,
        watched_ms=_milliseconds(raw.watchedSeconds, 1000, MAX_EVENT_MS),
        startup_bucket=_bucket(raw.startupMs) if kind is Kind.START else -1,
        rebuffer_ms=_milliseconds(raw.rebufferMs, 1, MAX_EVENT_MS) if kind is Kind.REBUFFER else 0,
        height=raw.height if raw.height is not None and 0 < raw.height <= MAX_HEIGHT else 0,
    )


def _milliseconds(value: float | None, scale: int, ceiling: int) -> int:
    if value is None or not math.isfinite(value) or value <= 0:
        return 0
    return round(min(float(ceiling), value * scale))


def _bucket(startup_ms: float | None) -> int:
    if startup_ms is None or not math.isfinite(startup_ms) or startup_ms < 0:
        return -1
    return bisect.bisect_left(STARTUP_BUCKETS_MS, min(startup_ms, MAX_STARTUP_MS))


@functools.lru_cache(maxsize=4096)
def is_bot(user_agent: str) -> bool:
    """A known bot's or crawler's user agent (the `crawler-user-agents` list; an empty one
    too). Browsers send a few distinct strings, so each is matched once."""
    if not user_agent:
        return True
    return bool(crawleruseragents.is_crawler(user_agent[:USER_AGENT_CHECKED]))
