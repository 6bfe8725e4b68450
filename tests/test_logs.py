"""What the API logs: expected errors at INFO without a traceback, unexpected ones at ERROR with
one, and never the document's literals or the variables — a password above all."""

from __future__ import annotations

import logging

import httpx
import pytest

from streamify.services import Services
from tests.documents import sign_up

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


def test_the_access_log_shows_no_query_string() -> None:
    from streamify.web.access_log import WithoutQueryString

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f'/graphql?query={{video(id:"{SECRET}"){{id}}}}', "1.1", 200),
        None,
    )
    assert WithoutQueryString().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /graphql?… HTTP/1.1" 200'
