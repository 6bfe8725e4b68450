"""Bulk inserts with COPY (demo data, benchmarks)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

Rows = Sequence[tuple[object, ...]]


async def insert_demo_rows(
    pool: asyncpg.Pool, *, users: Rows, videos: Rows, renditions: Rows, manifests: Rows
) -> None:
    """Users, videos, renditions and manifests in one transaction, then fresh statistics."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.copy_records_to_table(
            "users", records=users, columns=["id", "email", "display_name", "created_at"]
        )
        await conn.copy_records_to_table(
            "videos",
            records=videos,
            columns=[
                "id",
                "owner_id",
                "title",
                "description",
                "tags",
                "visibility",
                "status",
                "duration_seconds",
                "created_at",
                "updated_at",
            ],
        )
        await conn.copy_records_to_table(
            "renditions",
            records=renditions,
            columns=["video_id", "height", "width", "bitrate", "codecs", "playlist_path"],
        )
        await conn.copy_records_to_table(
            "manifests",
            records=manifests,
            columns=["video_id", "master_path", "thumbnail_path", "dash_path", "created_at"],
        )
    async with pool.acquire() as conn:
        # Fresh statistics, so the planner uses the feed index on the new rows at once.
        await conn.execute("ANALYZE users, videos, renditions, manifests")
