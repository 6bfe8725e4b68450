"""asyncpg pool with a statement counter, database creation and migrations."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import asyncpg

log = logging.getLogger(__name__)

# Any fixed 64-bit number works; it only has to be the same in every process that migrates.
MIGRATION_LOCK_ID = 0x5354_5245_414D


# Errors that mean "PostgreSQL is not answering" (refused, dropped, restarting, full), as
# opposed to a bug in our query.
DATABASE_DOWN_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
)

# A connection of our own or one borrowed from the pool: queries accept either.
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


@dataclass(eq=False)  # hashable by identity: asyncpg keeps loggers in a set
class StatementCounter:
    """Counts every statement the driver sends: tests and /metrics read it."""

    count: int = 0
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=32))

    def __call__(self, record: asyncpg.connection.LoggedQuery) -> None:
        self.count += 1
        self.recent.append(record.query)


@dataclass
class Database:
    pool: asyncpg.Pool
    statements: StatementCounter = field(default_factory=StatementCounter)

    async def close(self) -> None:
        await self.pool.close()

    async def ping(self) -> bool:
        try:
            async with self.pool.acquire(timeout=2) as conn:
                await conn.execute("SELECT 1")
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        return True


WARM_TYPES_SQL = """
    SELECT $1::visibility[], $2::video_status[], $3::upload_status[], $4::uuid[], $5::text[],
           $6::visibility, $7::video_status, $8::upload_status
"""


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


async def ensure_database(url: str) -> None:
    """Create the database named in `url` when it does not exist yet."""
    name = database_name(url)
    try:
        conn = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await conn.close()
        return
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        log.info("created database %s", name)
    except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
        pass  # another process created it first (racing creates can fail either way)
    finally:
        await admin.close()


async def drop_database(url: str) -> None:
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')
    finally:
        await admin.close()


async def create_database(url: str, *, min_size: int = 2, max_size: int = 10) -> Database:
    counter = StatementCounter()

    async def init(conn: asyncpg.Connection) -> None:
        # asyncpg introspects each custom type once per connection; doing it here keeps that
        # setup cost out of requests (and out of the statement count tests assert on).
        await conn.prepare(WARM_TYPES_SQL)
        conn.add_query_logger(counter)

    async def keep_session(_conn: asyncpg.Connection) -> None:
        # asyncpg's default reset sends one more statement after every use of a pooled
        # connection. Pooled connections never LISTEN, SET, take advisory locks or open
        # cursors (migrations use their own connection), and asyncpg still rolls back an
        # open transaction before calling this, so there is nothing to reset.
        return None

    pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, init=init, reset=keep_session
    )
    return Database(pool=pool, statements=counter)


def migration_files() -> list[tuple[int, str, str]]:
    """(number, name, sql) for every numbered file in sql/migrations, in order."""
    folder = resources.files("streamify.infra.sql") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text()))
    return sorted(found)


async def migrate(url: str) -> list[str]:
    """Apply pending migrations once, under an advisory lock; returns the names applied."""
    await ensure_database(url)
    conn = await asyncpg.connect(url)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   number integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["number"] for r in await conn.fetch("SELECT number FROM schema_migrations")}
        for number, name, sql in migration_files():
            if number in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (number, name) VALUES ($1, $2)", number, name
                )
            applied.append(name)
            log.info("applied migration %s", name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
        await conn.close()
    return applied
