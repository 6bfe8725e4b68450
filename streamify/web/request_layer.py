"""The layer every HTTP request passes first, in one pure-ASGI pass: the client as the trusted
proxies name it, the request's id, its metrics and its access-log line.

The id comes from `X-Request-Id` when a trusted proxy sent it (and it is short and plain),
otherwise it is made here; it goes back in the response's `X-Request-Id`, into every log line
the request causes (`infra/request_ids`) and into the tag of any transcoding run it starts."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import Any, cast

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from streamify.infra import request_ids
from streamify.infra.metrics import Metrics
from streamify.web.access_log import AccessLog, AccessRecord

KNOWN_ROUTES = ("/graphql", "/s3/", "/hooks/", "/healthz", "/readyz", "/metrics")
REQUEST_ID = b"x-request-id"


class TrustedProxies:
    """`forwarded_allow_ips`: addresses and networks, comma-separated, or "*" for any peer."""

    def __init__(self, spec: str) -> None:
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        self.everyone = "*" in parts
        self.networks = []
        self.names = set()
        for part in parts:
            try:
                self.networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                self.names.add(part)  # a unix socket path, or a literal uvicorn compares

    def __contains__(self, host: str) -> bool:
        if self.everyone or host in self.names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


class RequestLayer:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Callable[[Scope], Metrics | None],
        access_log: AccessLog | None,
        forwarded_allow_ips: str,
    ) -> None:
        # uvicorn's own handling of X-Forwarded-For/-Proto, inside this layer, so this layer
        # still sees the peer itself when it decides whether to believe an X-Request-Id.
        self.app = cast(
            ASGIApp, ProxyHeadersMiddleware(cast(Any, app), trusted_hosts=forwarded_allow_ips)
        )
        self.trusted = TrustedProxies(forwarded_allow_ips)
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = self._request_id(scope)
        token = request_ids.current.set(request_id)
        status = 500
        sent = 0
        header = (REQUEST_ID, request_id.encode())

        async def recording(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            request_ids.current.reset(token)
            seconds = time.perf_counter() - started
            path: str = scope["path"]
            metrics = self.metrics(scope)
            if metrics is not None:
                metrics.observe(_route(path), status, seconds)
            if self.access_log is not None:
                client = scope.get("client")
                self.access_log.write(
                    AccessRecord(
                        time=time.time(),
                        method=scope["method"],
                        path=path,
                        status=status,
                        ms=round(seconds * 1000, 3),
                        bytes=sent,
                        request_id=request_id,
                        client=client[0] if client else "-",
                    )
                )

    def _request_id(self, scope: Scope) -> str:
        peer = scope.get("client")
        if peer is not None and peer[0] in self.trusted:
            for name, value in scope["headers"]:
                if name == REQUEST_ID:
                    offered: str = value.decode("latin-1")
                    if request_ids.ACCEPTABLE.match(offered):
                        return offered
                    break
        return request_ids.new()


def _route(path: str) -> str:
    if path == "/graphql":
        return path
    return next((r for r in KNOWN_ROUTES if path.startswith(r)), "other")
