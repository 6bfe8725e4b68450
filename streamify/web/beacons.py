"""POST /beacons: players' playback events, one or a JSON array of at most 50, as
`application/json` or as the `text/plain` body `navigator.sendBeacon` sends (no CORS
preflight). Answers 204 whatever became of the events (a 400 for a body that is not a beacon,
a 415 for another content type, a 429 for an address sending too many)."""

from __future__ import annotations

from uuid import UUID

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from streamify.infra.client_address import limit_subject
from streamify.infra.viewing.events import MAX_BEACON_BYTES, BadBeacon, decode
from streamify.resolvers.beacons import take_beacon
from streamify.services import Services
from streamify.web.context import authenticate, services_of

ACCEPTED_TYPES = ("application/json", "text/plain")


async def beacons(request: Request) -> Response:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in ACCEPTED_TYPES:
        return PlainTextResponse("Send application/json or text/plain.", status_code=415)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BEACON_BYTES:
            return PlainTextResponse(
                f"A beacon is at most {MAX_BEACON_BYTES} bytes.", status_code=413
            )
    try:
        raw = decode(bytes(body))
    except BadBeacon as exc:
        return PlainTextResponse(str(exc), status_code=400)
    services = services_of(request)
    viewer_id = await viewer_of(request, services)
    client = request.client
    outcome = await take_beacon(
        services.viewing,
        services.cache,
        services.db,
        raw,
        viewer_id=viewer_id,
        address=limit_subject(client.host) if client else "unknown",
        user_agent=request.headers.get("user-agent", ""),
    )
    metrics = services.metrics
    for name, count in vars(outcome).items():
        metrics.beacons(name, count)
    if outcome.address_rate:
        return PlainTextResponse(
            "Too many playback events from this address.",
            status_code=429,
            headers={"retry-after": "1"},
        )
    return Response(status_code=204)


async def viewer_of(request: Request, services: Services) -> UUID | None:
    """Who sent it, when it carries credentials (an owner's own views of a PRIVATE video
    count); anonymous otherwise, refused credentials included."""
    names = {name for name, _ in request.scope["headers"]}
    if b"authorization" not in names and b"cookie" not in names:
        return None
    loaders = services.loaders_factory(services.db, services.cache)
    viewer, _ = await authenticate(request, services, loaders)
    return viewer.user_id if viewer is not None else None
