"""What a business function may use for one request: the process's services, this request's
loaders, and who is asking. Built by a transport (GraphQL, REST), never read from globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from streamify.domain import Unauthenticated
from streamify.infra.cache.tier import CacheTier
from streamify.infra.cdn_purge import CdnPurge
from streamify.infra.db import Database
from streamify.infra.events import EventFanout, ProcessingEvents
from streamify.infra.playback_signing import Playback
from streamify.infra.redis_client import RedisClient
from streamify.infra.settings import Settings
from streamify.infra.storage import Storage
from streamify.infra.viewing.viewing import Viewing
from streamify.loaders import Loaders
from streamify.names import RedisNames
from streamify.resolvers.record_views import RecordViews
from streamify.writes.videos import VideoWrites


class ProcessingStarter(Protocol):
    """Starts another run of a video whose source is stored (the S3 event intake)."""

    async def start_again(self, video_id: UUID, attempt: int, why: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: UUID
    # The log-in session the credentials belong to (None for sessionless access tokens).
    session_id: UUID | None = None


@dataclass
class Context:
    settings: Settings
    db: Database
    cache: CacheTier
    storage: Storage
    redis: RedisClient
    names: RedisNames
    events: ProcessingEvents
    fanout: EventFanout
    writes: VideoWrites
    processing: ProcessingStarter
    playback: Playback
    cdn_purge: CdnPurge
    loaders: Loaders
    viewing: Viewing
    viewer: Viewer | None
    # Why presented credentials were refused; raised only where a viewer is needed.
    auth_error: str | None = None
    # Where the request came from as per-address limits count it: an IPv6 client's /64.
    client_network: str = "unknown"
    # Set when an answer carries signed URLs: they expire, so it must not be cached whole.
    signed_urls: bool = False
    # What records show every viewer, kept by the process (a context of its own keeps its own).
    views: RecordViews = field(default_factory=RecordViews)

    def require_viewer(self) -> Viewer:
        if self.viewer is None:
            raise Unauthenticated(self.auth_error or "Sign in to do this.")
        return self.viewer
