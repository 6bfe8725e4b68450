"""Typed queries of the playable demo (dev only): its owner, its clips' videos, their media."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from streamify.domain import Rendition, VideoStatus


@dataclass(frozen=True, slots=True)
class DemoMedia:
    """A processed clip's media, which demo videos share so that every one of them plays."""

    master_path: str
    thumbnail_path: str | None
    duration_seconds: float
    renditions: tuple[Rendition, ...]
    dash_path: str | None = None


async def insert_demo_owner(pool: asyncpg.Pool) -> UUID:
    owner = uuid.uuid4()
    await pool.execute(
        "INSERT INTO users (id, email, display_name) VALUES ($1, $2, 'Streamify demo')",
        owner,
        f"demo-{owner.hex[:8]}@example.com",
    )
    return owner


async def insert_uploaded_video(
    pool: asyncpg.Pool, video_id: UUID, owner: UUID, title: str
) -> None:
    """A video whose source is about to land in the raw bucket, as completeUpload leaves it."""
    await pool.execute(
        "INSERT INTO videos (id, owner_id, title, description, status)"
        " VALUES ($1, $2, $3, 'A clip made with ffmpeg for the demo.', 'UPLOADED')",
        video_id,
        owner,
        title,
    )


async def statuses(pool: asyncpg.Pool, ids: Sequence[UUID]) -> dict[UUID, VideoStatus]:
    rows = await pool.fetch("SELECT id, status FROM videos WHERE id = ANY($1::uuid[])", list(ids))
    return {r["id"]: VideoStatus(r["status"]) for r in rows}


async def media_of(pool: asyncpg.Pool, ids: Sequence[UUID]) -> list[DemoMedia]:
    found = []
    for video_id in ids:
        row = await pool.fetchrow(
            "SELECT m.master_path, m.thumbnail_path, m.dash_path, v.duration_seconds"
            " FROM videos v JOIN manifests m ON m.video_id = v.id WHERE v.id = $1",
            video_id,
        )
        if row is None:
            continue
        rows = await pool.fetch(
            "SELECT height, width, bitrate, codecs, playlist_path FROM renditions"
            " WHERE video_id = $1 ORDER BY height DESC",
            video_id,
        )
        found.append(
            DemoMedia(
                master_path=row["master_path"],
                thumbnail_path=row["thumbnail_path"],
                duration_seconds=row["duration_seconds"] or 0.0,
                renditions=tuple(
                    Rendition(
                        r["height"], r["width"], r["bitrate"], r["codecs"], r["playlist_path"]
                    )
                    for r in rows
                ),
                dash_path=row["dash_path"],
            )
        )
    return found
