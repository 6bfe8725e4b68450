"""A local S3-compatible server for `streamify dev` and the tests: moto's server (S3 with
AWS-format bucket notifications to its SQS), plus the one header a browser uploader needs.

moto answers CORS preflights from the bucket's CORS rules but does not send
`Access-Control-Expose-Headers` on the PUT itself, so a browser could not read a part's ETag;
this wrapper adds it. Run: python -m streamify.infra.s3_server --port N
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

StartResponse = Callable[..., Any]


def expose_etag(app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> Any:
    def wrapped(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if not any(name.lower() == "access-control-expose-headers" for name, _ in headers):
                headers.append(("Access-Control-Expose-Headers", "ETag"))
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, expose_etag(app), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
