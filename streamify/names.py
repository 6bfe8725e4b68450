"""Every name two processes must spell alike: S3 object keys, Redis keys and channels, the
transcoding deployment. The API and the worker both build them here, so they cannot drift."""

from __future__ import annotations

import re
from uuid import UUID

# -- S3 object keys -------------------------------------------------------------------------
# Raw bucket: one source object per video, uploaded by the client.
UPLOADS_PREFIX = "uploads/"
# Media bucket: everything published for a video lives under its own prefix.
VIDEOS_PREFIX = "videos/"

SOURCE_KEY = re.compile(
    r"^uploads/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/source$"
)


def upload_prefix(video_id: UUID | str) -> str:
    return f"{UPLOADS_PREFIX}{video_id}/"


def source_key(video_id: UUID | str) -> str:
    return f"{upload_prefix(video_id)}source"


def video_id_of_source(key: str) -> UUID | None:
    match = SOURCE_KEY.match(key)
    return UUID(match.group(1)) if match else None


def media_prefix(video_id: UUID | str) -> str:
    return f"{VIDEOS_PREFIX}{video_id}/"


def hls_key(video_id: UUID | str, relative: str) -> str:
    """A file of the HLS stream (playlists and segments) relative to the stream's folder."""
    return f"{media_prefix(video_id)}hls/{relative}"


def thumbs_key(video_id: UUID | str, relative: str) -> str:
    """Poster, storyboard sprite and its WebVTT index."""
    return f"{media_prefix(video_id)}thumbs/{relative}"


def master_key(video_id: UUID | str) -> str:
    return hls_key(video_id, "master.m3u8")


def poster_key(video_id: UUID | str) -> str:
    return thumbs_key(video_id, "poster.jpg")


# -- Prefect --------------------------------------------------------------------------------
TRANSCODE_FLOW = "transcode-video"
TRANSCODE_DEPLOYMENT_NAME = "transcode"
TRANSCODE_DEPLOYMENT = f"{TRANSCODE_FLOW}/{TRANSCODE_DEPLOYMENT_NAME}"


# -- Redis ----------------------------------------------------------------------------------
class RedisNames:
    """Keys and channels under one deployment's prefix (`cache_key_prefix`)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def entity(self, namespace: str, id_: object) -> str:
        """A cached entity of the tier: `<prefix><namespace>:<id>`."""
        return f"{self.prefix}{namespace}:{id_}"

    def generation(self, name: str) -> str:
        """A listing's generation counter, bumped by writes that change the listing."""
        return f"{self.prefix}gen:{name}"

    def generation_name(self, key: str) -> str:
        return key.removeprefix(f"{self.prefix}gen:")

    @property
    def l1_drop_channel(self) -> str:
        """Pub/sub channel on which every write tells every API process to drop L1 entries."""
        return f"{self.prefix}l1-drop"

    def rate(self, scope: str, subject: str) -> str:
        return f"{self.prefix}rate:{scope}:{subject}"

    def persisted_query(self, digest: str) -> str:
        return f"{self.prefix}apq:{digest}"

    def heartbeat(self, video_id: UUID) -> str:
        """Present while a worker is processing the video."""
        return f"{self.prefix}processing:{video_id}"

    def processing_channel(self, video_id: UUID) -> str:
        """Pub/sub channel of a video's processing events."""
        return f"{self.prefix}video:{video_id}:events"

    @property
    def processing_channel_pattern(self) -> str:
        """Every video's processing channel, for one listener per process."""
        return f"{self.prefix}video:*:events"
