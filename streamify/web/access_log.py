"""uvicorn's access log without query strings: a GET /graphql carries the document and its
variables there, which must not reach the log."""

from __future__ import annotations

import logging


class WithoutQueryString(logging.Filter):
    """Cuts the query string from uvicorn's access records (client, method, path, version,
    status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, _, query = args[2].partition("?")
            if query:
                record.args = (*args[:2], f"{path}?…", *args[3:])
        return True


def quiet_query_strings() -> None:
    logging.getLogger("uvicorn.access").addFilter(WithoutQueryString())
