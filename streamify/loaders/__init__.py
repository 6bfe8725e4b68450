"""Per-request DataLoaders: the batching layer over the cache tier. Every read of an entity
within one request goes through one, so N lookups of a kind become one tier call."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable
from functools import cached_property
from typing import TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader

from streamify.infra.cache.tier import CacheTier
from streamify.infra.db import Database
from streamify.infra.viewing.reader import StatsReader
from streamify.loaders.expiry import ResponseExpiry
from streamify.loaders.processing_attempts import ProcessingAttemptsByVideoIdLoader
from streamify.loaders.renditions import RenditionsByVideoIdLoader
from streamify.loaders.sessions import SessionByIdLoader
from streamify.loaders.uploads import UploadByIdLoader
from streamify.loaders.users import UserByIdLoader
from streamify.loaders.video_pages import VideoPageByQueryLoader
from streamify.loaders.video_stats import VideoStatsByIdLoader
from streamify.loaders.videos import VideoByIdLoader

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Loaders:
    """One request's loaders, each made on first use (most requests need two or three)."""

    def __init__(self, db: Database, tier: CacheTier) -> None:
        self.db = db
        self.tier = tier
        # When set (by the response cache), every cached read records its key and version.
        self.deps: dict[str, int] | None = None
        # Viewing totals come from their own reader (set with the request's context), and
        # make the response expire by itself.
        self.stats_reader: StatsReader | None = None
        self.expiry = ResponseExpiry()

    @cached_property
    def video_by_id(self) -> VideoByIdLoader:
        return VideoByIdLoader(self.db, self.tier, self.deps)

    @cached_property
    def user_by_id(self) -> UserByIdLoader:
        return UserByIdLoader(self.db, self.tier, self.deps)

    @cached_property
    def renditions_by_video_id(self) -> RenditionsByVideoIdLoader:
        return RenditionsByVideoIdLoader(self.db, self.tier, self.deps)

    @cached_property
    def video_page_by_query(self) -> VideoPageByQueryLoader:
        return VideoPageByQueryLoader(self.db, self.tier, self.video_by_id, self.deps)

    @cached_property
    def upload_by_id(self) -> UploadByIdLoader:
        return UploadByIdLoader(self.db)

    @cached_property
    def processing_attempts_by_video_id(self) -> ProcessingAttemptsByVideoIdLoader:
        return ProcessingAttemptsByVideoIdLoader(self.db)

    @cached_property
    def video_stats_by_id(self) -> VideoStatsByIdLoader:
        assert self.stats_reader is not None, "the request's context sets the stats reader"
        return VideoStatsByIdLoader(self.stats_reader, self.expiry)

    @cached_property
    def session_by_id(self) -> SessionByIdLoader:
        return SessionByIdLoader(self.db, self.tier, self.deps)

    def forget_video(self, video_id: UUID) -> None:
        """The video was written: this request reads it (and its renditions) again."""
        made = vars(self)  # cached_property stores made loaders here; do not make new ones
        for name in ("video_by_id", "renditions_by_video_id"):
            if name in made:
                forget(made[name], video_id)


def forget(loader: DataLoader[K, V], key: K) -> None:
    """Drop one key from a request's loader memo (Strawberry's clear() raises when absent)."""
    with contextlib.suppress(KeyError):
        loader.clear(key)


def build_loaders(db: Database, tier: CacheTier) -> Loaders:
    """Fresh loaders for one request: their own memo must never outlive it."""
    return Loaders(db, tier)


LoadersFactory = Callable[[Database, CacheTier], Loaders]
