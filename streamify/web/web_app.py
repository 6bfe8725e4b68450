"""The reference web app (frontend/app), built at install time into static/app and served
here: index.html at every path the app routes (history routing), its hashed assets under
/app/. Nothing it loads comes from the internet."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

from streamify.infra.settings import Settings
from streamify.web.context import services_of

ASSETS = Path(__file__).parent / "static" / "app"
INDEX = ASSETS / "index.html"
FAVICON = ASSETS / "favicon.svg"
# The app's own paths (frontend/app/src/main.ts); any other path stays a 404.
PAGES = (
    "/",
    "/trending",
    "/login",
    "/signup",
    "/library",
    "/upload",
    "/videos/{id}",
    "/videos/{id}/processing",
)
NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Streamify</title></head>
<body><p>The web app was not built. Run <code>./scripts/system-deps.sh app</code> (it needs
npm) and reload. The API is at <a href="/graphql">/graphql</a>.</p></body></html>
"""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    """The page runs only its own scripts and talks only to this API, the media CDN and the
    S3 endpoint its upload parts go to. Styles may be inline: Uppy and the player set them."""
    media = _origin(settings.cdn_base_url)
    s3 = (
        _origin(settings.s3_endpoint_url) if settings.s3_endpoint_url else "https://*.amazonaws.com"
    )
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' data: blob: {media}",
            f"media-src 'self' blob: {media}",
            f"connect-src 'self' {media} {s3}",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def page(request: Request) -> Response:
    if not INDEX.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503)
    settings = services_of(request).settings
    headers = {
        # Always revalidated: it names the current hashed bundles.
        "cache-control": "no-cache",
        "content-security-policy": content_security_policy(settings),
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
    }
    return FileResponse(INDEX, headers=headers)


def favicon(request: Request) -> Response:
    """The site's icon, for the app's pages and GraphiQL's alike."""
    if not FAVICON.is_file():
        return Response(status_code=404)
    return FileResponse(
        FAVICON, media_type="image/svg+xml", headers={"cache-control": "public, max-age=86400"}
    )


class HashedAssets(StaticFiles):
    """Bundles carry their content hash in their names: cache them for good."""

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = "public, max-age=31536000, immutable"
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path in ("", "index.html"):
            return page(Request(scope))
        return await super().get_response(path, scope)


def routes() -> list[BaseRoute]:
    return [
        *(Route(path, page, methods=["GET", "HEAD"]) for path in PAGES),
        Route("/favicon.svg", favicon, methods=["GET", "HEAD"]),
        Mount("/app", HashedAssets(directory=ASSETS, check_dir=False)),
    ]
