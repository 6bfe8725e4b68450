"""Expected errors as JSON for the REST routes, with the same codes GraphQL uses."""

from __future__ import annotations

from starlette.responses import JSONResponse

from streamify.domain import RateLimited, StreamifyError, Unavailable

STATUS = {
    "BAD_USER_INPUT": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "QUOTA_EXCEEDED": 413,
    "RATE_LIMITED": 429,
    "UNAVAILABLE": 503,
}


def error_response(exc: StreamifyError) -> JSONResponse:
    headers = {}
    if isinstance(exc, RateLimited | Unavailable):
        headers["retry-after"] = str(exc.retry_after_seconds)
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message}},
        status_code=STATUS.get(exc.code, 500),
        headers=headers,
    )
