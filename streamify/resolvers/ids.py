"""Parsing of client-supplied ids and cursors into typed values, with clear errors."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from uuid import UUID

from streamify.domain import BadUserInput
from streamify.infra.sql.videos import PageCursor


def parse_id(value: str, *, what: str) -> UUID:
    try:
        return UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise BadUserInput(f"{what} {value!r} is not a valid id (expected a UUID).") from None


def encode_cursor(cursor: PageCursor) -> str:
    raw = f"{cursor.created_at.isoformat()}|{cursor.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> PageCursor:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        created_at, _, id_ = raw.partition("|")
        parsed = datetime.fromisoformat(created_at)
        if parsed.tzinfo is None:
            raise ValueError("cursor time without zone")
        return PageCursor(created_at=parsed, id=UUID(id_))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInput(f"after: {value!r} is not a cursor this API issued.") from None


def encode_order_cursor(kind: str, value: str, id_: UUID) -> str:
    """A place in a list ordered by something other than time: "v" (views), "t" (trending
    score, as float.hex so it reads back exactly)."""
    raw = f"{kind}|{value}|{id_}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_order_cursor(value: str, kind: str) -> tuple[str, UUID]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        found, number, id_ = raw.split("|")
        if found != kind:
            raise ValueError("a cursor of another order")
        return number, UUID(id_)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInput(f"after: {value!r} is not a cursor of this order.") from None
