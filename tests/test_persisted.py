"""Automatic persisted queries over GET and POST, and the whole-response cache for anonymous
GET queries: revalidated by entity versions, never stale after an update, never shared."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

import httpx
import pytest

from streamify.infra.settings import Settings
from streamify.services import Services
from tests.documents import LOG_IN, LOG_OUT, ORIGIN, PASSWORD, SIGN_UP, sign_up
from tests.helpers import (
    LIST_QUERY,
    UPDATE_MUTATION,
    VIDEO_QUERY,
    count_statements,
    insert_user,
    insert_video,
    token_for,
)
from tests.servers import api_process

# The cache tier, auth, rate limits and subscriptions promise the same on a Redis Cluster.
pytestmark = pytest.mark.both_redis

DIGEST = hashlib.sha256(VIDEO_QUERY.encode()).hexdigest()
EXTENSIONS = json.dumps({"persistedQuery": {"version": 1, "sha256Hash": DIGEST}})


def params(video_id: object, *, with_query: bool = False) -> dict[str, str]:
    found = {"extensions": EXTENSIONS, "variables": json.dumps({"id": str(video_id)})}
    if with_query:
        found["query"] = VIDEO_QUERY
    return found


async def get(
    client: httpx.AsyncClient,
    video_id: object,
    *,
    with_query: bool = False,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.get(
        "/graphql", params=params(video_id, with_query=with_query), headers=headers or {}
    )


async def test_persisted_query_round_trip(services: Services, client: httpx.AsyncClient) -> None:
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner, title="Hello")
    unknown = await get(client, video)
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    registered = await get(client, video, with_query=True)
    assert registered.json()["data"]["video"]["title"] == "Hello"
    hashed = await get(client, video)
    assert hashed.json()["data"]["video"]["title"] == "Hello"
    assert hashed.headers["cache-control"] == "public, max-age=0, must-revalidate"

    wrong = await client.get("/graphql", params={**params(video), "query": "{ viewer { id } }"})
    assert wrong.status_code == 400
    mutation = "mutation { logOut }"
    mutation_hash = hashlib.sha256(mutation.encode()).hexdigest()
    over_get = await client.get(
        "/graphql",
        params={
            "query": mutation,
            "extensions": json.dumps(
                {"persistedQuery": {"version": 1, "sha256Hash": mutation_hash}}
            ),
        },
    )
    assert over_get.status_code == 405
    bad = await client.get("/graphql", params={"extensions": "{nope"})
    assert bad.status_code == 400

    post = await client.post(
        "/graphql",
        json={
            "variables": {"id": str(video)},
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": DIGEST}},
        },
    )
    assert post.json()["data"]["video"]["title"] == "Hello"


async def test_anonymous_responses_are_cached_and_revalidated(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner, title="Before")
    first = await get(client, video, with_query=True)
    l1_hits = services.cache.stats["video", "l1_hit"]
    async with count_statements(services.db) as counted:
        again = await get(client, video)
    assert again.content == first.content and counted.statements == 0
    assert services.cache.stats["video", "l1_hit"] == l1_hits  # served without executing
    etag = again.headers["etag"]
    not_modified = await get(client, video, headers={"if-none-match": etag})
    assert not_modified.status_code == 304 and not not_modified.content

    await client.post(
        "/graphql",
        json={
            "query": UPDATE_MUTATION,
            "variables": {"id": str(video), "input": {"title": "After"}},
        },
        headers={"authorization": f"Bearer {token_for(services.settings, owner)}"},
    )
    after = await get(client, video)
    assert after.json()["data"]["video"]["title"] == "After"
    assert after.headers["etag"] != etag
    assert (await get(client, video, headers={"if-none-match": etag})).status_code == 200


async def test_anonymous_post_queries_share_the_cache_and_mutations_never_do(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner, title="Before")
    query = {"query": VIDEO_QUERY, "variables": {"id": str(video)}}
    first = await client.post("/graphql", json=query)
    assert first.json()["data"]["video"]["title"] == "Before"
    assert "etag" not in first.headers  # a POST answer is not for HTTP caches
    l1_hits = services.cache.stats["video", "l1_hit"]
    async with count_statements(services.db) as counted:
        again = await client.post("/graphql", json=query)
    assert again.content == first.content and counted.statements == 0
    assert services.cache.stats["video", "l1_hit"] == l1_hits  # answered without executing
    # The same query over GET is answered from the entry the POST made, with its ETag.
    as_get = await client.get(
        "/graphql", params={"query": VIDEO_QUERY, "variables": json.dumps({"id": str(video)})}
    )
    assert as_get.content == first.content and as_get.headers["etag"].startswith('"')
    assert services.cache.stats["video", "l1_hit"] == l1_hits

    token = token_for(services.settings, owner)
    signed_in = {"authorization": f"Bearer {token}"}
    renamed = await client.post(
        "/graphql",
        json={"query": UPDATE_MUTATION, "variables": {"id": str(video), "input": {"title": "B"}}},
        headers=signed_in,
    )
    assert renamed.json()["data"]["updateVideo"]["title"] == "B"
    # An anonymous mutation is never answered from the cache: the same one again runs again.
    sign_up_twice = {
        "query": SIGN_UP,
        "variables": {"email": f"{owner.hex[:8]}@example.com", "password": PASSWORD, "name": "B"},
    }
    assert "errors" not in (await client.post("/graphql", json=sign_up_twice)).json()
    conflict = (await client.post("/graphql", json=sign_up_twice)).json()
    assert conflict["errors"][0]["extensions"]["code"] == "CONFLICT", conflict
    # The kept answer was read from the video as it was: the update made it stale at once.
    after = await client.post("/graphql", json=query)
    assert after.json()["data"]["video"]["title"] == "B"
    hidden = await client.post(
        "/graphql",
        json={
            "query": UPDATE_MUTATION,
            "variables": {"id": str(video), "input": {"visibility": "PRIVATE"}},
        },
        headers=signed_in,
    )
    assert "?" in hidden.json()["data"]["updateVideo"]["manifest"]["url"]
    assert (await client.post("/graphql", json=query)).json() == {"data": {"video": None}}
    # What strangers were told is never the answer to a signed-in viewer.
    owned = await client.post("/graphql", json=query, headers=signed_in)
    assert owned.json()["data"]["video"]["title"] == "B"


async def test_a_kept_page_is_stale_once_a_video_on_it_changes(
    services: Services, client: httpx.AsyncClient
) -> None:
    """The first answer of a page reads its videos with the page itself (one statement):
    those reads count for revalidation like any other."""
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner, title="Before")
    page = {"query": LIST_QUERY, "variables": json.dumps({"first": 5})}
    cold = await client.get("/graphql", params=page)
    assert cold.json()["data"]["videos"]["edges"][0]["node"]["title"] == "Before"
    await client.post(
        "/graphql",
        json={"query": UPDATE_MUTATION, "variables": {"id": str(video), "input": {"title": "B"}}},
        headers={"authorization": f"Bearer {token_for(services.settings, owner)}"},
    )
    for answer in (
        await client.get("/graphql", params=page),
        await client.post("/graphql", json={"query": LIST_QUERY, "variables": {"first": 5}}),
    ):
        assert answer.json()["data"]["videos"]["edges"][0]["node"]["title"] == "B"


async def test_responses_are_never_shared_with_other_viewers(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    private = await insert_video(services.db.pool, owner, visibility="PRIVATE", title="Secret")
    as_owner = await get(
        client,
        private,
        with_query=True,
        headers={"authorization": f"Bearer {token_for(services.settings, owner)}"},
    )
    assert as_owner.json()["data"]["video"]["title"] == "Secret"
    assert as_owner.headers["cache-control"] == "private, no-store"
    anonymous = await get(client, private)
    assert anonymous.json() == {"data": {"video": None}}


async def test_an_update_in_one_process_refreshes_another_process_at_once(
    settings: Settings, services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner, title="Before")
    async with (
        api_process(settings, STREAMIFY_CACHE_L1_TTL_SECONDS="120") as base,
        httpx.AsyncClient(base_url=base) as other,
    ):
        first = await get(other, video, with_query=True)
        assert first.json()["data"]["video"]["title"] == "Before"
        assert (await get(other, video)).content == first.content  # cached there now
        await client.post(
            "/graphql",
            json={
                "query": UPDATE_MUTATION,
                "variables": {"id": str(video), "input": {"title": "After"}},
            },
            headers={"authorization": f"Bearer {token_for(services.settings, owner)}"},
        )
        deadline = time.monotonic() + 2
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = (await get(other, video)).json()
            if body["data"]["video"]["title"] == "After":
                break
            await asyncio.sleep(0.02)
        assert body["data"]["video"]["title"] == "After"


async def test_persisted_log_in_and_log_out_set_and_clear_the_cookie(
    client: httpx.AsyncClient,
) -> None:
    account = await sign_up(client)
    email = account["viewer"]["email"]

    async def persisted(query: str, variables: dict[str, Any]) -> httpx.Response:
        digest = hashlib.sha256(query.encode()).hexdigest()
        extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
        payload = {"query": query, "variables": variables, "extensions": extensions}
        return await client.post("/graphql", json=payload, headers={"origin": ORIGIN})

    logged_in = await persisted(LOG_IN, {"email": email, "password": PASSWORD})
    assert logged_in.json()["data"]["logIn"]["viewer"]["id"]
    cookie = logged_in.headers["set-cookie"]
    assert cookie.startswith("sf_session=") and "HttpOnly" in cookie
    logged_out = await persisted(LOG_OUT, {"token": None})
    assert logged_out.json()["data"]["logOut"] is True
    assert 'sf_session=""' in logged_out.headers["set-cookie"]


async def test_only_valid_documents_within_the_bound_are_stored(
    services: Services, client: httpx.AsyncClient
) -> None:
    async def register(query: str) -> tuple[httpx.Response, str]:
        digest = hashlib.sha256(query.encode()).hexdigest()
        extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
        answer = await client.post("/graphql", json={"query": query, "extensions": extensions})
        return answer, digest

    async def stored(digest: str) -> bool:
        return bool(await services.redis.exists(services.names.persisted_query(digest)))

    invalid, invalid_digest = await register("{ noSuchField }")
    assert invalid.json()["errors"]
    padded = "# " + "x" * (services.settings.persisted_query_max_bytes) + "\n{ viewer { id } }"
    oversized, oversized_digest = await register(padded)
    assert oversized.json() == {"data": {"viewer": None}}
    # 2^5 spreads of an aliased field: over the alias budget.
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, 6))
    bomb = f"query {{ ...F5 }} {chain} fragment F0 on Query {{ a: viewer {{ id }} }}"
    expensive, expensive_digest = await register(bomb)
    assert expensive.json()["errors"], expensive.json()
    valid, valid_digest = await register("{ viewer { id } }")
    assert valid.json() == {"data": {"viewer": None}}

    assert not await stored(invalid_digest)
    assert not await stored(oversized_digest)
    assert not await stored(expensive_digest)
    assert await stored(valid_digest)
    ttl = await services.redis.ttl(services.names.persisted_query(valid_digest))
    assert 0 < ttl <= services.settings.persisted_query_ttl_seconds
