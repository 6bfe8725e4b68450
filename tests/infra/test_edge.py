"""The compose edge (deploy/nginx/edge.conf.template) with real nginx, in front of
`streamify serve --workers 2` and the local S3 server (issue 25): a browser's whole upload
goes through the one public origin, with part URLs signed for it; nothing else of S3 is
reachable there; WebSockets pass."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import websockets

from streamify.devtools.edge import local_edge
from streamify.devtools.local import free_port
from streamify.infra.settings import Settings
from streamify.services import Services
from tests.documents import COMPLETE, CREATE, SIGN, UPLOAD
from tests.helpers import insert_user, token_for
from tests.servers import api_process

pytestmark = pytest.mark.slow


@dataclass
class Edge:
    url: str
    token: str
    settings: Settings
    api_output: Path


@pytest.fixture
async def edge(settings: Settings, services: Services, tmp_path: Path) -> AsyncIterator[Edge]:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    assert settings.s3_endpoint_url is not None
    output = tmp_path / "api.log"
    async with api_process(
        settings,
        output=output,
        STREAMIFY_WORKERS="2",
        STREAMIFY_S3_PUBLIC_ENDPOINT_URL=public,
        STREAMIFY_ACCESS_LOG="true",
    ) as api:
        with local_edge(
            tmp_path / "edge",
            port=port,
            api=urlsplit(api).netloc,
            s3=urlsplit(settings.s3_endpoint_url).netloc,
            raw_bucket=settings.s3_raw_bucket,
        ) as url:
            user = await insert_user(services.db.pool)
            yield Edge(url, token_for(settings, user), settings, output)


async def _gql(http: httpx.AsyncClient, edge: Edge, query: str, variables: dict[str, Any]) -> Any:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {edge.token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def _create_upload(
    http: httpx.AsyncClient, edge: Edge, size: int, title: str
) -> dict[str, Any]:
    upload = {
        "filename": "clip.mp4",
        "contentType": "video/mp4",
        "sizeBytes": size,
        "title": title,
        "description": "",
    }
    created: dict[str, Any] = (await _gql(http, edge, CREATE, {"input": upload}))["createUpload"]
    return created


async def test_a_whole_upload_goes_through_the_public_origin(edge: Edge) -> None:
    source = bytes(range(256)) * 4096  # 1 MiB, one part
    async with httpx.AsyncClient(base_url=edge.url, timeout=30) as http:
        created = await _create_upload(http, edge, len(source), "Through the edge")
        signed = (await _gql(http, edge, SIGN, {"id": created["id"], "parts": [1]}))[
            "signUploadParts"
        ]
        url = signed[0]["url"]
        # Signed for the origin the browser is on, path style, in the raw bucket.
        assert url.startswith(f"{edge.url}/{edge.settings.s3_raw_bucket}/uploads/")
        put = await http.put(url, content=source)
        assert put.status_code == 200, put.text
        etag = put.headers["etag"].strip('"')
        # The signature covers the path: the URL of another key is refused by S3.
        forged = await http.put(url.replace("uploads/", "uploads/x"), content=source)
        assert forged.status_code == 403
        seen = (await _gql(http, edge, UPLOAD, {"id": created["id"]}))["upload"]
        assert seen["parts"] == [{"partNumber": 1, "sizeBytes": len(source), "etag": etag}]
        done = (
            await _gql(
                http,
                edge,
                COMPLETE,
                {"id": created["id"], "parts": [{"partNumber": 1, "etag": etag}]},
            )
        )["completeUpload"]
        assert done["status"] == "COMPLETED" and done["sizeBytes"] == len(source)
        # Only part uploads reach S3 here: no reading sources back, no listing, no deleting.
        key_url = url.split("?", 1)[0]
        for method in ("GET", "DELETE", "POST"):
            refused = await http.request(method, key_url)
            assert refused.status_code == 403, (method, refused.status_code)
        listing = await http.get(f"/{edge.settings.s3_raw_bucket}/")
        assert listing.status_code == 403


async def test_api_routes_and_subscriptions_pass_the_edge(edge: Edge) -> None:
    async with httpx.AsyncClient(base_url=edge.url) as http:
        assert (await http.get("/readyz")).status_code == 200
        viewer = await _gql(http, edge, "{ viewer { id } }", {})
        assert viewer["viewer"]["id"]
    ws_url = edge.url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(
        ws_url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {edge.token}"}}
            )
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"


async def test_a_client_chooses_neither_its_address_nor_its_request_id(edge: Edge) -> None:
    """Issue 34.5: the edge appended to the client's X-Forwarded-For and passed its
    X-Request-Id on, so per-address limits counted whatever address a client named and
    request ids in logs and run tags were the client's. Now the edge is the first hop."""
    forged = {"x-forwarded-for": "203.0.113.9", "x-request-id": "chosen-by-the-client"}
    async with httpx.AsyncClient(base_url=edge.url) as http:
        answer = await http.post("/graphql", json={"query": "{ __typename }"}, headers=forged)
    assert answer.status_code == 200
    request_id = answer.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), request_id  # nginx's $request_id
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(x) for x in edge.api_output.read_text().splitlines() if '"ms"' in x]
        seen = [x for x in lines if x.get("request_id") == request_id]
        if seen or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert [x["client"] for x in seen] == ["127.0.0.1"], lines[-3:]


async def test_a_part_upload_reaches_s3_without_the_clients_amz_headers(edge: Edge) -> None:
    """Issue 34.7: only the Host the signature covers and the body's own headers reach S3,
    so a client's `x-amz-copy-source` (UploadPartCopy with the server's credentials) or any
    other `x-amz-*` never does: the part is stored as the client's own bytes."""
    source = b"own bytes " * 1000
    async with httpx.AsyncClient(base_url=edge.url, timeout=30) as http:
        created = await _create_upload(http, edge, len(source), "Headers")
        signed = await _gql(http, edge, SIGN, {"id": created["id"], "parts": [1]})
        url = signed["signUploadParts"][0]["url"]
        hostile = {
            "x-amz-copy-source": f"/{edge.settings.s3_media_bucket}/anything",
            "x-amz-copy-source-range": "bytes=0-9",
            "x-amz-meta-injected": "yes",
            "x-amz-acl": "public-read",
        }
        put = await http.put(url, content=source, headers=hostile)
        assert put.status_code == 200, put.text
        seen = (await _gql(http, edge, UPLOAD, {"id": created["id"]}))["upload"]
        assert seen["parts"][0]["sizeBytes"] == len(source)
