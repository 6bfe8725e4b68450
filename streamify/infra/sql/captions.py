"""Typed queries over captions (one per video and language)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from streamify.infra.db import Connection


@dataclass(frozen=True, slots=True)
class StoredCaption:
    language: str
    label: str
    vtt: str


async def captions_of(conn: Connection, video_id: UUID) -> list[StoredCaption]:
    rows = await conn.fetch(
        "SELECT language, label, vtt FROM captions WHERE video_id = $1 ORDER BY language",
        video_id,
    )
    return [StoredCaption(r["language"], r["label"], r["vtt"]) for r in rows]


async def others(conn: Connection, video_id: UUID, language: str) -> list[tuple[str, str]]:
    """(language, label) of the video's other captions."""
    rows = await conn.fetch(
        "SELECT language, label FROM captions WHERE video_id = $1 AND language <> $2",
        video_id,
        language,
    )
    return [(r["language"], r["label"]) for r in rows]


async def upsert(
    conn: Connection, video_id: UUID, *, language: str, label: str, vtt: str, cues: int
) -> None:
    await conn.execute(
        """INSERT INTO captions (video_id, language, label, vtt, bytes, cues)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (video_id, language) DO UPDATE SET
               label = EXCLUDED.label, vtt = EXCLUDED.vtt, bytes = EXCLUDED.bytes,
               cues = EXCLUDED.cues, updated_at = now()""",
        video_id,
        language,
        label,
        vtt,
        len(vtt.encode()),
        cues,
    )


async def delete(conn: Connection, video_id: UUID, language: str) -> bool:
    deleted = await conn.fetchval(
        "DELETE FROM captions WHERE video_id = $1 AND language = $2 RETURNING 1",
        video_id,
        language,
    )
    return deleted is not None


async def touch_video(conn: Connection, video_id: UUID) -> int:
    """A caption changed: the video's version moves (the trigger bumps it), so every cache
    of the video, and every response built from it, is read again."""
    version: int = await conn.fetchval(
        "UPDATE videos SET updated_at = now() WHERE id = $1 RETURNING version", video_id
    )
    return version


async def lock_manifests(conn: Connection, video_id: UUID) -> None:
    """Until the transaction ends, nobody else rewrites the video's master or MPD: the flow
    publishing a rung and a caption's write each read the captions and write both manifests
    under it, so neither overwrites the other's with an older list."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('streamify-manifests'), hashtext($1))",
        str(video_id),
    )


async def duration_of(conn: Connection, video_id: UUID) -> float | None:
    """The video's duration as the flow last published it (None until then)."""
    found = await conn.fetchval("SELECT duration_seconds FROM videos WHERE id = $1", video_id)
    return None if found is None else float(found)
