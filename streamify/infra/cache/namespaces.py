"""The cached entity types, one Namespace each, and the listing generations."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from streamify.domain import Session, User, Video, VideoRenditions
from streamify.infra.cache.tier import Namespace


@dataclass(frozen=True, slots=True)
class VideoPage:
    """The ids on one page of a video listing, and whether another page follows."""

    video_ids: tuple[UUID, ...]
    has_next: bool


VIDEOS: Namespace[Video] = Namespace("video", Video)
USERS: Namespace[User] = Namespace("user", User)
RENDITIONS: Namespace[VideoRenditions] = Namespace("renditions", VideoRenditions)
VIDEO_PAGES: Namespace[VideoPage] = Namespace("videopage", VideoPage, is_listing=True)
SESSIONS: Namespace[Session] = Namespace("session", Session)
# Bumped by every write that can change which videos a listing shows.
VIDEO_LISTINGS = "videos"

# Every namespace, so a test can check that each holds only immutable values.
ALL: tuple[Namespace[object], ...] = (VIDEOS, USERS, RENDITIONS, VIDEO_PAGES, SESSIONS)  # type: ignore[assignment]
