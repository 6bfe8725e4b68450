"""Bearer tokens (JWT). Issuing and refresh arrive with accounts; this verifies them."""

from __future__ import annotations

from uuid import UUID

import jwt


class InvalidToken(Exception):
    pass


def issue_access_token(user_id: UUID, *, secret: str, algorithm: str, ttl_seconds: int) -> str:
    import time

    now = int(time.time())
    return jwt.encode(
        {"sub": str(user_id), "iat": now, "exp": now + ttl_seconds, "typ": "access"},
        secret,
        algorithm=algorithm,
    )


def verify_access_token(token: str, *, secret: str, algorithm: str) -> UUID:
    """The user id a valid, unexpired access token names; InvalidToken otherwise."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[algorithm], options={"require": ["exp", "sub"]}
        )
        if claims.get("typ") != "access":
            raise InvalidToken("not an access token")
        return UUID(claims["sub"])
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken(str(exc)) from exc
