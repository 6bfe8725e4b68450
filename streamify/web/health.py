from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from streamify.web.context import services_of


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    """Prometheus exposition of this process's metrics: open in development; behind
    `metrics_token` when one is set; not served in production without one."""
    services = services_of(request)
    token = services.settings.metrics_token
    if token is not None:
        presented = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), token.encode()):
            return Response(status_code=401, headers={"www-authenticate": "Bearer"})
    elif services.settings.is_production:
        return Response(status_code=404)
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


async def readyz(request: Request) -> Response:
    """503 only when PostgreSQL is down; a Redis outage is served, so it is `degraded`."""
    services = services_of(request)
    postgres = await services.db.ping()
    redis_ok = await services.cache.redis.ping() if services.cache.redis is not None else True
    checks = {"postgres": "ok" if postgres else "down", "redis": "ok" if redis_ok else "down"}
    status = "ok" if postgres and redis_ok else ("degraded" if postgres else "down")
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if postgres else 503)
