"""The request layer answers cross-origin requests exactly as Starlette's CORSMiddleware did
with the same configuration (a differential test over preflights and simple requests), and
keeps the body limit it took over."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from streamify.web.cors import CorsPolicy
from streamify.web.request_layer import RequestLayer

ORIGINS = ["https://app.example", "http://localhost:5173"]
METHODS = ["GET", "POST", "DELETE", "OPTIONS"]
HEADERS = ["content-type", "authorization", "uppy-versions", "uppy-auth-token"]
COMPARED = (
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
    "access-control-expose-headers",
    "vary",
)


async def endpoint(request: Request) -> Response:
    body = await request.body()
    vary = {"vary": "accept"} if request.url.path == "/varied" else {}
    return PlainTextResponse(f"{request.method} {len(body)}", headers=vary)


def _apps(origins: list[str]) -> tuple[Starlette, Starlette]:
    routes = [Route(p, endpoint, methods=METHODS) for p in ("/plain", "/varied")]
    theirs = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=METHODS,
                allow_headers=HEADERS,
                expose_headers=["etag"],
                max_age=600,
            )
        ],
    )
    ours = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                RequestLayer,
                metrics=lambda scope: None,
                access_log=None,
                forwarded_allow_ips="127.0.0.1",
                cors=CorsPolicy(
                    origins=origins, methods=METHODS, headers=HEADERS, expose=["etag"], max_age=600
                ),
                max_body_bytes=1000,
            )
        ],
    )
    return theirs, ours


REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    (method, path, headers)
    for method, path, headers in itertools.product(
        ["GET", "POST", "OPTIONS"],
        ["/plain", "/varied"],
        [
            {},
            {"origin": "https://app.example"},
            {"origin": "https://evil.example"},
            {"origin": "https://app.example", "access-control-request-method": "POST"},
            {"origin": "https://app.example", "access-control-request-method": "PUT"},
            {"origin": "https://evil.example", "access-control-request-method": "GET"},
            {
                "origin": "http://localhost:5173",
                "access-control-request-method": "POST",
                "access-control-request-headers": "Content-Type, Authorization",
            },
            {
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "x-secret",
            },
            {
                "origin": "https://app.example",
                "access-control-request-method": "GET",
                "access-control-request-private-network": "true",
            },
        ],
    )
]


@pytest.mark.parametrize("origins", [ORIGINS, ["*"]], ids=["listed", "any"])
async def test_cross_origin_answers_match_starlettes(origins: list[str]) -> None:
    theirs, ours = _apps(origins)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=theirs), base_url="http://a") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=ours), base_url="http://a") as b,
    ):
        for method, path, headers in REQUESTS:
            expected = await a.request(method, path, headers=headers)
            got = await b.request(method, path, headers=headers)
            case = (method, path, headers)
            assert got.status_code == expected.status_code, case
            assert got.content == expected.content, case
            for name in COMPARED:
                assert got.headers.get(name) == expected.headers.get(name), (case, name)
            assert got.headers["x-request-id"]


async def test_bodies_over_the_limit_are_refused_before_the_app_reads_them() -> None:
    _, ours = _apps(ORIGINS)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ours), base_url="http://a"
    ) as http:
        assert (await http.post("/plain", content=b"x" * 1000)).text == "POST 1000"
        declared = await http.post("/plain", content=b"x" * 1001)
        assert declared.status_code == 413
        assert declared.json()["error"]["code"] == "BAD_USER_INPUT"

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(5):
                yield b"y" * 300

        streamed = await http.post("/plain", content=chunks())
        assert streamed.status_code == 413
        # A refused body still gets the cross-origin headers its origin is due.
        refused = await http.post(
            "/plain", content=b"x" * 2000, headers={"origin": "https://app.example"}
        )
        assert refused.status_code == 413
        assert refused.headers["access-control-allow-origin"] == "https://app.example"
