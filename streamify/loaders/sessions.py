from __future__ import annotations

from uuid import UUID

from streamify.domain import Session
from streamify.infra.cache.namespaces import SESSIONS
from streamify.infra.cache.tier import CacheTier
from streamify.infra.db import Database
from streamify.infra.sql import accounts as sql
from streamify.loaders.tiered import TieredLoader


class SessionByIdLoader(TieredLoader[UUID, Session]):
    """Sessions are read on every authenticated request, so they go through the tier too;
    logging out bumps the version and invalidates."""

    def __init__(self, db: Database, tier: CacheTier, deps: dict[str, int] | None = None) -> None:
        async def fetch(ids: list[UUID]) -> dict[UUID, tuple[int, Session]]:
            return {s.id: (s.version, s) for s in await sql.sessions_by_ids(db.pool, ids)}

        super().__init__(tier, SESSIONS, fetch, deps)
