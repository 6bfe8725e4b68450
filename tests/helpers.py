"""Test helpers: data factories, a GraphQL caller, tokens, statement counting."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx

from streamify.infra.db import Database
from streamify.infra.redis_client import RedisClient
from streamify.infra.settings import Settings
from streamify.infra.tokens import issue_access_token


async def insert_user(pool: asyncpg.Pool, name: str = "Ada") -> uuid.UUID:
    user_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO users (id, email, display_name) VALUES ($1, $2, $3)",
        user_id,
        f"{user_id}@example.com",
        name,
    )
    return user_id


async def insert_video(
    pool: asyncpg.Pool,
    owner_id: uuid.UUID,
    *,
    title: str = "A video",
    visibility: str = "PUBLIC",
    status: str = "READY",
    renditions: tuple[int, ...] = (720, 480),
    published: bool | None = None,
) -> uuid.UUID:
    """A video row; `published` (default: when READY) gives it renditions and a manifest, as
    a run that made it playable does."""
    video_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO videos (id, owner_id, title, visibility, status, duration_seconds)"
        " VALUES ($1, $2, $3, $4, $5, 12.5)",
        video_id,
        owner_id,
        title,
        visibility,
        status,
    )
    if not (status == "READY" if published is None else published):
        return video_id
    for height in renditions:
        await pool.execute(
            "INSERT INTO renditions (video_id, height, width, bitrate, codecs, playlist_path)"
            " VALUES ($1, $2, $3, $4, 'avc1.64001f,mp4a.40.2', $5)",
            video_id,
            height,
            height * 16 // 9,
            height * 4000,
            f"videos/{video_id}/{height}.m3u8",
        )
    await pool.execute(
        "INSERT INTO manifests (video_id, master_path) VALUES ($1, $2)",
        video_id,
        f"videos/{video_id}/hls/master.m3u8",
    )
    return video_id


async def insert_runs(pool: asyncpg.Pool, video_id: uuid.UUID, count: int) -> None:
    """`count` recorded processing runs of the video (one s3_events row each)."""
    for attempt in range(count):
        await pool.execute(
            "INSERT INTO s3_events (dedupe_key, bucket, object_key, video_id, event_name)"
            " VALUES ($1, 'b', 'k', $2, 'e')",
            f"{video_id}#{attempt}",
            video_id,
        )


def token_for(settings: Settings, user_id: uuid.UUID, ttl_seconds: int = 600) -> str:
    return issue_access_token(
        user_id,
        secret=settings.jwt_secret,
        algorithm=settings.jwt_algorithm,
        ttl_seconds=ttl_seconds,
    )


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def redis_raw(client: RedisClient, key: str) -> bytes:
    """The raw cache entry under `key` (b"" when absent)."""
    return cast(bytes | None, await client.get(key)) or b""


@asynccontextmanager
async def followed(services: Any, video_id: uuid.UUID) -> AsyncIterator[AsyncIterator[Any]]:
    """The video's processing events through the process's listener, as an async iterator."""
    async with services.fanout.subscription(video_id, subscriber="test") as queue:

        async def events() -> AsyncIterator[Any]:
            while True:
                event = await queue.get()
                if event is not None:
                    yield event

        yield events()


class FakeClock:
    """A monotonic clock that moves only when a test says so: TTLs and cooldowns of the cache
    tier pass at once instead of being slept through."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Counted:
    statements: int = 0


@asynccontextmanager
async def count_statements(db: Database) -> AsyncIterator[Counted]:
    """Statements the driver sent inside the block."""
    counted = Counted()
    await asyncio.sleep(0)  # asyncpg reports a query on the next loop iteration
    start = db.statements.count
    try:
        yield counted
    finally:
        await asyncio.sleep(0)
        counted.statements = db.statements.count - start


VIDEO_FIELDS = """
  id title description tags visibility status playable duration createdAt updatedAt
  owner { id displayName }
  renditions { height width bitrate codecs }
  manifest { url dashUrl }
  thumbnailUrl
"""

VIDEO_QUERY = f"query($id: ID!) {{ video(id: $id) {{ {VIDEO_FIELDS} }} }}"
LIST_QUERY = f"""query($first: Int, $after: String, $ownerId: ID, $status: VideoStatus) {{
  videos(first: $first, after: $after, ownerId: $ownerId, status: $status) {{
    edges {{ cursor node {{ {VIDEO_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
UPDATE_MUTATION = f"""mutation($id: ID!, $input: UpdateVideoInput!) {{
  updateVideo(id: $id, input: $input) {{ {VIDEO_FIELDS} }}
}}"""


def ffprobe_json(path: Path, *extra: str) -> Any:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", *extra, str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


async def collect_events(
    services: Any, video_id: uuid.UUID, into: list[Any], subscribed: asyncio.Event
) -> None:
    """Follow the video's processing events into `into` until the final one. After a resync
    (events missed while the listener reconnected to Redis) the video's row says where it is,
    as the subscription itself does (resolvers.processing)."""
    from streamify.domain import VideoStatus
    from streamify.infra.events import ProcessingEvent

    async with services.fanout.subscription(video_id, subscriber="test") as queue:
        subscribed.set()
        while True:
            event = await queue.get()
            if event is None:
                status = await services.db.pool.fetchval(
                    "SELECT status FROM videos WHERE id = $1", video_id
                )
                if status not in ("READY", "FAILED"):
                    continue
                event = ProcessingEvent.now(video_id, VideoStatus(status), "current")
            into.append(event)
            if event.final:
                return


def lists_naming_other_files(folder: Path, port: int, segment: Path) -> tuple[Path, Path]:
    """An HLS playlist and an ffconcat list that name a listener on `port`, a real local clip
    and /etc/passwd: uploads that would make a careless ffmpeg open them."""
    hls = folder / "playlist"
    hls.write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n"
        f"#EXTINF:2,\nhttp://127.0.0.1:{port}/a.ts\n"
        f"#EXTINF:2,\nfile://{segment}\n"
        "#EXTINF:2,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    )
    concat = folder / "list"
    concat.write_text(
        f"ffconcat version 1.0\nfile 'http://127.0.0.1:{port}/b.mp4'\nfile '{segment}'\n"
        "file 'file:///etc/passwd'\n"
    )
    return hls, concat
