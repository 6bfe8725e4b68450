"""One benchmark server: `python -m bench.servers ROW --port N`, configured by STREAMIFY_* env.

Rows a, b, c, f and s are Streamify itself configured by the runner (s: Strawberry execution),
h is Streamify with a plain endpoint over the same loaders (bench/loader_endpoint.py); d and e are
the framework-only baselines of bench/ceiling.py. Every row runs as production does: one
uvicorn worker with uvloop and httptools."""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette

from bench.ceiling import ceiling_app, plain_app, static_loaders
from bench.loader_endpoint import loader_app
from streamify.app import create_app
from streamify.infra.settings import Settings


def app_for(row: str) -> Starlette:
    if row == "d":
        return create_app(Settings(), loaders_factory=static_loaders)
    if row == "g":
        return ceiling_app()
    if row == "e":
        return plain_app()
    if row == "h":
        return loader_app(Settings())
    return create_app(Settings())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("row", choices=list("abcdefgsh"))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app_for(args.row),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
