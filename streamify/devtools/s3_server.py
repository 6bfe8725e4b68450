"""A local S3-compatible server for `streamify dev` and the tests: moto's server (S3 with
AWS-format bucket notifications to its SQS), plus the one header a browser uploader needs.

moto answers CORS preflights from the bucket's CORS rules but does not send
`Access-Control-Expose-Headers` on the PUT itself, so a browser could not read a part's ETag;
this wrapper adds it. Run: python -m streamify.devtools.s3_server --port N
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

StartResponse = Callable[..., Any]


def expose_etag(
    app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]], public_bucket: str | None
) -> Any:
    public = f"/{public_bucket}/" if public_bucket else None

    def wrapped(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        anonymous_read = (
            public is not None
            and environ.get("REQUEST_METHOD") in ("GET", "HEAD")
            and environ.get("PATH_INFO", "").startswith(public)
            and not _signed(environ)
        )
        if anonymous_read:
            # An anonymous read, as a player makes of the CDN: moto picks the service from
            # the signature, so name S3 for it (moto does not check signatures).
            environ["HTTP_AUTHORIZATION"] = (
                "AWS4-HMAC-SHA256 Credential=anonymous/20260101/us-east-1/s3/aws4_request, "
                "SignedHeaders=host, Signature=0"
            )

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if not any(name.lower() == "access-control-expose-headers" for name, _ in headers):
                headers.append(("Access-Control-Expose-Headers", "ETag"))
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wrapped


def _signed(environ: dict[str, Any]) -> bool:
    return "HTTP_AUTHORIZATION" in environ or "X-Amz-" in environ.get("QUERY_STRING", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--public-bucket", help="a bucket anyone may read, like a CDN origin")
    args = parser.parse_args()
    app = expose_etag(DomainDispatcherApplication(create_backend_app), args.public_bucket)
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
