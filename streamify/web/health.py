from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from streamify.web.context import services_of


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    """Prometheus exposition of this process's metrics."""
    return Response(services_of(request).metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


async def readyz(request: Request) -> Response:
    """503 only when PostgreSQL is down; a Redis outage is served, so it is `degraded`."""
    services = services_of(request)
    postgres = await services.db.ping()
    redis_ok = await services.cache.redis.ping() if services.cache.redis is not None else True
    checks = {"postgres": "ok" if postgres else "down", "redis": "ok" if redis_ok else "down"}
    status = "ok" if postgres and redis_ok else ("degraded" if postgres else "down")
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if postgres else 503)
