"""Typed queries over s3_events: one row per delivered object version, so a redelivered
event is recognised and starts nothing."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

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


async def runs_started(pool: asyncpg.Pool, video_ids: Sequence[UUID]) -> dict[UUID, int]:
    """Processing runs started per video: one per recorded delivery (uploads and retries)."""
    rows = await pool.fetch(
        "SELECT video_id, count(*) AS runs FROM s3_events"
        " WHERE video_id = ANY($1::uuid[]) GROUP BY video_id",
        list(video_ids),
    )
    return {r["video_id"]: r["runs"] for r in rows}
