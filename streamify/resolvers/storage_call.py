from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from streamify.domain import Unavailable
from streamify.infra.storage import STORAGE_ERRORS


@asynccontextmanager
async def storage_call() -> AsyncIterator[None]:
    """S3 failures reach clients as UNAVAILABLE, without S3's own wording."""
    try:
        yield
    except STORAGE_ERRORS as exc:
        raise Unavailable("Object storage did not answer; try again shortly.") from exc
