from __future__ import annotations

import hashlib
from dataclasses import dataclass
from uuid import UUID

from strawberry.dataloader import DataLoader

from streamify.domain import Video, VideoStatus, Visibility
from streamify.infra.cache.namespaces import VIDEO_LISTINGS, VIDEO_PAGES, VIDEOS, VideoPage
from streamify.infra.cache.tier import CacheTier
from streamify.infra.db import Database
from streamify.infra.sql import videos as sql


@dataclass(frozen=True, slots=True)
class PageQuery:
    limit: int
    after: sql.PageCursor | None
    owner_id: UUID | None
    status: VideoStatus | None
    visibilities: tuple[Visibility, ...]

    def digest(self) -> str:
        return hashlib.blake2b(repr(self).encode(), digest_size=16).hexdigest()


class VideoPageByQueryLoader(DataLoader[PageQuery, VideoPage]):
    """Pages of a listing, cached under the listing's generation: any write that may change
    which videos a listing shows bumps it, so a cached page is never served after one."""

    def __init__(
        self,
        db: Database,
        tier: CacheTier,
        videos: DataLoader[UUID, Video | None],
        deps: dict[str, int] | None = None,
    ):
        async def load(queries: list[PageQuery]) -> list[VideoPage]:
            generation = await tier.generation(VIDEO_LISTINGS, record=deps)
            by_key = {f"{generation}:{q.digest()}": q for q in queries}

            async def fetch(keys: list[str]) -> dict[str, tuple[int, VideoPage]]:
                pages = {}
                for key in keys:
                    query = by_key[key]
                    rows = await sql.video_page(
                        db.pool,
                        limit=query.limit + 1,
                        after=query.after,
                        owner_id=query.owner_id,
                        status=query.status,
                        visibilities=query.visibilities,
                    )
                    shown = rows[: query.limit]
                    for video in shown:
                        videos.prime(video.id, video)
                        if deps is not None:
                            # Read here, not through the loader: a response built from the
                            # page depends on each video's version all the same.
                            deps[tier.key(VIDEOS, video.id)] = video.version
                    await tier.put_many(VIDEOS, [(v.id, v.version, v) for v in shown])
                    page = VideoPage(tuple(v.id for v in shown), has_next=len(rows) > query.limit)
                    pages[key] = (generation, page)
                return pages

            found = await tier.get_many(VIDEO_PAGES, list(by_key), fetch, record=deps)
            return [page or VideoPage((), has_next=False) for page in found]

        super().__init__(load_fn=load)
