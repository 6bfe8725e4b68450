from __future__ import annotations

from uuid import UUID

from strawberry.dataloader import DataLoader

from streamify.domain import Video
from streamify.infra.cache.namespaces import VIDEOS
from streamify.infra.cache.tier import CacheTier
from streamify.infra.db import Database
from streamify.infra.sql import videos as sql


class VideoByIdLoader(DataLoader[UUID, Video | None]):
    def __init__(self, db: Database, tier: CacheTier, deps: dict[str, int] | None = None) -> None:
        async def fetch(ids: list[UUID]) -> dict[UUID, tuple[int, Video]]:
            return {v.id: (v.version, v) for v in await sql.videos_by_ids(db.pool, ids)}

        async def load(ids: list[UUID]) -> list[Video | None]:
            return await tier.get_many(VIDEOS, ids, fetch, record=deps)

        super().__init__(load_fn=load)
