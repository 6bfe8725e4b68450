"""Request counts and latency by route, recorded around every HTTP request."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamify.infra.metrics import Metrics

KNOWN_ROUTES = ("/graphql", "/s3/", "/hooks/", "/healthz", "/readyz", "/metrics")


class RequestMetrics:
    """ASGI middleware: one counter increment and one histogram observation per request."""

    def __init__(self, app: ASGIApp, *, metrics: Callable[[Scope], Metrics | None]) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics(scope)
        if metrics is None:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        route = (
            "/graphql"
            if path == "/graphql"
            else next((r for r in KNOWN_ROUTES if path.startswith(r)), "other")
        )
        started = time.perf_counter()
        status = 500

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            metrics.observe(route, status, time.perf_counter() - started)
