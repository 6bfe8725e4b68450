"""The one layer every HTTP request passes before any route (issue 26), in a single pure-ASGI
pass over its headers: the client as the trusted proxies name it, the request's id, the
cross-origin rules, the body limit, and, when it ends, its metrics and access-log line.

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
from streamify.web import body_limit
from streamify.web.access_log import AccessLog, AccessRecord
from streamify.web.cors import CorsPolicy

KNOWN_ROUTES = ("/graphql", "/s3/", "/hooks/", "/beacons", "/healthz", "/readyz", "/metrics")
REQUEST_ID = b"x-request-id"
PLAIN_TEXT = (b"content-type", b"text/plain; charset=utf-8")


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


class _Request:
    """What the layer reads from a request's headers, in one pass."""

    __slots__ = ("cors_headers", "cors_method", "length", "offered_id", "origin", "private")

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.origin: str | None = None
        self.offered_id: bytes | None = None
        self.length: bytes | None = None
        self.cors_method: str | None = None
        self.cors_headers: str | None = None
        self.private = False
        for name, value in headers:
            if name == b"origin":
                self.origin = value.decode("latin-1")
            elif name == REQUEST_ID:
                self.offered_id = value
            elif name == b"content-length":
                self.length = value
            elif name.startswith(b"access-control-request-"):
                kind = name[23:]
                if kind == b"method":
                    self.cors_method = value.decode("latin-1")
                elif kind == b"headers":
                    self.cors_headers = value.decode("latin-1")
                elif kind == b"private-network":
                    self.private = True


class RequestLayer:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Callable[[Scope], Metrics | None],
        access_log: AccessLog | None,
        forwarded_allow_ips: str,
        cors: CorsPolicy,
        max_body_bytes: int,
    ) -> None:
        # uvicorn's own handling of X-Forwarded-For/-Proto, inside this layer, so this layer
        # still sees the peer itself when it decides whether to believe an X-Request-Id.
        self.app = cast(
            ASGIApp, ProxyHeadersMiddleware(cast(Any, app), trusted_hosts=forwarded_allow_ips)
        )
        self.trusted = TrustedProxies(forwarded_allow_ips)
        self.metrics = metrics
        self.access_log = access_log
        self.cors = cors
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request = _Request(scope["headers"])
        request_id = self._request_id(scope, request.offered_id)
        token = request_ids.current.set(request_id)
        id_header = (REQUEST_ID, request_id.encode())
        method: str = scope["method"]
        preflight = (
            request.origin is not None and method == "OPTIONS" and request.cors_method is not None
        )
        status = 500
        sent = 0
        cors, origin = self.cors, request.origin

        async def recording(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", [])
                if not preflight:
                    headers = cors.response_headers(origin, headers)
                message["headers"] = [*headers, id_header]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            if preflight:
                await self._preflight(request, recording)
            elif method in body_limit.BODYLESS:
                await self.app(scope, receive, recording)
            else:
                await self._limited(scope, receive, recording, request.length)
        finally:
            request_ids.current.reset(token)
            self._record(scope, status, sent, time.perf_counter() - started, request_id)

    async def _preflight(self, request: _Request, send: Send) -> None:
        assert request.origin is not None and request.cors_method is not None
        status, headers, body = self.cors.preflight(
            request.origin, request.cors_method, request.cors_headers, request.private
        )
        headers = [*headers, PLAIN_TEXT, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _limited(
        self, scope: Scope, receive: Receive, send: Send, length: bytes | None
    ) -> None:
        limit = self.max_body_bytes
        if body_limit.declared_too_large(length, limit):
            await body_limit.refuse(send, limit)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, body_limit.counting(receive, limit), tracking)
        except body_limit.BodyTooLarge:
            if not started:
                await body_limit.refuse(send, limit)

    def _record(
        self, scope: Scope, status: int, sent: int, seconds: float, request_id: str
    ) -> None:
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

    def _request_id(self, scope: Scope, offered: bytes | None) -> str:
        if offered is not None:
            peer = scope.get("client")
            if peer is not None and peer[0] in self.trusted:
                text = offered.decode("latin-1")
                if request_ids.ACCEPTABLE.fullmatch(text):
                    return text
        return request_ids.new()


def _route(path: str) -> str:
    if path == "/graphql":
        return path
    return next((r for r in KNOWN_ROUTES if path.startswith(r)), "other")
