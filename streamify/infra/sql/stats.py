"""Viewing statistics in PostgreSQL: flushes applied once, totals, hourly buckets, and the
lists ordered by views."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from streamify.infra.db import Connection

if TYPE_CHECKING:
    from streamify.infra.viewing.flusher import Deltas

FLUSH_IDS_KEPT_DAYS = 7


def _hour(epoch_hour: int) -> datetime:
    return datetime.fromtimestamp(epoch_hour * 3600, UTC)


async def apply(conn: Connection, deltas: Deltas, *, shard: int) -> bool:
    """Add a flush record's deltas (inside the caller's transaction), once: False when its
    id was applied before. Videos deleted meanwhile are skipped."""
    first = await conn.fetchval(
        "INSERT INTO stats_flushes (flush_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1",
        deltas.flush_id,
    )
    if first is None:
        return False
    videos = sorted(deltas.videos)
    if not videos:
        return True
    existing = {
        r["id"]
        for r in await conn.fetch("SELECT id FROM videos WHERE id = ANY($1::uuid[])", videos)
    }
    totals = [v for v in videos if v in existing and (deltas.views[v] or deltas.watch_ms[v])]
    if totals:
        await conn.execute(
            """INSERT INTO video_stats (video_id, views, watch_ms)
               SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[])
               ON CONFLICT (video_id) DO UPDATE SET
                   views = video_stats.views + EXCLUDED.views,
                   watch_ms = video_stats.watch_ms + EXCLUDED.watch_ms,
                   updated_at = now()""",
            totals,
            [deltas.views[v] for v in totals],
            [deltas.watch_ms[v] for v in totals],
        )
    hourly = [(k, row) for k, row in deltas.hourly.items() if k[0] in existing]
    if hourly:
        await conn.execute(
            """INSERT INTO video_stats_hourly (video_id, hour, views, watch_ms, rebuffer_ms, errors)
               SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::bigint[], $4::bigint[],
                                    $5::bigint[], $6::bigint[])
               ON CONFLICT (video_id, hour) DO UPDATE SET
                   views = video_stats_hourly.views + EXCLUDED.views,
                   watch_ms = video_stats_hourly.watch_ms + EXCLUDED.watch_ms,
                   rebuffer_ms = video_stats_hourly.rebuffer_ms + EXCLUDED.rebuffer_ms,
                   errors = video_stats_hourly.errors + EXCLUDED.errors""",
            [k[0] for k, _ in hourly],
            [_hour(k[1]) for k, _ in hourly],
            *([row[i] for _, row in hourly] for i in range(4)),
        )
    startup = [(k, n) for k, n in deltas.startup.items() if k[0] in existing]
    if startup:
        await conn.execute(
            """INSERT INTO video_startup_hourly (video_id, hour, bucket, samples)
               SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::smallint[], $4::bigint[])
               ON CONFLICT (video_id, hour, bucket) DO UPDATE SET
                   samples = video_startup_hourly.samples + EXCLUDED.samples""",
            [k[0] for k, _ in startup],
            [_hour(k[1]) for k, _ in startup],
            [k[2] for k, _ in startup],
            [n for _, n in startup],
        )
    renditions = [(k, n) for k, n in deltas.renditions.items() if k[0] in existing]
    if renditions:
        await conn.execute(
            """INSERT INTO video_rendition_hourly (video_id, hour, height, watch_ms)
               SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::bigint[])
               ON CONFLICT (video_id, hour, height) DO UPDATE SET
                   watch_ms = video_rendition_hourly.watch_ms + EXCLUDED.watch_ms""",
            [k[0] for k, _ in renditions],
            [_hour(k[1]) for k, _ in renditions],
            [k[2] for k, _ in renditions],
            [n for _, n in renditions],
        )
    sketches = [(v, s) for v, s in deltas.sketches.items() if v in existing]
    if sketches:
        # A sketch is the shard's whole HyperLogLog as of the flush: replaced, not added.
        await conn.execute(
            """INSERT INTO video_viewer_sketches (video_id, shard, estimate, sketch)
               SELECT d.video_id, $2, d.estimate, d.sketch
               FROM unnest($1::uuid[], $3::bigint[], $4::bytea[]) AS d(video_id, estimate, sketch)
               ON CONFLICT (video_id, shard) DO UPDATE SET
                   estimate = EXCLUDED.estimate, sketch = EXCLUDED.sketch""",
            [v for v, _ in sketches],
            shard,
            [s[0] for _, s in sketches],
            [s[1] for _, s in sketches],
        )
    return True


async def public_ready(conn: Connection, ids: Sequence[UUID]) -> set[UUID]:
    """Which of these videos anyone may find in a list (trending counts only those)."""
    rows = await conn.fetch(
        "SELECT id FROM videos WHERE id = ANY($1::uuid[]) AND visibility = 'PUBLIC' "
        "AND status = 'READY'",
        list(ids),
    )
    return {r["id"] for r in rows}


async def forget_old_flushes(pool: asyncpg.Pool) -> None:
    """Flush ids are kept for a week: a record is retried within seconds of its crash."""
    await pool.execute(
        "DELETE FROM stats_flushes WHERE applied_at < now() - make_interval(days => $1)",
        FLUSH_IDS_KEPT_DAYS,
    )


@dataclass(frozen=True, slots=True)
class StoredTotals:
    views: int
    watch_ms: int
    # Per counter shard: the unique-viewer estimate and sketch as of the last flush.
    sketches: dict[int, tuple[int, bytes]]


async def totals(
    pool: asyncpg.Pool, ids: Sequence[UUID], flush_ids: Sequence[str]
) -> tuple[dict[UUID, StoredTotals], set[str]]:
    """Totals as flushed, and which of `flush_ids` are applied (one snapshot: a flush that
    commits meanwhile is in both or neither)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        rows = await conn.fetch(
            "SELECT video_id, views, watch_ms FROM video_stats WHERE video_id = ANY($1::uuid[])",
            list(ids),
        )
        sketches = await conn.fetch(
            "SELECT video_id, shard, estimate, sketch FROM video_viewer_sketches "
            "WHERE video_id = ANY($1::uuid[])",
            list(ids),
        )
        applied = {
            r["flush_id"]
            for r in await conn.fetch(
                "SELECT flush_id FROM stats_flushes WHERE flush_id = ANY($1::text[])",
                list(flush_ids),
            )
        }
    found: dict[UUID, StoredTotals] = {
        r["video_id"]: StoredTotals(r["views"], r["watch_ms"], {}) for r in rows
    }
    for r in sketches:
        entry = found.setdefault(r["video_id"], StoredTotals(0, 0, {}))
        entry.sketches[r["shard"]] = (r["estimate"], bytes(r["sketch"]))
    return found, applied


@dataclass(frozen=True, slots=True)
class HourlyRow:
    hour: datetime
    views: int
    watch_ms: int


async def hourly(pool: asyncpg.Pool, video_id: UUID, hours: int) -> list[HourlyRow]:
    """The last `hours` hours, every hour present (zeros where nothing was watched)."""
    rows = await pool.fetch(
        """SELECT h.hour, coalesce(s.views, 0) AS views, coalesce(s.watch_ms, 0) AS watch_ms
           FROM generate_series(date_trunc('hour', now()) - make_interval(hours => $2 - 1),
                                date_trunc('hour', now()), interval '1 hour') AS h(hour)
           LEFT JOIN video_stats_hourly s ON s.video_id = $1 AND s.hour = h.hour
           ORDER BY h.hour""",
        video_id,
        hours,
    )
    return [HourlyRow(r["hour"], r["views"], r["watch_ms"]) for r in rows]


@dataclass(frozen=True, slots=True)
class Quality:
    startup_buckets: dict[int, int]  # bucket -> samples
    views: int
    watch_ms: int
    rebuffer_ms: int
    errors: int
    rendition_ms: dict[int, int]  # height -> watch ms


async def quality(pool: asyncpg.Pool, video_id: UUID, hours: int) -> Quality:
    """Playback quality over the last `hours` hours, as flushed."""
    since = "date_trunc('hour', now()) - make_interval(hours => $2 - 1)"
    totals_row = await pool.fetchrow(
        f"""SELECT coalesce(sum(views), 0) AS views, coalesce(sum(watch_ms), 0) AS watch_ms,
                   coalesce(sum(rebuffer_ms), 0) AS rebuffer_ms, coalesce(sum(errors), 0) AS errors
            FROM video_stats_hourly WHERE video_id = $1 AND hour >= {since}""",
        video_id,
        hours,
    )
    buckets = await pool.fetch(
        f"""SELECT bucket, sum(samples) AS samples FROM video_startup_hourly
            WHERE video_id = $1 AND hour >= {since} GROUP BY bucket""",
        video_id,
        hours,
    )
    heights = await pool.fetch(
        f"""SELECT height, sum(watch_ms) AS watch_ms FROM video_rendition_hourly
            WHERE video_id = $1 AND hour >= {since} GROUP BY height""",
        video_id,
        hours,
    )
    assert totals_row is not None
    return Quality(
        startup_buckets={r["bucket"]: int(r["samples"]) for r in buckets},
        views=int(totals_row["views"]),
        watch_ms=int(totals_row["watch_ms"]),
        rebuffer_ms=int(totals_row["rebuffer_ms"]),
        errors=int(totals_row["errors"]),
        rendition_ms={r["height"]: int(r["watch_ms"]) for r in heights},
    )


async def hourly_views_since(pool: asyncpg.Pool, hours: int) -> list[tuple[UUID, int, int]]:
    """(video, epoch hour, views) of PUBLIC READY videos over the last `hours` hours: what the
    trending ranking is rebuilt from."""
    rows = await pool.fetch(
        """SELECT s.video_id, (extract(epoch FROM s.hour) / 3600)::bigint AS hour, s.views
           FROM video_stats_hourly s JOIN videos v ON v.id = s.video_id
           WHERE s.hour >= now() - make_interval(hours => $1) AND s.views > 0
             AND v.visibility = 'PUBLIC' AND v.status = 'READY'""",
        hours,
    )
    return [(r["video_id"], int(r["hour"]), int(r["views"])) for r in rows]


@dataclass(frozen=True, slots=True)
class ViewsCursor:
    views: int
    id: UUID


async def most_viewed_page(
    pool: asyncpg.Pool,
    *,
    limit: int,
    after: ViewsCursor | None,
    owner_id: UUID | None,
    status: str | None,
    visibilities: Sequence[str],
) -> list[tuple[UUID, int]]:
    """(video, views as flushed) of one keyset page, most viewed first."""
    clauses = ["v.visibility = ANY($1::visibility[])"]
    args: list[object] = [list(visibilities)]
    if owner_id is not None:
        args.append(owner_id)
        clauses.append(f"v.owner_id = ${len(args)}")
    if status is not None:
        args.append(status)
        clauses.append(f"v.status = ${len(args)}::video_status")
    if after is not None:
        args.extend([after.views, after.id])
        clauses.append(f"(s.views, s.video_id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    rows = await pool.fetch(
        "SELECT s.video_id, s.views FROM video_stats s JOIN videos v ON v.id = s.video_id"
        f" WHERE {' AND '.join(clauses)}"
        f" ORDER BY s.views DESC, s.video_id DESC LIMIT ${len(args)}",
        *args,
    )
    return [(r["video_id"], int(r["views"])) for r in rows]


async def count_videos(
    pool: asyncpg.Pool, *, owner_id: UUID | None, status: str | None, visibilities: Sequence[str]
) -> int:
    clauses = ["visibility = ANY($1::visibility[])"]
    args: list[object] = [list(visibilities)]
    if owner_id is not None:
        args.append(owner_id)
        clauses.append(f"owner_id = ${len(args)}")
    if status is not None:
        args.append(status)
        clauses.append(f"status = ${len(args)}::video_status")
    found = await pool.fetchval(
        f"SELECT count(*) FROM videos WHERE {' AND '.join(clauses)}",
        *args,
    )
    return int(found)
