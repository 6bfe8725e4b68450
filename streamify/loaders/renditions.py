from __future__ import annotations

from uuid import UUID

from streamify.domain import VideoRenditions
from streamify.infra.cache.namespaces import RENDITIONS
from streamify.infra.cache.tier import CacheTier
from streamify.infra.db import Database
from streamify.infra.sql import videos as sql
from streamify.loaders.tiered import TieredLoader


class RenditionsByVideoIdLoader(TieredLoader[UUID, VideoRenditions]):
    """A video's renditions as one entry, versioned by the video's own version."""

    def __init__(self, db: Database, tier: CacheTier, deps: dict[str, int] | None = None) -> None:
        async def fetch(ids: list[UUID]) -> dict[UUID, tuple[int, VideoRenditions]]:
            rows = await sql.renditions_by_video_ids(db.pool, ids)
            return {video_id: (version, value) for video_id, version, value in rows}

        super().__init__(tier, RENDITIONS, fetch, deps)
