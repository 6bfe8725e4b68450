"""Expected errors as JSON for the REST routes, with the same codes GraphQL uses."""

from __future__ import annotations

from starlette.responses import JSONResponse

from streamify.domain import StreamifyError

STATUS = {
    "BAD_USER_INPUT": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "UNAVAILABLE": 503,
}


def error_response(exc: StreamifyError) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message}}, status_code=STATUS.get(exc.code, 500)
    )
