"""The API's part of the media CDN (docs/media.md):

- `GET /cdn/authorize`: the dev and compose CDNs (nginx `auth_request`) ask it about every
  request, cached or not, with the original URI in `X-Original-URI`. 204 lets it through and
  says where to read the object (a presigned GET of the private bucket, in `X-Origin-Host` and
  `X-Origin-Path`); 403 refuses it, with no reason (the reason goes to the log only: it would
  tell a stranger whether a video exists). nginx's auth_request knows only 2xx, 401 and 403,
  so every refusal is a 403.
- `GET /cdn/signed/{…}.m3u8|.mpd|.vtt`: a signed video's playlists, DASH manifest and
  storyboard index, their URIs carrying the request's signature (the CDN sends those paths
  here; on CloudFront, a behavior with this API as origin and `/cdn` as origin path).

Both answer only the CDN: it sends the shared secret (`cdn_shared_secret`) in `X-CDN-Secret`
(nginx with proxy_set_header, CloudFront as a custom origin header); anyone else gets a bare
403, so no outsider learns the bucket's host, a presigned URL or whether a video exists."""

from __future__ import annotations

import hmac
import logging
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamify.domain import StreamifyError
from streamify.names import SIGNED_PREFIX
from streamify.resolvers.playback import MediaAccess, authorize_media, signed_text
from streamify.web.context import context_for
from streamify.web.errors import error_response

log = logging.getLogger(__name__)

CORS = {"access-control-allow-origin": "*"}


def from_the_cdn(request: Request) -> bool:
    sent = request.headers.get("x-cdn-secret", "")
    expected = request.state.services.settings.cdn_shared_secret
    return hmac.compare_digest(sent.encode(), expected.encode())


async def authorize(request: Request) -> Response:
    if not from_the_cdn(request):
        log.info("refused /cdn/authorize: not from the CDN")
        return Response(status_code=403)
    original = request.headers.get("x-original-uri", "")
    parts = urlsplit(original)
    params = dict(parse_qsl(parts.query))
    try:
        access = await authorize_media(await context_for(request), parts.path, params)
    except StreamifyError as exc:
        return error_response(exc)  # UNAVAILABLE: the CDN answers an error, never the media
    if access.key is None:
        log.info("media refused: %s (%s)", access.reason, parts.path)
        return Response(status_code=403)
    storage = request.state.services.storage
    origin = urlsplit(await storage.presign_media_get(access.key))
    return Response(
        status_code=204,
        headers={
            "x-origin-host": origin.netloc,
            "x-origin-path": f"{origin.path}?{origin.query}",
            "cache-control": "no-store",
        },
    )


async def signed_file(request: Request) -> Response:
    if not from_the_cdn(request):
        log.info("refused /cdn/signed: not from the CDN")
        return Response(status_code=403, headers=CORS)
    path = SIGNED_PREFIX + request.path_params["path"]
    params = dict(request.query_params)
    try:
        found = await signed_text(await context_for(request), path, params)
    except StreamifyError as exc:
        return error_response(exc)
    if isinstance(found, MediaAccess):
        log.info("signed file refused: %s (%s)", found.reason, path)
        return Response(status_code=found.status, headers=CORS)
    # Its text differs by signature only; the signature is the same for half a TTL. The
    # master and the MPD change as rungs and captions join: revalidated on every load.
    manifest = path.endswith(("/master.m3u8", ".mpd"))
    cache = "private, no-cache" if manifest else "private, max-age=10"
    headers = {"cache-control": cache, **CORS}
    return Response(found.body, media_type=found.media_type, headers=headers)


routes = [
    Route("/cdn/authorize", authorize, methods=["GET"]),
    Route("/cdn/signed/{path:path}", signed_file, methods=["GET"]),
]
