"""Cross-origin rules, answered inside the request layer: the rules of Starlette's
CORSMiddleware for what we configure (listed origins or "*", no credentials), with every
header that does not depend on the request encoded once, so a request without an `Origin`
pays one header appended to its response and nothing else."""

from __future__ import annotations

from collections.abc import Collection

Header = tuple[bytes, bytes]

# What browsers may always send (the Fetch standard's CORS-safelisted request headers), spelled
# as Starlette's middleware lists them.
SAFELISTED = ("Accept", "Accept-Language", "Content-Language", "Content-Type")
VARY = b"vary"
PREFLIGHT_VARY = (
    b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
    b"Access-Control-Request-Private-Network"
)


class CorsPolicy:
    def __init__(
        self,
        *,
        origins: Collection[str],
        methods: Collection[str],
        headers: Collection[str],
        expose: Collection[str],
        max_age: int,
    ) -> None:
        self.any_origin = "*" in origins
        self.origins = frozenset(origins)
        self.methods = frozenset(methods)
        allowed = sorted({*SAFELISTED, *headers})
        self.headers = frozenset(h.lower() for h in allowed)
        self._preflight: list[Header] = [
            (VARY, PREFLIGHT_VARY),
            (b"access-control-allow-methods", ", ".join(methods).encode()),
            (b"access-control-max-age", str(max_age).encode()),
            (b"access-control-allow-headers", ", ".join(allowed).encode()),
        ]
        if self.any_origin:
            self._preflight.append((b"access-control-allow-origin", b"*"))
        self._simple: list[Header] = []
        if self.any_origin:
            self._simple.append((b"access-control-allow-origin", b"*"))
        if expose:
            self._simple.append((b"access-control-expose-headers", ", ".join(expose).encode()))

    def allows(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    def preflight(
        self, origin: str, method: str, requested_headers: str | None, private_network: bool
    ) -> tuple[int, list[Header], bytes]:
        """The answer to an OPTIONS request that asks whether `method` may follow: status,
        headers, body (400 naming what is refused)."""
        headers = list(self._preflight)
        failures = []
        if not self.allows(origin):
            failures.append("origin")
        elif not self.any_origin:
            headers.append((b"access-control-allow-origin", origin.encode()))
        if method not in self.methods:
            failures.append("method")
        if requested_headers is not None and any(
            h.strip() not in self.headers for h in requested_headers.lower().split(",")
        ):
            failures.append("headers")
        if private_network:
            failures.append("private-network")
        if failures:
            return 400, headers, ("Disallowed CORS " + ", ".join(failures)).encode()
        return 200, headers, b"OK"

    def response_headers(self, origin: str | None, headers: list[Header]) -> list[Header]:
        """A response's headers with the cross-origin ones for a request from `origin` (None:
        no Origin header) and `Origin` added to its `Vary`."""
        headers = list(headers)
        if origin is not None:
            headers += self._simple
            if not self.any_origin and origin in self.origins:
                headers.append((b"access-control-allow-origin", origin.encode()))
        for index, (name, value) in enumerate(headers):
            if name.lower() == VARY:
                headers[index] = (VARY, value + b", Origin")
                return headers
        headers.append((VARY, b"Origin"))
        return headers
