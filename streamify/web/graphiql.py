"""The GraphiQL page of /graphql, with its assets built from frontend/graphiql (npm, at install
time) and served from the package: the page loads nothing from the internet."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

ASSETS = Path(__file__).parent / "static" / "graphiql"

PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Streamify · GraphiQL</title>
    <link rel="icon" href="/favicon.svg" type="image/svg+xml">
    <link rel="stylesheet" href="/graphiql/graphiql.css">
    <style>html, body, #graphiql { height: 100%; margin: 0; }</style>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <script src="/graphiql/graphiql.js"></script>
  </body>
</html>
"""

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Streamify · GraphiQL</title></head>
<body><p>GraphiQL's assets were not built. Run <code>./scripts/system-deps.sh graphiql</code>
(it needs npm) and reload.</p></body></html>
"""


def assets_built() -> bool:
    return (ASSETS / "graphiql.js").is_file() and (ASSETS / "graphiql.css").is_file()


def page() -> Response:
    if not assets_built():
        return HTMLResponse(NOT_BUILT, status_code=503)
    return HTMLResponse(PAGE, headers={"cache-control": "no-cache"})


def assets() -> StaticFiles:
    """The built bundle; absent until built (the page says so)."""
    return StaticFiles(directory=ASSETS, check_dir=False)
