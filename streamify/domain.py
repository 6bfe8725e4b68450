"""Records, statuses and their allowed transitions, and the errors the API speaks of.

Records are frozen and hold tuples, never lists: cached records are shared by every request
of a process (L1), so none may be changed in place."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


class Visibility(enum.StrEnum):
    PUBLIC = "PUBLIC"
    UNLISTED = "UNLISTED"
    PRIVATE = "PRIVATE"


class VideoOrder(enum.StrEnum):
    NEWEST = "NEWEST"
    MOST_VIEWED = "MOST_VIEWED"  # by views as flushed (at most a flush interval behind)
    TRENDING = "TRENDING"  # by views decayed with STREAMIFY_TRENDING_HALF_LIFE_HOURS


class VideoStatus(enum.StrEnum):
    UPLOADING = "UPLOADING"
    UPLOADED = "UPLOADED"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


ALLOWED_TRANSITIONS: dict[VideoStatus, frozenset[VideoStatus]] = {
    VideoStatus.UPLOADING: frozenset({VideoStatus.UPLOADED, VideoStatus.FAILED}),
    VideoStatus.UPLOADED: frozenset({VideoStatus.PROCESSING, VideoStatus.FAILED}),
    # PROCESSING -> PROCESSING is a retried run picking the work up again.
    VideoStatus.PROCESSING: frozenset(
        {VideoStatus.PROCESSING, VideoStatus.READY, VideoStatus.FAILED}
    ),
    # A ready or failed video may be processed again (new ladder, retry after a fix).
    VideoStatus.READY: frozenset({VideoStatus.PROCESSING}),
    # FAILED -> UPLOADED: its owner asked for another run (retryProcessing); it waits for one.
    VideoStatus.FAILED: frozenset({VideoStatus.PROCESSING, VideoStatus.UPLOADED}),
}


def can_transition(current: VideoStatus, target: VideoStatus) -> bool:
    return target in ALLOWED_TRANSITIONS[current]


class UploadStatus(enum.StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    ABORTED = "ABORTED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    email: str
    display_name: str
    created_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class CaptionTrack:
    """One of a video's captions: its BCP 47 language tag and the name players show."""

    language: str
    label: str


@dataclass(frozen=True, slots=True)
class Video:
    id: UUID
    owner_id: UUID
    title: str
    description: str
    tags: tuple[str, ...]
    visibility: Visibility
    status: VideoStatus
    duration_seconds: float | None
    created_at: datetime
    updated_at: datetime
    version: int
    manifest_path: str | None = None
    thumbnail_path: str | None = None
    failure_reason: str | None = None
    # Bumped by every change of who may see it: signed URLs of an older one no longer play.
    access_generation: int = 1
    # The DASH manifest (None for a stream published before there was one).
    dash_path: str | None = None
    # Its captions, by language tag.
    captions: tuple[CaptionTrack, ...] = ()

    @property
    def playable(self) -> bool:
        """Its stream is published (the lowest rung at least): while PROCESSING the rest of
        the ladder may still be on its way; READY has every rung."""
        return self.manifest_path is not None and self.status in (
            VideoStatus.PROCESSING,
            VideoStatus.READY,
        )


@dataclass(frozen=True, slots=True)
class Rendition:
    height: int
    width: int
    bitrate: int
    codecs: str
    playlist_path: str


@dataclass(frozen=True, slots=True)
class VideoRenditions:
    """All renditions of one video, cached as one entry versioned by the video's version."""

    video_id: UUID
    renditions: tuple[Rendition, ...]


@dataclass(frozen=True, slots=True)
class VideoPatch:
    """Fields an owner may change; None leaves a field as it is."""

    title: str | None = None
    description: str | None = None
    tags: tuple[str, ...] | None = None
    visibility: Visibility | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """A log-in session; tokens that name it stop working once it is revoked or expired."""

    id: UUID
    user_id: UUID
    expires_at: datetime
    revoked_at: datetime | None
    version: int


class StreamifyError(Exception):
    """An expected error: its message is safe to show to a client."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # graphql-core copies these onto the GraphQL error the client sees.
        self.extensions: dict[str, object] = {"code": self.code}


class BadUserInput(StreamifyError):
    code = "BAD_USER_INPUT"


class NotFound(StreamifyError):
    code = "NOT_FOUND"


class Unauthenticated(StreamifyError):
    code = "UNAUTHENTICATED"


class Forbidden(StreamifyError):
    code = "FORBIDDEN"


class Conflict(StreamifyError):
    code = "CONFLICT"


class Unavailable(StreamifyError):
    """A service we depend on did not answer: retryable, with a hint of when."""

    code = "UNAVAILABLE"

    def __init__(self, message: str, *, retry_after_seconds: int = 5) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
        self.extensions = {"code": self.code, "retryAfterSeconds": retry_after_seconds}


class QuotaExceeded(StreamifyError):
    """The caller would store more than a quota allows; `limit` names the setting."""

    code = "QUOTA_EXCEEDED"

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.extensions = {"code": self.code, "limit": limit}


class TooManySubscriptions(StreamifyError):
    code = "TOO_MANY_SUBSCRIPTIONS"


class RateLimited(StreamifyError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
        self.extensions = {"code": self.code, "retryAfterSeconds": retry_after_seconds}
