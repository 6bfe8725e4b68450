"""Signed tokens (JWT, HS256): short-lived access tokens for `Authorization: Bearer`, and the
longer session token the HttpOnly cookie carries. Both name the user and the session."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import jwt

TokenType = Literal["access", "session"]


class InvalidToken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: UUID
    session_id: UUID | None
    expires_at: int


def issue_token(
    user_id: UUID,
    *,
    session_id: UUID | None,
    kind: TokenType,
    secret: str,
    algorithm: str,
    ttl_seconds: int,
) -> str:
    now = int(time.time())
    claims = {"sub": str(user_id), "iat": now, "exp": now + ttl_seconds, "typ": kind}
    if session_id is not None:
        claims["sid"] = str(session_id)
    return jwt.encode(claims, secret, algorithm=algorithm)


def issue_access_token(user_id: UUID, *, secret: str, algorithm: str, ttl_seconds: int) -> str:
    """An access token outside any session (tests, service accounts)."""
    return issue_token(
        user_id,
        session_id=None,
        kind="access",
        secret=secret,
        algorithm=algorithm,
        ttl_seconds=ttl_seconds,
    )


def verify_token(token: str, *, kind: TokenType, secret: str, algorithm: str) -> Claims:
    """The claims of a valid, unexpired token of this kind; InvalidToken otherwise. Only the
    configured algorithm is accepted, so `alg: none` and algorithm swaps are refused."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[algorithm], options={"require": ["exp", "sub", "typ"]}
        )
        if claims.get("typ") != kind:
            raise InvalidToken(f"not an {kind} token")
        sid = claims.get("sid")
        return Claims(UUID(claims["sub"]), UUID(sid) if sid else None, int(claims["exp"]))
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc


def verify_access_token(token: str, *, secret: str, algorithm: str) -> UUID:
    return verify_token(token, kind="access", secret=secret, algorithm=algorithm).user_id


def new_refresh_token() -> tuple[str, bytes]:
    """(the token for the client, the hash we keep)."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
