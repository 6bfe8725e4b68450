"""Typed queries over videos (with their manifest) and their renditions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from streamify.domain import (
    CaptionTrack,
    Rendition,
    Video,
    VideoPatch,
    VideoRenditions,
    VideoStatus,
    Visibility,
)
from streamify.infra.db import Connection

VIDEO_COLUMNS = """
    v.id, v.owner_id, v.title, v.description, v.tags, v.visibility, v.status,
    v.duration_seconds, v.created_at, v.updated_at, v.version, v.failure_reason,
    v.access_generation, m.master_path, m.thumbnail_path, m.dash_path,
    ARRAY(SELECT c.language FROM captions c WHERE c.video_id = v.id ORDER BY c.language)
        AS caption_languages,
    ARRAY(SELECT c.label FROM captions c WHERE c.video_id = v.id ORDER BY c.language)
        AS caption_labels
"""


def video_from_row(row: asyncpg.Record) -> Video:
    return Video(
        id=row["id"],
        owner_id=row["owner_id"],
        title=row["title"],
        description=row["description"],
        tags=tuple(row["tags"]),
        visibility=Visibility(row["visibility"]),
        status=VideoStatus(row["status"]),
        duration_seconds=row["duration_seconds"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        manifest_path=row["master_path"],
        thumbnail_path=row["thumbnail_path"],
        failure_reason=row["failure_reason"],
        access_generation=row["access_generation"],
        dash_path=row["dash_path"],
        captions=tuple(
            CaptionTrack(language, label)
            for language, label in zip(row["caption_languages"], row["caption_labels"], strict=True)
        ),
    )


async def videos_by_ids(conn: asyncpg.Pool, ids: Sequence[UUID]) -> list[Video]:
    rows = await conn.fetch(
        f"SELECT {VIDEO_COLUMNS} FROM videos v LEFT JOIN manifests m ON m.video_id = v.id"
        " WHERE v.id = ANY($1::uuid[])",
        list(ids),
    )
    return [video_from_row(r) for r in rows]


async def renditions_by_video_ids(
    conn: asyncpg.Pool, video_ids: Sequence[UUID]
) -> list[tuple[UUID, int, VideoRenditions]]:
    """(video id, video version, renditions) for every video that exists, renditions or not."""
    rows = await conn.fetch(
        """SELECT v.id AS video_id, v.version, r.height, r.width, r.bitrate, r.codecs,
                  r.playlist_path
             FROM videos v LEFT JOIN renditions r ON r.video_id = v.id
            WHERE v.id = ANY($1::uuid[])
            ORDER BY v.id, r.height DESC""",
        list(video_ids),
    )
    grouped: dict[UUID, tuple[int, list[Rendition]]] = {}
    for r in rows:
        _, renditions = grouped.setdefault(r["video_id"], (r["version"], []))
        if r["height"] is not None:
            renditions.append(
                Rendition(r["height"], r["width"], r["bitrate"], r["codecs"], r["playlist_path"])
            )
    return [
        (video_id, version, VideoRenditions(video_id=video_id, renditions=tuple(renditions)))
        for video_id, (version, renditions) in grouped.items()
    ]


@dataclass(frozen=True, slots=True)
class PageCursor:
    created_at: datetime
    id: UUID


async def video_page(
    conn: asyncpg.Pool,
    *,
    limit: int,
    after: PageCursor | None,
    owner_id: UUID | None,
    status: VideoStatus | None,
    visibilities: Sequence[Visibility],
) -> list[Video]:
    """One keyset page, newest first; `limit` rows at most (ask for one more to see a next page)."""
    clauses: list[str] = []
    args: list[object] = []
    # One visibility as `=`, so PostgreSQL walks videos_feed_idx in order and stops at LIMIT;
    # `= ANY(...)` would make it sort every matching row first.
    if len(visibilities) == 1:
        args.append(visibilities[0].value)
        clauses.append(f"v.visibility = ${len(args)}::visibility")
    elif set(visibilities) != set(Visibility):
        args.append([v.value for v in visibilities])
        clauses.append(f"v.visibility = ANY(${len(args)}::visibility[])")
    if owner_id is not None:
        args.append(owner_id)
        clauses.append(f"v.owner_id = ${len(args)}")
    if status is not None:
        args.append(status.value)
        clauses.append(f"v.status = ${len(args)}::video_status")
    if after is not None:
        args.extend([after.created_at, after.id])
        clauses.append(f"(v.created_at, v.id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {VIDEO_COLUMNS} FROM videos v LEFT JOIN manifests m ON m.video_id = v.id"
        f" WHERE {' AND '.join(clauses) or 'true'}"
        f" ORDER BY v.created_at DESC, v.id DESC LIMIT ${len(args)}",
        *args,
    )
    return [video_from_row(r) for r in rows]


async def lock_video_for_delete(conn: Connection, video_id: UUID) -> tuple[UUID, int] | None:
    """(owner, version) of the video, row-locked; None when absent."""
    row = await conn.fetchrow(
        "SELECT owner_id, version FROM videos WHERE id = $1 FOR UPDATE", video_id
    )
    return (row["owner_id"], row["version"]) if row else None


async def update_video(conn: Connection, video_id: UUID, patch: VideoPatch) -> Video | None:
    """Apply the patch in one statement; the trigger bumps `version`. None when absent."""
    row = await conn.fetchrow(
        f"""WITH v AS (
                UPDATE videos SET
                    title = coalesce($2, title),
                    description = coalesce($3, description),
                    tags = coalesce($4::text[], tags),
                    visibility = coalesce($5::visibility, visibility),
                    access_generation = access_generation + CASE
                        WHEN $5::visibility IS DISTINCT FROM visibility AND $5 IS NOT NULL
                        THEN 1 ELSE 0 END
                WHERE id = $1
                RETURNING *)
            SELECT {VIDEO_COLUMNS} FROM v LEFT JOIN manifests m ON m.video_id = v.id""",
        video_id,
        patch.title,
        patch.description,
        list(patch.tags) if patch.tags is not None else None,
        patch.visibility.value if patch.visibility else None,
    )
    return video_from_row(row) if row else None


async def lock_status(conn: Connection, video_id: UUID) -> VideoStatus | None:
    """The video's status, row-locked until the transaction ends; None when absent."""
    current = await conn.fetchval("SELECT status FROM videos WHERE id = $1 FOR UPDATE", video_id)
    return VideoStatus(current) if current is not None else None


@dataclass(frozen=True, slots=True)
class HeldState:
    status: VideoStatus
    visibility: Visibility
    processing_run: str | None  # the run holding its processing, if any


def _held(row: asyncpg.Record | None) -> HeldState | None:
    if row is None:
        return None
    return HeldState(
        VideoStatus(row["status"]), Visibility(row["visibility"]), row["processing_run"]
    )


async def lock_state(conn: Connection, video_id: UUID) -> HeldState | None:
    """The video's status, visibility and processing run, row-locked until the transaction
    ends."""
    return _held(
        await conn.fetchrow(
            "SELECT status, visibility, processing_run FROM videos WHERE id = $1 FOR UPDATE",
            video_id,
        )
    )


async def state_now(conn: asyncpg.Pool, video_id: UUID) -> HeldState | None:
    """The same, read from PostgreSQL itself without a lock (the worker has no cache)."""
    return _held(
        await conn.fetchrow(
            "SELECT status, visibility, processing_run FROM videos WHERE id = $1", video_id
        )
    )


async def owner_of(conn: asyncpg.Pool, video_id: UUID) -> UUID | None:
    owner: UUID | None = await conn.fetchval("SELECT owner_id FROM videos WHERE id = $1", video_id)
    return owner


async def set_processing_run(conn: Connection, video_id: UUID, run: str) -> None:
    await conn.execute("UPDATE videos SET processing_run = $2 WHERE id = $1", video_id, run)


async def set_status(
    conn: Connection, video_id: UUID, status: VideoStatus, *, reason: str | None
) -> int:
    """Write the status (the caller checked the transition); returns the new version."""
    version: int = await conn.fetchval(
        "UPDATE videos SET status = $2, failure_reason = $3 WHERE id = $1 RETURNING version",
        video_id,
        status.value,
        reason,
    )
    return version


async def note_failure(conn: Connection, video_id: UUID, reason: str) -> int:
    """Why the last run failed on our side, kept while the video waits for its next run
    (shown only once it is FAILED); returns the new version."""
    version: int = await conn.fetchval(
        "UPDATE videos SET failure_reason = $2 WHERE id = $1 RETURNING version", video_id, reason
    )
    return version


async def set_duration(conn: Connection, video_id: UUID, seconds: float) -> int:
    """Write the duration; returns the new version."""
    version: int = await conn.fetchval(
        "UPDATE videos SET duration_seconds = $2 WHERE id = $1 RETURNING version",
        video_id,
        seconds,
    )
    return version


async def replace_renditions(
    conn: Connection, video_id: UUID, renditions: Sequence[Rendition]
) -> None:
    await conn.execute("DELETE FROM renditions WHERE video_id = $1", video_id)
    await conn.executemany(
        "INSERT INTO renditions (video_id, height, width, bitrate, codecs, playlist_path)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(video_id, r.height, r.width, r.bitrate, r.codecs, r.playlist_path) for r in renditions],
    )


async def upsert_manifest(
    conn: Connection,
    video_id: UUID,
    *,
    master_path: str,
    thumbnail_path: str,
    dash_path: str | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO manifests (video_id, master_path, thumbnail_path, dash_path)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (video_id) DO UPDATE
           SET master_path = EXCLUDED.master_path,
               thumbnail_path = EXCLUDED.thumbnail_path,
               dash_path = EXCLUDED.dash_path""",
        video_id,
        master_path,
        thumbnail_path,
        dash_path,
    )


async def delete_video(conn: Connection, video_id: UUID) -> None:
    """Delete the row; uploads, renditions, manifest and events go with it (cascade)."""
    await conn.execute("DELETE FROM videos WHERE id = $1", video_id)


@dataclass(frozen=True, slots=True)
class StatusNow:
    status: VideoStatus
    failure_reason: str | None
    updated_at: datetime


async def status_now(conn: asyncpg.Pool, video_id: UUID) -> StatusNow | None:
    """The video's status read from PostgreSQL itself, never from a cache."""
    row = await conn.fetchrow(
        "SELECT status, failure_reason, updated_at FROM videos WHERE id = $1", video_id
    )
    if row is None:
        return None
    return StatusNow(VideoStatus(row["status"]), row["failure_reason"], row["updated_at"])


@dataclass(frozen=True, slots=True)
class Stalled:
    video_id: UUID
    attempts: int  # runs started so far
    idle_seconds: float  # since the video last changed
    processing_run: str | None  # the run that held it last
    status: VideoStatus
    last_failure: str | None  # why its last run failed on our side, if it said


async def stalled_processing(
    conn: asyncpg.Pool, *, idle: timedelta, uploaded_idle: timedelta, limit: int
) -> list[Stalled]:
    """Videos PROCESSING without a change for `idle`, and videos UPLOADED for `uploaded_idle`
    (their run never started: orchestration was down)."""
    rows = await conn.fetch(
        """SELECT v.id, v.processing_run, v.status, v.failure_reason,
                  count(e.dedupe_key) AS attempts,
                  extract(epoch FROM now() - v.updated_at) AS idle_seconds
             FROM videos v LEFT JOIN s3_events e ON e.video_id = v.id
            WHERE (v.status = 'PROCESSING' AND v.updated_at < now() - $1::interval)
               OR (v.status = 'UPLOADED' AND v.updated_at < now() - $2::interval)
            GROUP BY v.id, v.processing_run, v.status, v.failure_reason LIMIT $3""",
        idle,
        uploaded_idle,
        limit,
    )
    return [
        Stalled(
            r["id"],
            r["attempts"],
            float(r["idle_seconds"]),
            r["processing_run"],
            VideoStatus(r["status"]),
            r["failure_reason"],
        )
        for r in rows
    ]


async def video_count(conn: Connection | asyncpg.Pool) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM videos")
    return count
