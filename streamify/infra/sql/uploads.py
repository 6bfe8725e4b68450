"""Typed queries over uploads, and the video rows their lifecycle moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from streamify.domain import UploadStatus, Visibility
from streamify.infra.db import Connection


@dataclass(frozen=True, slots=True)
class Upload:
    id: UUID
    video_id: UUID
    owner_id: UUID
    filename: str
    content_type: str
    size_bytes: int | None
    part_size_bytes: int
    part_count: int
    s3_key: str
    s3_upload_id: str
    status: UploadStatus
    expires_at: datetime
    created_at: datetime
    completed_size_bytes: int | None
    failure_reason: str | None


COLUMNS = """id, video_id, owner_id, filename, content_type, size_bytes, part_size_bytes,
    part_count, s3_key, s3_upload_id, status, expires_at, created_at, completed_size_bytes,
    failure_reason"""


def upload_from_row(row: asyncpg.Record) -> Upload:
    return Upload(
        id=row["id"],
        video_id=row["video_id"],
        owner_id=row["owner_id"],
        filename=row["filename"],
        content_type=row["content_type"],
        size_bytes=row["size_bytes"],
        part_size_bytes=row["part_size_bytes"],
        part_count=row["part_count"],
        s3_key=row["s3_key"],
        s3_upload_id=row["s3_upload_id"],
        status=UploadStatus(row["status"]),
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        completed_size_bytes=row["completed_size_bytes"],
        failure_reason=row["failure_reason"],
    )


async def insert_upload_with_video(
    c: Connection,
    *,
    upload: Upload,
    bucket: str,
    title: str,
    description: str,
    visibility: Visibility = Visibility.PUBLIC,
) -> int:
    """Insert the video (UPLOADING) and its upload (call inside a transaction); returns the
    video's version."""
    version: int = await c.fetchval(
        """INSERT INTO videos (id, owner_id, title, description, visibility, status)
           VALUES ($1, $2, $3, $4, $5, 'UPLOADING') RETURNING version""",
        upload.video_id,
        upload.owner_id,
        title,
        description,
        visibility.value,
    )
    await c.execute(
        """INSERT INTO uploads (id, video_id, owner_id, filename, content_type, size_bytes,
               part_size_bytes, part_count, s3_bucket, s3_key, s3_upload_id, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        upload.id,
        upload.video_id,
        upload.owner_id,
        upload.filename,
        upload.content_type,
        upload.size_bytes,
        upload.part_size_bytes,
        upload.part_count,
        bucket,
        upload.s3_key,
        upload.s3_upload_id,
        upload.expires_at,
    )
    return version


async def owner_usage(conn: Connection | asyncpg.Pool, owner_id: UUID) -> tuple[int, int]:
    """(bytes in the owner's pending uploads, source bytes of their completed ones)."""
    row = await conn.fetchrow(
        """SELECT coalesce(sum(size_bytes) FILTER (WHERE status = 'PENDING'), 0) AS pending,
                  coalesce(sum(completed_size_bytes) FILTER (WHERE status = 'COMPLETED'), 0)
                      AS stored
             FROM uploads WHERE owner_id = $1""",
        owner_id,
    )
    assert row is not None
    return int(row["pending"]), int(row["stored"])


async def lock_owner_usage(conn: Connection, owner_id: UUID) -> tuple[int, int]:
    """owner_usage, with the owner's uploads locked against a concurrent create until the
    transaction ends, so two creates cannot both fit into the same room."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 7))", owner_id
    )
    return await owner_usage(conn, owner_id)


async def uploads_by_ids(conn: asyncpg.Pool, ids: list[UUID]) -> list[Upload]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM uploads WHERE id = ANY($1::uuid[])", ids)
    return [upload_from_row(r) for r in rows]


async def lock_upload(conn: Connection, upload_id: UUID) -> Upload | None:
    """The upload, row-locked until the caller's transaction ends."""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM uploads WHERE id = $1 FOR UPDATE", upload_id)
    return upload_from_row(row) if row else None


async def set_upload_status(
    conn: Connection,
    upload_id: UUID,
    status: UploadStatus,
    *,
    completed_size: int | None = None,
    reason: str | None = None,
) -> None:
    await conn.execute(
        """UPDATE uploads SET status = $2, completed_size_bytes = $3, failure_reason = $4
           WHERE id = $1""",
        upload_id,
        status.value,
        completed_size,
        reason,
    )


async def expired_upload_ids(conn: asyncpg.Pool, *, limit: int) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT id FROM uploads WHERE status = 'PENDING' AND expires_at < now()"
        " ORDER BY expires_at LIMIT $1",
        limit,
    )
    return [r["id"] for r in rows]


async def pending_multipart_uploads(conn: Connection, video_id: UUID) -> list[tuple[str, str]]:
    """(S3 key, S3 upload id) of the video's uploads still open in S3."""
    rows = await conn.fetch(
        "SELECT s3_key, s3_upload_id FROM uploads WHERE video_id = $1 AND status = 'PENDING'",
        video_id,
    )
    return [(r["s3_key"], r["s3_upload_id"]) for r in rows]
