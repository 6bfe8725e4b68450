"""Typed queries over accounts: users with passwords, sessions, refresh tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from streamify.domain import Session, User
from streamify.infra.db import Connection
from streamify.infra.sql.users import user_from_row


async def insert_user(
    conn: asyncpg.Pool, *, user_id: UUID, email: str, display_name: str, password_hash: str
) -> User | None:
    """The new user, or None when the email is taken."""
    row = await conn.fetchrow(
        """INSERT INTO users (id, email, display_name, password_hash)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING
           RETURNING id, email, display_name, created_at, version""",
        user_id,
        email,
        display_name,
        password_hash,
    )
    return user_from_row(row) if row else None


async def email_key(conn: asyncpg.Pool, email: str) -> str:
    """The email as PostgreSQL compares it (the unique index is on lower(email)): counters
    keyed by it treat every case variant PostgreSQL folds as one address."""
    key: str = await conn.fetchval("SELECT lower($1)", email)
    return key


async def user_for_login(conn: asyncpg.Pool, email: str) -> tuple[User, str | None] | None:
    row = await conn.fetchrow(
        """SELECT id, email, display_name, created_at, version, password_hash
             FROM users WHERE lower(email) = lower($1)""",
        email,
    )
    return (user_from_row(row), row["password_hash"]) if row else None


async def insert_session(
    conn: Connection, *, session_id: UUID, user_id: UUID, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, $3)",
        session_id,
        user_id,
        expires_at,
    )


async def insert_refresh_token(
    conn: Connection, *, token_hash: bytes, session_id: UUID, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
        token_hash,
        session_id,
        expires_at,
    )


@dataclass(frozen=True, slots=True)
class RefreshToken:
    session: Session
    expires_at: datetime
    used_at: datetime | None


async def lock_refresh_token(conn: Connection, token_hash: bytes) -> RefreshToken | None:
    row = await conn.fetchrow(
        """SELECT t.expires_at AS token_expires_at, t.used_at, s.id, s.user_id, s.expires_at,
                  s.revoked_at, s.version
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
            WHERE t.token_hash = $1
              FOR UPDATE OF t, s""",
        token_hash,
    )
    if row is None:
        return None
    return RefreshToken(
        session=session_from_row(row), expires_at=row["token_expires_at"], used_at=row["used_at"]
    )


async def mark_refresh_token_used(conn: Connection, token_hash: bytes) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1", token_hash
    )


async def revoke_session(conn: Connection, session_id: UUID) -> int | None:
    """Revoke the session (idempotent); its new version, or None when absent."""
    version: int | None = await conn.fetchval(
        """UPDATE sessions SET revoked_at = coalesce(revoked_at, now())
           WHERE id = $1 RETURNING version""",
        session_id,
    )
    return version


def session_from_row(row: asyncpg.Record) -> Session:
    return Session(
        id=row["id"],
        user_id=row["user_id"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        version=row["version"],
    )


async def sessions_by_ids(conn: asyncpg.Pool, ids: list[UUID]) -> list[Session]:
    rows = await conn.fetch(
        "SELECT id, user_id, expires_at, revoked_at, version FROM sessions"
        " WHERE id = ANY($1::uuid[])",
        ids,
    )
    return [session_from_row(r) for r in rows]
