from __future__ import annotations

from uuid import UUID

from streamify.domain import User
from streamify.infra.cache.namespaces import USERS
from streamify.infra.cache.tier import CacheTier
from streamify.infra.db import Database
from streamify.infra.sql import users as sql
from streamify.loaders.tiered import TieredLoader


class UserByIdLoader(TieredLoader[UUID, User]):
    def __init__(self, db: Database, tier: CacheTier, deps: dict[str, int] | None = None) -> None:
        async def fetch(ids: list[UUID]) -> dict[UUID, tuple[int, User]]:
            return {u.id: (u.version, u) for u in await sql.users_by_ids(db.pool, ids)}

        super().__init__(tier, USERS, fetch, deps)
