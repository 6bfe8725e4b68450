"""What the API logs: expected errors at INFO without a traceback, unexpected ones at ERROR with
one, and never the document's literals or the variables — a password above all; one access
line per request, without its query string; every line with the request's id."""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any

import httpx
import pytest

from streamify.app import create_app
from streamify.infra.request_ids import RequestIdFilter
from streamify.services import Services
from streamify.web.access_log import AccessLog
from tests.documents import sign_up
from tests.servers import with_state

SECRET = "hunter2-correct-horse-battery"
PIN = "31415926535897"


async def test_a_wrong_password_leaves_no_trace_in_the_logs(
    services: Services, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    account = await sign_up(client)
    email = account["viewer"]["email"]
    caplog.set_level(logging.DEBUG)
    fields = "{ accessToken }"
    literal = f'mutation Login {{ logIn(email: "{email}", password: "{SECRET}") {fields} }}'
    variables = f"mutation($e: String!, $p: String!) {{ logIn(email: $e, password: $p) {fields} }}"
    # A number where a string belongs: graphql-core's message quotes the literal.
    bad_type = f'mutation {{ logIn(email: "{email}", password: {PIN}) {fields} }}'
    broken = f'mutation {{ logIn(email: "{email}", password: "{SECRET}" {fields} }}'
    for body in (
        {"query": literal},
        {"query": variables, "variables": {"e": email, "p": SECRET}},
        {"query": bad_type},
        {"query": broken},
        {"query": "{ noSuchField }", "variables": {"p": SECRET}},
    ):
        response = await client.post("/graphql", json=body)
        assert response.status_code in (200, 400)
        assert "errors" in response.json()
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in caplog.records
    )
    assert SECRET not in logged and PIN not in logged
    unauthenticated = [r for r in caplog.records if "UNAUTHENTICATED" in r.getMessage()]
    assert unauthenticated and all(r.levelno == logging.INFO for r in unauthenticated)
    assert all(r.exc_info is None for r in unauthenticated)
    assert any("operation Login" in r.getMessage() for r in unauthenticated)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_unexpected_errors_are_logged_with_a_traceback_but_no_document(
    services: Services,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streamify.resolvers import videos

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(videos, "video_by_id", broken)
    caplog.set_level(logging.DEBUG)
    query = f'query Peek {{ video(id: "{SECRET}") {{ id }} }}'
    body = (await client.post("/graphql", json={"query": query})).json()
    assert body["errors"][0]["message"] == "Unexpected error."
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "unexpected RuntimeError at video in operation Peek" in record.getMessage()
    assert record.exc_info is not None
    assert SECRET not in record.getMessage() and SECRET not in (record.exc_text or "")


async def _access_lines(
    services: Services, *requests: tuple[str, dict[str, str]], peer: str = "127.0.0.1"
) -> tuple[list[dict[str, Any]], list[httpx.Response]]:
    """Send GETs to an app whose access log writes into a pipe; its lines and the responses."""
    read_end, write_end = os.pipe()
    log = AccessLog(write_end)
    app = with_state(create_app(services.settings, access_log=log), services)
    responses = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(peer, 5000)), base_url="http://api"
    ) as http:
        for url, headers in requests:
            responses.append(await http.get(url, headers=headers))
    await log.flush()
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        lines = [json.loads(line) for line in pipe.read().splitlines()]
    return lines, responses


async def test_the_access_log_is_one_json_line_per_request_without_query_strings(
    services: Services,
) -> None:
    url = f'/graphql?query={{video(id:"{SECRET}"){{id}}}}'
    [line], [response] = await _access_lines(services, (url, {}))
    assert SECRET not in json.dumps(line)
    assert line["method"] == "GET" and line["path"] == "/graphql"
    assert line["status"] == response.status_code and line["bytes"] == len(response.content)
    assert line["request_id"] == response.headers["x-request-id"] and line["ms"] > 0
    assert line["client"] == "127.0.0.1"


async def test_request_ids_and_forwarded_clients_are_believed_only_from_trusted_proxies(
    services: Services,
) -> None:
    forwarded = {"x-request-id": "edge-42", "x-forwarded-for": "198.51.100.7"}
    # From the trusted proxy (127.0.0.1 by default): its id and its client are taken.
    lines, responses = await _access_lines(
        services, ("/healthz", forwarded), ("/healthz", {"x-request-id": "bad id\r\nX: 1"})
    )
    assert [line["request_id"] for line in lines[:1]] == ["edge-42"]
    assert responses[0].headers["x-request-id"] == "edge-42"
    assert lines[0]["client"] == "198.51.100.7"
    # A malformed id is replaced by one of ours.
    assert lines[1]["request_id"] != "bad id" and " " not in lines[1]["request_id"]
    # From anyone else: neither.
    lines, responses = await _access_lines(services, ("/healthz", forwarded), peer="203.0.113.9")
    assert lines[0]["request_id"] != "edge-42" and lines[0]["client"] == "203.0.113.9"
    assert responses[0].headers["x-request-id"] == lines[0]["request_id"]


async def test_error_logs_name_the_request_that_caused_them(
    services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from streamify.resolvers import videos

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(videos, "video_by_id", broken)
    caplog.handler.addFilter(RequestIdFilter())
    app = with_state(create_app(services.settings, access_log=None), services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as http:
        response = await http.post(
            "/graphql",
            json={"query": f'{{ video(id: "{uuid.uuid4()}") {{ id }} }}'},
            headers={"x-request-id": "trace-me-7"},
        )
    assert response.headers["x-request-id"] == "trace-me-7"
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.request_id == "trace-me-7"  # type: ignore[attr-defined]
