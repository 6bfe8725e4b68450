"""Sign-up, log-in, token refresh (rotating, with reuse detection) and log-out."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from streamify.domain import BadUserInput, Conflict, RateLimited, Unauthenticated, User
from streamify.infra.cache.namespaces import SESSIONS
from streamify.infra.login_throttle import LoginPolicy, LoginThrottle
from streamify.infra.passwords import hash_password, verify_password
from streamify.infra.settings import Settings
from streamify.infra.sql import accounts as sql
from streamify.infra.tokens import TokenType, hash_refresh_token, issue_token, new_refresh_token
from streamify.resolvers.context import Context
from streamify.resolvers.rate_limits import enforce, rate_limited

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{2,}$")
MAX_PASSWORD = 1024
MAX_DISPLAY_NAME = 80


@dataclass(frozen=True, slots=True)
class Tokens:
    user: User
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    # For a browser: the same session as an HttpOnly cookie, if the transport can set one.
    session_cookie: str
    session_cookie_max_age: int


@rate_limited()
async def sign_up(ctx: Context, *, email: str, password: str, display_name: str) -> Tokens:
    await enforce(ctx, "signup", ctx.client_network, limit=ctx.settings.rate_limit_login_per_minute)
    email = email.strip()
    display_name = display_name.strip()
    if not EMAIL.match(email):
        raise BadUserInput("email is not a valid address.")
    if not ctx.settings.password_min_length <= len(password) <= MAX_PASSWORD:
        raise BadUserInput(
            f"password must be {ctx.settings.password_min_length} to {MAX_PASSWORD} characters."
        )
    if not 1 <= len(display_name) <= MAX_DISPLAY_NAME:
        raise BadUserInput(f"displayName must be 1 to {MAX_DISPLAY_NAME} characters.")
    user = await sql.insert_user(
        ctx.db.pool,
        user_id=uuid.uuid4(),
        email=email,
        display_name=display_name,
        password_hash=await hash_password(password),
    )
    if user is None:
        raise Conflict("An account with this email exists; log in instead.")
    return await _open_session(ctx, user)


@rate_limited()
async def log_in(ctx: Context, *, email: str, password: str) -> Tokens:
    settings = ctx.settings
    await enforce(ctx, "login-ip", ctx.client_network, limit=settings.rate_limit_login_per_minute)
    key = await sql.email_key(ctx.db.pool, email.strip())
    throttle = LoginThrottle(ctx.redis, ctx.names, login_policy(settings))
    wait = await throttle.before_attempt(key, ctx.client_network)
    if wait is not None:
        raise RateLimited(
            f"Too many failed log-ins; try again in {wait} s.", retry_after_seconds=wait
        )
    found = await sql.user_for_login(ctx.db.pool, email.strip())
    password_hash = found[1] if found else None
    # Verified even for unknown emails, so timing does not tell which emails exist.
    if not await verify_password(password_hash, password) or found is None:
        await throttle.failed(key, ctx.client_network)
        raise Unauthenticated("Wrong email or password.")
    await throttle.succeeded(key, ctx.client_network)
    return await _open_session(ctx, found[0])


def login_policy(settings: Settings) -> LoginPolicy:
    return LoginPolicy(
        free_failures=settings.login_free_failures,
        email_ceiling=settings.login_failures_per_email,
        short_wait_seconds=settings.login_short_wait_seconds,
    )


@rate_limited()
async def refresh(ctx: Context, token: str) -> Tokens:
    await enforce(
        ctx, "refresh", ctx.client_network, limit=ctx.settings.rate_limit_mutations_per_minute
    )
    token_hash = hash_refresh_token(token)
    now = datetime.now(UTC)
    reused_session = None
    async with ctx.db.pool.acquire() as conn, conn.transaction():
        found = await sql.lock_refresh_token(conn, token_hash)
        if found is None:
            raise Unauthenticated("The refresh token is not valid; sign in again.")
        session = found.session
        if found.used_at is not None:
            # A rotated token came back: someone else holds a copy. End the whole session.
            version = await sql.revoke_session(conn, session.id)
            reused_session = (session.id, version or session.version + 1)
        elif session.revoked_at is not None or session.expires_at <= now or found.expires_at <= now:
            raise Unauthenticated("The session has ended; sign in again.")
        else:
            await sql.mark_refresh_token_used(conn, token_hash)
            fresh, fresh_hash = new_refresh_token()
            await sql.insert_refresh_token(
                conn, token_hash=fresh_hash, session_id=session.id, expires_at=session.expires_at
            )
    if reused_session is not None:
        await ctx.cache.invalidate(SESSIONS, [reused_session])
        raise Unauthenticated("The refresh token was already used; the session is closed.")
    user = await ctx.loaders.user_by_id.load(session.user_id)
    if user is None:
        raise Unauthenticated("The account no longer exists.")
    return _tokens(ctx, user, session.id, fresh, session.expires_at)


@rate_limited()
async def log_out(ctx: Context, refresh_token: str | None) -> bool:
    """End the session of the refresh token, or of the caller's credentials. The transport
    also clears the session cookie."""
    session_id = None
    if refresh_token:
        async with ctx.db.pool.acquire() as conn:
            found = await sql.lock_refresh_token(conn, hash_refresh_token(refresh_token))
        session_id = found.session.id if found else None
    elif ctx.viewer is not None:
        session_id = ctx.viewer.session_id
    if session_id is None:
        return refresh_token is None and ctx.viewer is not None
    async with ctx.db.pool.acquire() as conn:
        version = await sql.revoke_session(conn, session_id)
    if version is not None:
        await ctx.cache.invalidate(SESSIONS, [(session_id, version)])
    return True


async def _open_session(ctx: Context, user: User) -> Tokens:
    session_id = uuid.uuid4()
    expires_at = datetime.now(UTC) + timedelta(seconds=ctx.settings.refresh_token_ttl_seconds)
    token, token_hash = new_refresh_token()
    async with ctx.db.pool.acquire() as conn, conn.transaction():
        await sql.insert_session(
            conn, session_id=session_id, user_id=user.id, expires_at=expires_at
        )
        await sql.insert_refresh_token(
            conn, token_hash=token_hash, session_id=session_id, expires_at=expires_at
        )
    return _tokens(ctx, user, session_id, token, expires_at)


def _tokens(
    ctx: Context,
    user: User,
    session_id: uuid.UUID,
    refresh_token: str,
    session_expires_at: datetime,
) -> Tokens:
    settings = ctx.settings

    def sign(kind: TokenType, ttl_seconds: int) -> str:
        return issue_token(
            user.id,
            session_id=session_id,
            kind=kind,
            secret=settings.jwt_secret,
            algorithm=settings.jwt_algorithm,
            ttl_seconds=ttl_seconds,
        )

    ttl = settings.access_token_ttl_seconds
    access = sign("access", ttl)
    # The cookie lives as long as the session it belongs to.
    cookie_ttl = max(1, int((session_expires_at - datetime.now(UTC)).total_seconds()))
    cookie = sign("session", cookie_ttl)
    return Tokens(
        user,
        access,
        refresh_token,
        datetime.now(UTC) + timedelta(seconds=ttl),
        session_cookie=cookie,
        session_cookie_max_age=cookie_ttl,
    )
