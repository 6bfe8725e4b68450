"""Failures of the services we depend on, named for clients: UNAVAILABLE with a hint of when to
try again, instead of a masked internal error. GraphQL answers `UNAVAILABLE`
(`extensions.retryAfterSeconds`), REST 503 with `Retry-After`."""

from __future__ import annotations

from streamify.domain import Unavailable
from streamify.infra.db import DATABASE_DOWN_ERRORS
from streamify.infra.storage import STORAGE_ERRORS

DATABASE = "The database did not answer; try again in a few seconds."
STORAGE = "Object storage did not answer; try again shortly."


def outage_of(error: BaseException | None) -> Unavailable | None:
    """The Unavailable a failure of a dependency means, or None for anything else."""
    if isinstance(error, Unavailable):
        return error
    if isinstance(error, DATABASE_DOWN_ERRORS):
        return Unavailable(DATABASE)
    if isinstance(error, STORAGE_ERRORS):
        return Unavailable(STORAGE)
    return None
