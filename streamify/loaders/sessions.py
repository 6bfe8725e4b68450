from __future__ import annotations

from uuid import UUID

from strawberry.dataloader import DataLoader

from streamify.domain import Session
from streamify.infra.cache.namespaces import SESSIONS
from streamify.infra.cache.tier import CacheTier
from streamify.infra.db import Database
from streamify.infra.sql import accounts as sql


class SessionByIdLoader(DataLoader[UUID, Session | None]):
    """Sessions are read on every authenticated request, so they go through the tier too;
    logging out bumps the version and invalidates."""

    def __init__(self, db: Database, tier: CacheTier, deps: dict[str, int] | None = None) -> None:
        async def fetch(ids: list[UUID]) -> dict[UUID, tuple[int, Session]]:
            return {s.id: (s.version, s) for s in await sql.sessions_by_ids(db.pool, ids)}

        async def load(ids: list[UUID]) -> list[Session | None]:
            return await tier.get_many(SESSIONS, ids, fetch, record=deps)

        super().__init__(load_fn=load)
