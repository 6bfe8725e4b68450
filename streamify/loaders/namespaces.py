"""The cached entity types, one Namespace each."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from streamify.domain import User, Video, VideoRenditions
from streamify.infra.sql.accounts import Session
from streamify.loaders.cache_aside import Namespace


@dataclass(frozen=True, slots=True)
class VideoPage:
    """The ids on one page of a video listing, and whether another page follows."""

    video_ids: list[UUID]
    has_next: bool


VIDEOS: Namespace[Video] = Namespace("video", Video)
USERS: Namespace[User] = Namespace("user", User)
RENDITIONS: Namespace[VideoRenditions] = Namespace("renditions", VideoRenditions)
VIDEO_PAGES: Namespace[VideoPage] = Namespace("videopage", VideoPage)
SESSIONS: Namespace[Session] = Namespace("session", Session)
# Bumped by every write that can change which videos a listing shows.
VIDEO_LISTINGS = "videos"
