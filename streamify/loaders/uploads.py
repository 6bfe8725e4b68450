from __future__ import annotations

from uuid import UUID

from strawberry.dataloader import DataLoader

from streamify.infra.db import Database
from streamify.infra.sql import uploads as sql
from streamify.infra.sql.uploads import Upload


class UploadByIdLoader(DataLoader[UUID, Upload | None]):
    """Batched but not cached across requests: an upload changes with every call its owner
    makes, and only its owner ever reads it."""

    def __init__(self, db: Database) -> None:
        async def load(ids: list[UUID]) -> list[Upload | None]:
            found = {u.id: u for u in await sql.uploads_by_ids(db.pool, ids)}
            return [found.get(i) for i in ids]

        super().__init__(load_fn=load)
