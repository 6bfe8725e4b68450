"""Typed queries over s3_events: one row per delivered object version, so a redelivered
event is recognised and starts nothing."""

from __future__ import annotations

from uuid import UUID

from streamify.infra.db import Connection


async def record_first_delivery(
    conn: Connection,
    *,
    dedupe_key: str,
    bucket: str,
    object_key: str,
    video_id: UUID,
    event_name: str,
    size_bytes: int | None,
    etag: str | None,
) -> bool:
    """Record the event; False when it was recorded before or its video does not exist."""
    first_time = await conn.fetchval(
        """INSERT INTO s3_events
               (dedupe_key, bucket, object_key, video_id, event_name, size_bytes, etag)
           SELECT $1, $2, $3, v.id, $4, $5, $6 FROM videos v WHERE v.id = $7
           ON CONFLICT (dedupe_key) DO NOTHING
           RETURNING true""",
        dedupe_key,
        bucket,
        object_key,
        event_name,
        size_bytes,
        etag,
        video_id,
    )
    return bool(first_time)
