"""The request body limit, applied by the request layer: a body declared or found larger than
the limit is refused with 413 before the application reads it."""

from __future__ import annotations

import json

from starlette.types import Message, Receive, Send

# Methods whose requests carry no body to limit.
BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLarge(Exception):
    pass


def declared_too_large(content_length: bytes | None, max_bytes: int) -> bool:
    return (
        content_length is not None and content_length.isdigit() and int(content_length) > max_bytes
    )


def counting(receive: Receive, max_bytes: int) -> Receive:
    """`receive`, raising BodyTooLarge once more than `max_bytes` of body have come."""
    seen = 0

    async def receive_counted() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > max_bytes:
            raise BodyTooLarge
        return message

    return receive_counted


async def refuse(send: Send, max_bytes: int) -> None:
    body = json.dumps(
        {
            "error": {
                "code": "BAD_USER_INPUT",
                "message": f"The request body is larger than {max_bytes} bytes.",
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
