"""One benchmark server: `python -m bench.servers ROW --port N`, configured by STREAMIFY_* env.

Rows a, b, c, f, s and x are Streamify itself configured by the runner (s: Strawberry
execution, x: the response cache off), h is Streamify with a plain endpoint over the same
loaders (bench/loader_endpoint.py); d and e are the framework-only baselines of
bench/ceiling.py, and k its bare beacon endpoint (decode, 204). Every Streamify row runs
exactly as `streamify serve` does (one process, uvloop, httptools, the same logging, its access
log and middleware); the bare rows (e, g, k) run uvicorn with httptools and no access log."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from starlette.applications import Starlette

from bench.ceiling import bare_beacons_app, ceiling_app, plain_app, static_loaders
from bench.loader_endpoint import loader_app
from streamify.app import create_app
from streamify.cli import server_options, setup_logging
from streamify.infra.settings import Settings

BARE = "egk"


def app_for(row: str) -> Starlette:
    if row == "d":
        return create_app(Settings(), loaders_factory=static_loaders)
    if row == "g":
        return ceiling_app()
    if row == "e":
        return plain_app()
    if row == "k":
        return bare_beacons_app()
    if row == "h":
        return loader_app(Settings())
    return create_app(Settings())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("row", choices=list("abcdefgsxhk"))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    options: dict[str, Any]
    if args.row in BARE:
        options = {"http": "httptools", "log_level": "warning", "access_log": False}
    else:
        setup_logging()
        options = server_options(Settings())
    uvicorn.run(app_for(args.row), host="127.0.0.1", port=args.port, loop="uvloop", **options)


if __name__ == "__main__":
    main()
