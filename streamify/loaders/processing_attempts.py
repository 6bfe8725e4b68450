from __future__ import annotations

from uuid import UUID

from strawberry.dataloader import DataLoader

from streamify.infra.db import Database
from streamify.infra.sql import events as sql


class ProcessingAttemptsByVideoIdLoader(DataLoader[UUID, int]):
    """How many processing runs each video has had. Not cached across requests: a run starts
    without changing the video's row (and so its version), and only owners ask."""

    def __init__(self, db: Database) -> None:
        async def load(ids: list[UUID]) -> list[int]:
            counts = await sql.runs_started(db.pool, ids)
            return [counts.get(i, 0) for i in ids]

        super().__init__(load_fn=load)
