"""Every name two processes must spell alike: S3 object keys, Redis keys and channels, the
transcoding deployment. The API and the worker both build them here, so they cannot drift."""

from __future__ import annotations

import re
from uuid import UUID

# -- S3 object keys -------------------------------------------------------------------------
# Raw bucket: one source object per video, uploaded by the client.
UPLOADS_PREFIX = "uploads/"
# Media bucket: everything published for a video lives under its own prefix, in one of two
# spaces the CDN tells apart by path: PUBLIC videos' media under videos/ (served unsigned and
# cached), everyone else's under signed/ (every request needs a signed URL). A video's objects
# move when its visibility crosses between the two.
VIDEOS_PREFIX = "videos/"
SIGNED_PREFIX = "signed/"

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


def chunks_prefix(video_id: UUID | str) -> str:
    """Encoders' outputs, one object per chunk and rung, until the rungs are stitched."""
    return f"{upload_prefix(video_id)}chunks/"


def chunk_key(video_id: UUID | str, rung: str, index: int) -> str:
    # Deterministic: a chunk encoded twice (a resubmitted or duplicated task) overwrites itself.
    return f"{chunks_prefix(video_id)}{rung}/{index:05d}.mp4"


def media_prefix(video_id: UUID | str, *, signed: bool = False) -> str:
    return f"{SIGNED_PREFIX if signed else VIDEOS_PREFIX}{video_id}/"


def published_key(path: str, *, signed: bool) -> str:
    """Where a stored media path (rows keep them in the videos/ space) lives for a video of
    that kind: the same path in the signed/ space when the video's media must be signed."""
    return f"{SIGNED_PREFIX}{path.removeprefix(VIDEOS_PREFIX)}" if signed else path


MEDIA_PATH = re.compile(
    r"^(videos|signed)/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"/((?:hls|thumbs)/[A-Za-z0-9._/-]+)$"
)


def parse_media_path(path: str) -> tuple[bool, UUID, str] | None:
    """(signed, video id, path within the video's folder) of a media object's key, or None for
    anything that is not one (listings, other folders, `..`)."""
    match = MEDIA_PATH.match(path)
    if match is None or ".." in match.group(3).split("/"):
        return None
    return match.group(1) == "signed", UUID(match.group(2)), match.group(3)


def hls_key(video_id: UUID | str, relative: str, *, signed: bool = False) -> str:
    """A file of the HLS stream (playlists and segments) relative to the stream's folder."""
    return f"{media_prefix(video_id, signed=signed)}hls/{relative}"


def thumbs_key(video_id: UUID | str, relative: str, *, signed: bool = False) -> str:
    """Poster, storyboard sprite and its WebVTT index."""
    return f"{media_prefix(video_id, signed=signed)}thumbs/{relative}"


def master_key(video_id: UUID | str) -> str:
    return hls_key(video_id, "master.m3u8")


DASH_MANIFEST = "manifest.mpd"


def dash_key(video_id: UUID | str) -> str:
    """The DASH manifest, beside the HLS master: both name the same segments."""
    return hls_key(video_id, DASH_MANIFEST)


def poster_key(video_id: UUID | str) -> str:
    return thumbs_key(video_id, "poster.jpg")


# Captions, under the stream's folder (hls/): per language tag, the whole WebVTT file (DASH
# and <track> elements read it) and its HLS subtitles rendition (a playlist of segments).
CAPTIONS_FOLDER = "captions"
# Every rendition's segment length, caption segments included: Apple's authoring target
# (§7.5), and measured faster here than 4 s (docs/media.md).
SEGMENT_SECONDS = 6


def caption_file(language: str) -> str:
    """Relative to the stream's folder, as the master and the MPD name it."""
    return f"{CAPTIONS_FOLDER}/{language}.vtt"


def caption_playlist(language: str) -> str:
    return f"{CAPTIONS_FOLDER}/{language}/index.m3u8"


STORYBOARD_SPRITE = "storyboard.jpg"
# The sprite's WebVTT index, beside it; it names the sprite relatively.
STORYBOARD_INDEX = "storyboard.vtt"


# -- Prefect --------------------------------------------------------------------------------
TRANSCODE_FLOW = "transcode-video"
TRANSCODE_DEPLOYMENT_NAME = "transcode"
TRANSCODE_DEPLOYMENT = f"{TRANSCODE_FLOW}/{TRANSCODE_DEPLOYMENT_NAME}"
# The background task encoders serve, and where its parameters and results live (a block).
ENCODE_CHUNK_TASK = "encode-chunk"
WORK_STORAGE_BLOCK = "s3-bucket/streamify-work"
WORK_STORAGE_FOLDER = "prefect"


def user_transcode_limit(user_id: UUID | str) -> str:
    """The global concurrency limit of one user's videos encoding at once."""
    return f"streamify-transcodes-user-{user_id}"


def encoder_host_limit(host: str) -> str:
    """The global concurrency limit of one machine's encoders: at most its cores at once."""
    return f"streamify-encoders-{host}"


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

    # Pub/sub channels; on a cluster they are sharded, and each hash tag puts one on one shard.
    @property
    def l1_drop_channel(self) -> str:
        """Channel on which every write tells every API process to drop L1 entries."""
        return f"{self.prefix}{{l1-drop}}"

    def rate(self, scope: str, subject: str) -> str:
        return f"{self.prefix}rate:{scope}:{subject}"

    # Log-in throttling, by a digest of the email: one hash tag (one cluster slot) per email.
    def login_pair(self, email_tag: str, address: str) -> str:
        return f"{self.prefix}login:{{{email_tag}}}:pair:{address}"

    def login_failures(self, email_tag: str) -> str:
        return f"{self.prefix}login:{{{email_tag}}}:failures"

    def login_known(self, email_tag: str) -> str:
        return f"{self.prefix}login:{{{email_tag}}}:known"

    def login_gate(self, email_tag: str) -> str:
        """When an address new to the account may next try, past the per-email ceiling."""
        return f"{self.prefix}login:{{{email_tag}}}:gate"

    # The persisted-query store: one hash tag, so its script runs on one cluster slot.
    def persisted_query(self, digest: str) -> str:
        return f"{self.prefix}{{apq}}:doc:{digest}"

    @property
    def persisted_index(self) -> str:
        return f"{self.prefix}{{apq}}:index"

    @property
    def persisted_sizes(self) -> str:
        return f"{self.prefix}{{apq}}:sizes"

    @property
    def persisted_bytes(self) -> str:
        return f"{self.prefix}{{apq}}:bytes"

    # Viewing statistics: every key of counter shard k shares the hash tag {st<k>}, so one
    # script counts a beacon (and one claims a flush) in one slot, and a viral video's
    # counters are spread over every shard's slot.
    def stats_shard(self, shard: int) -> str:
        """The prefix of every key of one counter shard."""
        return f"{self.prefix}stats:{{st{shard}}}:"

    @property
    def trending(self) -> str:
        """Videos by decayed views (a sorted set, written by the flushers only)."""
        return f"{self.prefix}{{trending}}:videos"

    @property
    def trending_epoch(self) -> str:
        return f"{self.prefix}{{trending}}:epoch"

    def subscription_leases(self, subscriber: str) -> str:
        """The processing subscriptions a user (or address) holds, in every API process."""
        return f"{self.prefix}subs:{subscriber}"

    def heartbeat(self, video_id: UUID) -> str:
        """Present while a worker is processing the video."""
        return f"{self.prefix}processing:{video_id}"

    @property
    def processing_channel(self) -> str:
        """Every video's processing events (each names its video): one channel, because each
        API process follows all of them, as it followed a pattern before sharded pub/sub."""
        return f"{self.prefix}{{processing}}"
