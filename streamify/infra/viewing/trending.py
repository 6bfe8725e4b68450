"""Videos ranked by views decayed with a half-life, in one Redis sorted set.

A view in epoch hour h adds 2^((h - epoch) / half-life) to its video's score: ranking by the
sum is ranking by views each weighted 2^(-age / half-life), without ever rewriting old
scores. Only the flushers write it (a few commands per flush, never per beacon), and only
for PUBLIC READY videos; hiding or deleting a video takes it out. When the set is missing
(Redis lost it) or its numbers grow large (about 600 half-lives after its epoch), it is
rebuilt from PostgreSQL's hourly views with a new epoch."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from streamify.infra.db import Database
from streamify.infra.redis_client import RedisClient
from streamify.infra.sql import stats as stats_sql
from streamify.names import RedisNames

REBUILD_AFTER_HALF_LIVES = 600
REBUILT_HALF_LIVES = 14


class Trending:
    def __init__(
        self, client: RedisClient, names: RedisNames, db: Database, *, half_life_hours: float
    ) -> None:
        self.client = client
        self.names = names
        self.db = db
        self.half_life = half_life_hours

    def _weight(self, hour: int, epoch: int) -> float:
        return float(2 ** ((hour - epoch) / self.half_life))

    async def _epoch(self) -> int:
        now = int(time.time() // 3600)
        raw = await self.client.get(self.names.trending_epoch)
        epoch = int(raw) if raw is not None else None
        exists = await self.client.exists(self.names.trending)
        if epoch is None or not exists or (now - epoch) / self.half_life > REBUILD_AFTER_HALF_LIVES:
            epoch = await self.rebuild()
        return epoch

    async def rebuild(self) -> int:
        """The set again from PostgreSQL's hourly views, with an epoch a few half-lives back."""
        now = int(time.time() // 3600)
        window = int(self.half_life * REBUILT_HALF_LIVES) + 1
        epoch = now - window
        scores: dict[str, float] = {}
        for video, hour, views in await stats_sql.hourly_views_since(self.db.pool, window):
            scores[str(video)] = scores.get(str(video), 0.0) + views * self._weight(hour, epoch)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(self.names.trending)
            if scores:
                pipe.zadd(self.names.trending, scores)
            pipe.set(self.names.trending_epoch, epoch)
            await pipe.execute()
        return epoch

    async def add(self, hourly: dict[UUID, list[tuple[int, int]]]) -> None:
        """Views of PUBLIC READY videos by epoch hour, from one flush."""
        if not hourly:
            return
        epoch = await self._epoch()
        async with self.client.pipeline(transaction=True) as pipe:
            for video, hours in hourly.items():
                score = sum(views * self._weight(hour, epoch) for hour, views in hours)
                pipe.zincrby(self.names.trending, score, str(video))
            await pipe.execute()

    async def remove(self, video_ids: Sequence[UUID]) -> None:
        if video_ids:
            await self.client.zrem(self.names.trending, *(str(v) for v in video_ids))

    async def after(
        self, cursor: tuple[float, UUID] | None, count: int
    ) -> list[tuple[UUID, float]]:
        """Up to `count` (video, score) pairs after `cursor`, highest first (ties by id,
        descending, as Redis orders them)."""
        high: float | str = "+inf" if cursor is None else cursor[0]
        out: list[tuple[UUID, float]] = []
        offset = 0
        while len(out) < count:
            batch: list[Any] = await self.client.zrevrangebyscore(
                self.names.trending, high, "-inf", start=offset, num=count + 16, withscores=True
            )
            if not batch:
                break
            offset += len(batch)
            for member, score in batch:
                video = UUID(member.decode())
                if cursor is not None and score == cursor[0] and str(video) >= str(cursor[1]):
                    continue
                out.append((video, float(score)))
                if len(out) == count:
                    break
        return out

    async def size(self) -> int:
        return int(await self.client.zcard(self.names.trending))
