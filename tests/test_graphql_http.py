"""/graphql as the GraphQL-over-HTTP spec says: media types, status codes, parameters, GET and
POST, and malformed requests answered with 4xx, never 5xx."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import httpx
import pytest

from streamify.services import Services
from tests.helpers import VIDEO_QUERY, insert_user, insert_video, token_for

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
LEAKS = ("Traceback", "asyncpg", "redis.", 'File "', "botocore", "/streamify/", "SELECT ")


async def post(
    client: httpx.AsyncClient, body: Any, *, accept: str | None = GRAPHQL_RESPONSE, **headers: str
) -> httpx.Response:
    sent = {"content-type": "application/json", **headers}
    if accept is not None:
        sent["accept"] = accept
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post("/graphql", content=content, headers=sent)


def media_of(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0]


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (JSON, JSON),
        (None, JSON),
        ("*/*", JSON),
        (f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", GRAPHQL_RESPONSE),
        (f"{JSON}, {GRAPHQL_RESPONSE};q=0.5", JSON),
        (f"{GRAPHQL_RESPONSE};charset=utf-8", GRAPHQL_RESPONSE),
    ],
)
async def test_the_answer_follows_accept(
    client: httpx.AsyncClient, accept: str | None, media: str
) -> None:
    response = await post(client, {"query": "{ viewer { id } }"}, accept=accept)
    assert response.status_code == 200
    assert media_of(response) == media
    assert response.json() == {"data": {"viewer": None}}


async def test_a_client_that_accepts_neither_gets_406(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": "{ viewer { id } }"}, accept="text/xml")
    assert response.status_code == 406


@pytest.mark.parametrize(
    ("content_type", "status"),
    [("", 415), ("text/plain", 415), ("application/x-www-form-urlencoded", 415)],
)
async def test_post_needs_json(client: httpx.AsyncClient, content_type: str, status: int) -> None:
    response = await client.post(
        "/graphql",
        content=b'{"query": "{ viewer { id } }"}',
        headers={"content-type": content_type, "accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == status
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    charset = await client.post(
        "/graphql",
        content=b'{"query": "{ viewer { id } }"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b'"query"',
        b"null",
        b"\xff\xfe{}",
        json.dumps({"query": 1}).encode(),
        json.dumps({"query": "{ viewer { id } }", "variables": "x"}).encode(),
        json.dumps({"query": "{ viewer { id } }", "extensions": "x"}).encode(),
        json.dumps({"query": "{ viewer { id } }", "operationName": 3}).encode(),
        json.dumps({"variables": {}}).encode(),
        json.dumps({"query": ""}).encode(),
        b'{"query": "{ viewer { id } }", "variables": {"a": ' + b"[" * 3000 + b"]" * 3000 + b"}}",
        b"[" * 100_000,
    ],
)
@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
async def test_requests_that_are_not_well_formed_answer_400(
    client: httpx.AsyncClient, body: bytes, accept: str
) -> None:
    response = await post(client, body, accept=accept)
    assert response.status_code == 400, response.text
    assert "data" not in response.json()


async def test_null_and_foreign_entries_are_accepted(client: httpx.AsyncClient) -> None:
    body = {
        "query": "{ viewer { id } }",
        "variables": None,
        "operationName": None,
        "extensions": {"tracing": True, "clientLibrary": {"name": "urql"}},
    }
    response = await post(client, body)
    assert response.status_code == 200 and response.json() == {"data": {"viewer": None}}
    empty = await post(client, {**body, "extensions": None})
    assert empty.status_code == 200


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("{ viewer { id ", {}, "GRAPHQL_PARSE_FAILED"),
        ("{ noSuchField }", {}, "GRAPHQL_VALIDATION_FAILED"),
        ("query($id: ID!) { video(id: $id) { id } }", {}, "BAD_USER_INPUT"),
        ("query($n: Int) { videos(first: $n) { edges { cursor } } }", {"n": "x"}, "BAD_USER_INPUT"),
    ],
)
async def test_documents_that_do_not_run_answer_400_in_the_new_media_type(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], code: str
) -> None:
    payload = {"query": query, "variables": variables}
    strict = await post(client, payload, accept=GRAPHQL_RESPONSE)
    assert strict.status_code == 400
    assert "data" not in strict.json()
    assert strict.json()["errors"][0]["extensions"]["code"] == code
    legacy = await post(client, payload, accept=JSON)
    assert legacy.status_code == 200
    assert "data" not in legacy.json()


async def test_field_errors_answer_200_with_data(
    services: Services, client: httpx.AsyncClient
) -> None:
    response = await post(client, {"query": '{ video(id: "not-a-uuid") { id } }'})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"video": None}
    assert body["errors"][0]["path"] == ["video"]
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_get_runs_queries_only(services: Services, client: httpx.AsyncClient) -> None:
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner, title="Over GET")
    found = await client.get(
        "/graphql",
        params={"query": VIDEO_QUERY, "variables": json.dumps({"id": str(video)})},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert found.status_code == 200 and media_of(found) == GRAPHQL_RESPONSE
    assert found.json()["data"]["video"]["title"] == "Over GET"
    mutation = await client.get(
        "/graphql",
        params={"query": "mutation { logOut }"},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert mutation.status_code == 405 and mutation.headers["allow"] == "POST"
    for method in ("PUT", "PATCH", "DELETE"):
        other = await client.request(method, "/graphql", headers={"accept": JSON})
        assert other.status_code == 405 and other.headers["allow"] == "GET, POST"
    token = token_for(services.settings, owner)
    named = await post(
        client,
        {"query": "query A { viewer { id } } query B { viewer { id } }", "operationName": "C"},
        authorization=f"Bearer {token}",
    )
    assert named.status_code == 400
    subscription = await post(
        client, {"query": 'subscription { videoProcessing(videoId: "x") { status } }'}
    )
    assert subscription.status_code == 400


def malformed_requests(count: int) -> list[dict[str, Any]]:
    """Bad JSON, deep JSON, wrong shapes, invalid UTF-8, odd methods and content types."""
    rng = random.Random(20261125)
    shapes: list[bytes] = [
        b"",
        b"{",
        b"}{",
        b"[1,2",
        b"nul",
        b'{"query": "\\ud800"}',
        b"\x80\x81\x82",
        b"\xef\xbb\xbf{}",
        b'{"query": {"a": 1}}',
        b'{"query": ["{ viewer { id } }"]}',
        b'{"query": "{ viewer { id } }", "variables": [1]}',
        b'{"query": "{ viewer { id } }", "variables": 1}',
        b'{"query": "{ viewer { id } }", "extensions": [{}]}',
        b'{"query": "{ viewer { id } }", "extensions": {"persistedQuery": "x"}}',
        b'{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "zz"}}}',
        b'{"query": null}',
        b"1e999999",
        b"-",
        b'{"query": "{ viewer { id } }", "variables": {"a": 1e99999}}',
    ]
    requests: list[dict[str, Any]] = []
    for i in range(count):
        kind = i % 6
        if kind == 0:
            body = rng.choice(shapes)
        elif kind == 1:
            depth = rng.randint(500, 20_000)
            opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
            where = rng.choice(["body", "variables", "extensions"])
            nested = opener * depth + b"1" + closer * depth
            body = {
                "body": nested,
                "variables": b'{"query": "{ viewer { id } }", "variables": {"v": ' + nested + b"}}",
                "extensions": b'{"query": "{ viewer { id } }", "extensions": {"e": '
                + nested
                + b"}}",
            }[where]
        elif kind == 2:
            body = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
        elif kind == 3:
            body = json.dumps(
                rng.choice([[], 1, "x", None, True, {"query": 1}, {"variables": {}}])
            ).encode()
        elif kind == 4:
            body = b'{"query": "' + bytes(rng.randrange(256) for _ in range(40)) + b'"}'
        else:
            body = b'{"query": "{ viewer { id } }"}'
        method = rng.choice(["POST"] * 6 + ["PUT", "PATCH", "DELETE", "GET"])
        content_type = rng.choice(
            [JSON] * 5
            + ["text/plain", "", "application/graphql", "multipart/form-data; boundary=x"]
        )
        accept = rng.choice([GRAPHQL_RESPONSE, JSON, "*/*", "text/html", "image/png", ""])
        requests.append(
            {"method": method, "body": body, "content_type": content_type, "accept": accept}
        )
    return requests


async def test_two_thousand_malformed_requests_get_4xx_and_leak_nothing(
    client: httpx.AsyncClient,
) -> None:
    statuses: dict[int, int] = {}
    for request in malformed_requests(2000):
        headers = {"content-type": request["content_type"], "accept": request["accept"]}
        if request["method"] == "GET":
            response = await client.get(
                "/graphql",
                params={"query": request["body"].decode("latin-1")[:200]},
                headers=headers,
            )
        else:
            response = await client.request(
                request["method"], "/graphql", content=request["body"], headers=headers
            )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (request, response.text)
        assert not any(leak in response.text for leak in LEAKS), response.text
    assert sum(statuses.values()) == 2000
    # Well-formed ones among them run (200); the rest are refused for what is wrong with them.
    assert set(statuses) == {200, 400, 405, 406, 415}, statuses


UPLOAD = (
    'mutation { createUpload(input: {filename: "a.mp4", contentType: "video/mp4",'
    " sizeBytes: %s}) { id } }"
)


@pytest.mark.parametrize(
    ("document", "variables", "argument"),
    [
        (UPLOAD % "99999999999999999999", {}, "createUpload(input).sizeBytes"),
        (UPLOAD % "1e400", {}, "createUpload(input).sizeBytes"),
        ('mutation { logIn(email: "a\\u0000@b.cd", password: "x") { accessToken } }', {}, None),
        (
            'mutation($t: String) { updateVideo(id: "x", input: {title: $t}) { id } }',
            {"t": "a\x00b"},
            "$t",
        ),
        ("query($a: String) { viewer { id } }", {"a": "x" * 20_000}, "$a"),
        ('{ video(id: "' + "x" * 20_000 + '") { id } }', {}, "video(id)"),
    ],
)
async def test_bad_values_are_the_clients_error_naming_the_argument(
    services: Services,
    client: httpx.AsyncClient,
    document: str,
    variables: dict[str, Any],
    argument: str | None,
) -> None:
    user = await insert_user(services.db.pool)
    token = token_for(services.settings, user)
    response = await post(
        client, {"query": document, "variables": variables}, authorization=f"Bearer {token}"
    )
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == (argument or "logIn(email)")
    assert error["message"] != "Unexpected error."


@pytest.mark.parametrize(
    "document",
    [
        "{ " + "a " * 500_000 + "}",
        '{ video(id: "' + "x" * 1_000_000 + '") { id } }',
        "# " + "x" * 1_000_000 + "\n{ viewer { id } }",
        "{" + "... on Query {" * 100_000,
        "query {" + " ".join(f"f{i}: viewer {{ id }}" for i in range(60_000)) + "}",
    ],
    ids=["many-fields", "long-string", "long-comment", "deep-inline", "many-aliases"],
)
async def test_any_document_up_to_the_body_limit_is_answered_fast(
    client: httpx.AsyncClient, document: str
) -> None:
    body = json.dumps({"query": document}).encode()[: 1024 * 1024 - 1]
    if not body.endswith(b"}"):
        body = json.dumps({"query": document[: 1024 * 1024 - 100]}).encode()
    timings = []  # the best of three, as in test_query_budget
    for _ in range(3):
        started = time.perf_counter()
        response = await post(client, body)
        timings.append(time.perf_counter() - started)
    elapsed = min(timings)
    assert response.status_code in (200, 400), response.text[:300]
    assert elapsed < 0.1, f"{elapsed * 1000:.0f} ms"
