"""The id of the request being served, for every log line it causes: in this process through
a context variable (a logging filter writes it into each record), and in the worker's logs
through the tag of the transcoding run the request starts."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
from contextvars import ContextVar

current: ContextVar[str | None] = ContextVar("request_id", default=None)

# A proxy's id is taken as it is only when it is short and plain: it reaches logs and headers.
ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Ids this process makes: a random tag per process, then a counter (unique across processes
# without a random draw per request).
_PROCESS = secrets.token_hex(4)
_next = itertools.count(1).__next__


def new() -> str:
    return f"{_PROCESS}-{_next():x}"


class RequestIdFilter(logging.Filter):
    """Adds `request_id` ("-" outside a request) to every record, for the format to print."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get() or "-"
        return True


RUN_TAG_PREFIX = "request:"


def run_tag(request_id: str) -> str:
    """The Prefect tag of a transcoding run started while serving this request."""
    return f"{RUN_TAG_PREFIX}{request_id}"


def from_run_tags(tags: list[str]) -> str | None:
    """The id of the request that started a run, from its tags."""
    return next(
        (t.removeprefix(RUN_TAG_PREFIX) for t in tags if t.startswith(RUN_TAG_PREFIX)), None
    )
