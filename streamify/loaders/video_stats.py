from __future__ import annotations

from uuid import UUID

from strawberry.dataloader import DataLoader

from streamify.infra.viewing.reader import StatsReader, VideoStats
from streamify.loaders.expiry import ResponseExpiry


class VideoStatsByIdLoader(DataLoader[UUID, VideoStats]):
    """A request's reads of viewing totals, one `StatsReader` call per batch: a feed of 50
    cards is one read. A response built from them may be kept only as long as they may be
    stale, so each read moves the response's expiry forward to at most then."""

    def __init__(self, reader: StatsReader, expiry: ResponseExpiry) -> None:
        async def load(ids: list[UUID]) -> list[VideoStats]:
            found = await reader.get_many(ids)
            for _, read_at in found:
                expiry.no_later_than(read_at + reader.max_staleness)
            return [stats for stats, _ in found]

        super().__init__(load_fn=load)
