"""Per-request DataLoaders: every read of an entity goes through one, and through the tier."""

from __future__ import annotations

import contextlib
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TypeVar

from strawberry.dataloader import DataLoader

from streamify.infra.db import Database
from streamify.loaders.cache_aside import CacheTier
from streamify.loaders.renditions import RenditionsByVideoIdLoader
from streamify.loaders.sessions import SessionByIdLoader
from streamify.loaders.uploads import UploadByIdLoader
from streamify.loaders.users import UserByIdLoader
from streamify.loaders.video_pages import VideoPageByQueryLoader
from streamify.loaders.videos import VideoByIdLoader

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Loaders:
    video_by_id: VideoByIdLoader
    user_by_id: UserByIdLoader
    renditions_by_video_id: RenditionsByVideoIdLoader
    video_page_by_query: VideoPageByQueryLoader
    upload_by_id: UploadByIdLoader
    session_by_id: SessionByIdLoader


def forget(loader: DataLoader[K, V], key: K) -> None:
    """Drop one key from a request's loader memo (Strawberry's clear() raises when absent)."""
    with contextlib.suppress(KeyError):
        loader.clear(key)


def build_loaders(db: Database, tier: CacheTier) -> Loaders:
    """Fresh loaders for one request: their own memo must never outlive it."""
    videos = VideoByIdLoader(db, tier)
    return Loaders(
        video_by_id=videos,
        user_by_id=UserByIdLoader(db, tier),
        renditions_by_video_id=RenditionsByVideoIdLoader(db, tier),
        video_page_by_query=VideoPageByQueryLoader(db, tier, videos),
        upload_by_id=UploadByIdLoader(db),
        session_by_id=SessionByIdLoader(db, tier),
    )
