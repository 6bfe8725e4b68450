"""Hostile input to /graphql: random and mutated documents, variables and bodies.
Nothing may produce a 5xx, an unmasked internal error, or a masked one (which would mean an
unexpected exception inside the server)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import settings as settings_
from hypothesis import strategies as st

from streamify.infra.settings import Settings
from streamify.services import Services
from tests.documents import ABORT, COMPLETE, CREATE, SIGN
from tests.helpers import (
    LIST_QUERY,
    UPDATE_MUTATION,
    VIDEO_QUERY,
    gql,
    insert_user,
    insert_video,
    token_for,
)
from tests.servers import api_process

KNOWN_CODES = {
    "BAD_USER_INPUT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "CONFLICT",
    "UNAVAILABLE",
    "RATE_LIMITED",
    "BAD_REQUEST",
    "PERSISTED_QUERY_NOT_FOUND",
    "QUERY_TOO_DEEP",
    "QUERY_TOO_MANY_ALIASES",
    "QUERY_TOO_COMPLEX",
    "FRAGMENT_CYCLE",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
}
LEAKS = ("Traceback", "asyncpg", "redis.", 'File "', "botocore", "/streamify/", "SELECT ")
SEEDS = [
    VIDEO_QUERY,
    LIST_QUERY,
    UPDATE_MUTATION,
    "{ viewer { id email } }",
    'mutation { logIn(email: "a@b.cd", password: "0123456789") { accessToken } }',
    'mutation { createUpload(input: {filename: "a.mp4", contentType: "video/mp4",'
    " sizeBytes: 10}) { id } }",
    "query($id: ID!) { upload(id: $id) { parts { etag } } }",
]
JSON_LEAVES = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=40)
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
VARIABLE_NAMES = st.sampled_from(["id", "first", "after", "ownerId", "status", "input", "email"])
VARIABLES = st.dictionaries(VARIABLE_NAMES, JSON, max_size=4) | JSON


@st.composite
def mutated_document(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        at = draw(st.integers(0, len(text) - 1))
        action = draw(st.sampled_from(["drop", "insert", "replace"]))
        junk = draw(st.text(alphabet='{}()[]$:!@"\\ ,.#0aZé\x00', min_size=1, max_size=3))
        if action == "drop":
            text = text[:at] + text[at + 1 :]
        elif action == "insert":
            text = text[:at] + junk + text[at:]
        else:
            text = text[:at] + junk + text[at + 1 :]
    return text


BODIES = st.one_of(
    st.builds(lambda q, v: {"query": q, "variables": v}, mutated_document(), VARIABLES),
    st.builds(lambda q, v: {"query": q, "variables": v}, st.sampled_from(SEEDS), VARIABLES),
    st.builds(lambda q: {"query": q}, st.text(max_size=200)),
    st.builds(lambda q, op: {"query": q, "operationName": op}, st.sampled_from(SEEDS), JSON),
    JSON.map(lambda value: value if not isinstance(value, dict) else {"query": value}),
)


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    text = response.text
    assert not any(leak in text for leak in LEAKS), text
    try:
        body: Any = response.json()
    except ValueError:
        return
    if isinstance(body, dict):
        for error in body.get("errors") or []:
            assert error["message"] != "Unexpected error.", (response.request.content, body)
            code = (error.get("extensions") or {}).get("code")
            assert code is None or code in KNOWN_CODES, error


FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=BODIES)
async def test_random_json_bodies(client: httpx.AsyncClient, body: Any) -> None:
    check(
        await client.post(
            "/graphql", content=json.dumps(body), headers={"content-type": "application/json"}
        )
    )


@FUZZ
@given(
    raw=st.binary(max_size=300),
    content_type=st.sampled_from(
        [
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/graphql",
            "",
        ]
    ),
)
async def test_random_raw_bodies(client: httpx.AsyncClient, raw: bytes, content_type: str) -> None:
    check(await client.post("/graphql", content=raw, headers={"content-type": content_type}))


@FUZZ
@given(query=mutated_document(), variables=st.text(max_size=60))
async def test_random_get_queries(client: httpx.AsyncClient, query: str, variables: str) -> None:
    check(
        await client.get(
            "/graphql",
            params={"query": query, "variables": variables},
            headers={"accept": "application/json"},
        )
    )


AUTHENTICATED_SEEDS = [
    UPDATE_MUTATION,
    "mutation($id: ID!) { deleteVideo(id: $id) }",
    "mutation($id: ID!) { retryProcessing(videoId: $id) { id status } }",
    CREATE,
    SIGN,
    COMPLETE,
    ABORT,
    "query($id: ID!) { upload(id: $id) { id status parts { partNumber etag } } }",
    "{ viewer { id email displayName } }",
    VIDEO_QUERY,
    LIST_QUERY,
    "mutation($token: String) { logOut(refreshToken: $token) }",
    "mutation($token: String!) { refreshToken(refreshToken: $token) { accessToken } }",
]


@st.composite
def authenticated_variables(draw: st.DrawFn, ids: list[str]) -> Any:
    """Variables aimed at the caller's own objects, mixed with hostile values."""
    own = st.sampled_from(ids)
    value = st.one_of(own, JSON)
    names = ["id", "input", "parts", "token", "first", "after", "ownerId"]
    chosen = draw(st.dictionaries(st.sampled_from(names), value, max_size=4))
    if draw(st.booleans()):
        chosen["input"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "title": st.text(max_size=30),
                    "tags": st.lists(st.text(max_size=10), max_size=3),
                    "visibility": st.sampled_from(["PUBLIC", "PRIVATE", "UNLISTED", "x"]),
                    "filename": st.text(max_size=20),
                    "contentType": st.sampled_from(["video/mp4", "text/html", ""]),
                    "sizeBytes": st.integers(-1, 2**45),
                    "partSizeBytes": st.integers(-1, 2**33),
                },
            )
        )
    return chosen


@pytest.mark.slow
async def test_authenticated_resolvers_through_a_real_server(
    settings: Settings, services: Services
) -> None:
    """Signed in, through `streamify serve` in its own process, with the rate limits out of the
    way so RATE_LIMITED cannot hide what the fuzz finds."""
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner)
    token = token_for(settings, owner)
    unlimited = {
        "STREAMIFY_RATE_LIMIT_LOGIN_PER_MINUTE": "1000000",
        "STREAMIFY_RATE_LIMIT_MUTATIONS_PER_MINUTE": "1000000",
        "STREAMIFY_RATE_LIMIT_PART_SIGNING_PER_MINUTE": "1000000",
        # Wrong passwords: a generated email repeated a few times would otherwise wait.
        "STREAMIFY_LOGIN_FREE_FAILURES": "1000000",
        "STREAMIFY_LOGIN_FAILURES_PER_EMAIL": "1000000",
    }
    async with api_process(settings, **unlimited) as base, httpx.AsyncClient(base_url=base) as http:
        created = await gql(
            http,
            CREATE,
            {
                "input": {
                    "filename": "a.mp4",
                    "contentType": "video/mp4",
                    "sizeBytes": 6 * 1024 * 1024,
                }
            },
            token=token,
        )
        ids = [str(video), created["data"]["createUpload"]["id"], str(uuid.uuid4())]
        examples: list[tuple[str, Any]] = []

        @settings_(
            max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(
            query=st.one_of(st.sampled_from(AUTHENTICATED_SEEDS), mutated_document()),
            variables=authenticated_variables(ids),
        )
        def collect(query: str, variables: Any) -> None:
            examples.append((query, variables))

        collect()
        for query, variables in examples:
            response = await http.post(
                "/graphql",
                content=json.dumps({"query": query, "variables": variables}),
                headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
            )
            check(response)
            assert "RATE_LIMITED" not in response.text, (query, variables)
    assert len(examples) == 200
