from __future__ import annotations

from uuid import UUID

from streamify.domain import Video
from streamify.infra.cache.namespaces import VIDEOS
from streamify.infra.cache.tier import CacheTier
from streamify.infra.db import Database
from streamify.infra.sql import videos as sql
from streamify.loaders.tiered import TieredLoader


class VideoByIdLoader(TieredLoader[UUID, Video]):
    def __init__(self, db: Database, tier: CacheTier, deps: dict[str, int] | None = None) -> None:
        async def fetch(ids: list[UUID]) -> dict[UUID, tuple[int, Video]]:
            return {v.id: (v.version, v) for v in await sql.videos_by_ids(db.pool, ids)}

        super().__init__(tier, VIDEOS, fetch, deps)
