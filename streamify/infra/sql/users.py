"""Typed queries over users."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from streamify.domain import User


def user_from_row(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        created_at=row["created_at"],
        version=row["version"],
    )


async def users_by_ids(conn: asyncpg.Pool, ids: Sequence[UUID]) -> list[User]:
    rows = await conn.fetch(
        "SELECT id, email, display_name, created_at, version FROM users WHERE id = ANY($1::uuid[])",
        list(ids),
    )
    return [user_from_row(r) for r in rows]
