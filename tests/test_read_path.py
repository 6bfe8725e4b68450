"""The read path against real PostgreSQL and Redis: batching, cache hits, single-flight."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from streamify.devtools.seed import seed
from streamify.services import Services
from tests.helpers import (
    LIST_QUERY,
    VIDEO_QUERY,
    FakeClock,
    count_statements,
    gql,
    insert_runs,
    insert_user,
    insert_video,
)

# The cache tier, auth, rate limits and subscriptions promise the same on a Redis Cluster.
pytestmark = pytest.mark.both_redis


async def _seed(services: Services, videos: int) -> None:
    await seed(services.db.pool, videos=videos, users=7)


@pytest.mark.parametrize("first", [5, 50])
async def test_list_page_runs_one_statement_per_entity_type(
    services: Services, client: httpx.AsyncClient, first: int
) -> None:
    await _seed(services, 60)
    async with count_statements(services.db) as cold:
        body = await gql(client, LIST_QUERY, {"first": first})
    assert "errors" not in body, body
    edges = body["data"]["videos"]["edges"]
    assert len(edges) == first
    assert all(e["node"]["owner"]["displayName"].startswith("Demo creator") for e in edges)
    assert all(len(e["node"]["renditions"]) >= 3 for e in edges)
    # page of videos, their owners, their renditions: whatever the page size
    assert cold.statements == 3, [q[:60] for q in services.db.statements.recent]

    async with count_statements(services.db) as warm:
        again = await gql(client, LIST_QUERY, {"first": first})
    assert again == body
    assert warm.statements == 0


async def test_cached_reads_expire_after_their_ttl(
    services: Services, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    services.cache.settings = services.settings.model_copy(
        update={
            "cache_ttl_seconds": 60,
            "cache_list_ttl_seconds": 30,
            "cache_l1_ttl_seconds": 5,
            "cache_ttl_jitter": 0.0,
        }
    )
    await _seed(services, 10)
    await gql(client, LIST_QUERY, {"first": 10})
    async with count_statements(services.db) as warm:
        await gql(client, LIST_QUERY, {"first": 10})
    assert warm.statements == 0
    # Redis expires every entry of the read by itself: each carries its namespace's TTL.
    keys = [k async for k in services.redis.scan_iter(f"{services.settings.cache_key_prefix}*")]
    ttls = {k.decode().split(":")[1]: await services.redis.pttl(k) for k in keys}
    assert 0 < ttls["video"] <= 60_000 and 0 < ttls["user"] <= 60_000
    assert 0 < ttls["renditions"] <= 60_000 and 0 < ttls["videopage"] <= 30_000
    # Past those TTLs Redis holds none of them, and past L1's TTL this process forgets them.
    await services.redis.delete(*[k for k in keys if b":gen:" not in k])
    clock.advance(4)
    async with count_statements(services.db) as still_in_l1:
        await gql(client, LIST_QUERY, {"first": 10})
    assert still_in_l1.statements == 0
    clock.advance(2)
    async with count_statements(services.db) as expired:
        await gql(client, LIST_QUERY, {"first": 10})
    assert expired.statements == 3


async def test_pages_follow_stable_cursors(services: Services, client: httpx.AsyncClient) -> None:
    await _seed(services, 25)
    seen: list[str] = []
    after = None
    while True:
        body = await gql(client, LIST_QUERY, {"first": 10, "after": after})
        page = body["data"]["videos"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 25
    created = [
        await services.db.pool.fetchval("SELECT created_at FROM videos WHERE id=$1", uuid.UUID(i))
        for i in seen
    ]
    assert created == sorted(created, reverse=True)


async def test_five_hundred_concurrent_requests_for_one_cold_video_run_one_statement(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    video_id = await insert_video(services.db.pool, owner, renditions=())
    query = f'{{ video(id: "{video_id}") {{ id title }} }}'
    async with count_statements(services.db) as counted:
        bodies = await asyncio.gather(*(gql(client, query) for _ in range(500)))
    assert all(b == {"data": {"video": {"id": str(video_id), "title": "A video"}}} for b in bodies)
    assert counted.statements == 1
    assert services.cache.stats["video", "miss"] == 1


async def test_unknown_id_is_null_and_cached_as_negative(
    services: Services, client: httpx.AsyncClient
) -> None:
    missing = str(uuid.uuid4())
    async with count_statements(services.db) as first:
        body = await gql(client, VIDEO_QUERY, {"id": missing})
    assert body == {"data": {"video": None}}
    assert first.statements == 1
    services.cache.clear_l1()  # the negative entry must come from Redis, not just L1
    async with count_statements(services.db) as second:
        body = await gql(client, VIDEO_QUERY, {"id": missing})
    assert body == {"data": {"video": None}}
    assert second.statements == 0


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", "1234", "' OR 1=1 --"])
async def test_malformed_id_is_a_clear_error(client: httpx.AsyncClient, bad_id: str) -> None:
    body = await gql(client, VIDEO_QUERY, {"id": bad_id})
    assert body["data"] == {"video": None}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "not a valid id" in error["message"]


async def test_private_video_is_hidden_from_others_even_when_cached(
    services: Services, client: httpx.AsyncClient
) -> None:
    from tests.helpers import token_for

    owner = await insert_user(services.db.pool)
    video_id = await insert_video(services.db.pool, owner, visibility="PRIVATE")
    as_owner = await gql(
        client, VIDEO_QUERY, {"id": str(video_id)}, token=token_for(services.settings, owner)
    )
    assert as_owner["data"]["video"]["id"] == str(video_id)
    anonymous = await gql(client, VIDEO_QUERY, {"id": str(video_id)})
    assert anonymous == {"data": {"video": None}}
    listing = await gql(client, LIST_QUERY, {"first": 10})
    assert listing["data"]["videos"]["edges"] == []


async def test_page_size_and_cursor_are_validated(client: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"first": 0}, "first must be between 1 and"),
        ({"first": 101}, "first must be between 1 and"),
        ({"first": 5, "after": "garbage!"}, "not a cursor"),
        ({"ownerId": "nope"}, "ownerId"),
    ]
    for variables, needle in cases:
        body = await gql(client, LIST_QUERY, variables)
        [error] = body["errors"]
        assert needle in error["message"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_invalid_documents_get_clear_errors(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ video(id: 5) { nope } }")
    messages = " ".join(e["message"] for e in body["errors"])
    assert "nope" in messages
    response = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    body = await gql(client, VIDEO_QUERY, {"id": 17})
    assert body["errors"]


async def test_internal_errors_are_masked(services: Services, client: httpx.AsyncClient) -> None:
    owner = await insert_user(services.db.pool)
    video_id = await insert_video(services.db.pool, owner)
    await services.db.pool.execute("ALTER TABLE renditions RENAME TO renditions_gone")
    try:
        body = await gql(client, f'{{ video(id: "{video_id}") {{ renditions {{ height }} }} }}')
    finally:
        await services.db.pool.execute("ALTER TABLE renditions_gone RENAME TO renditions")
    [error] = body["errors"]
    assert error["message"] == "Unexpected error."
    assert "renditions" not in str(error.get("extensions", ""))


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}}


async def test_graphiql_is_served_to_browsers(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_an_owner_reads_why_a_video_failed_and_how_often_it_ran(
    services: Services, client: httpx.AsyncClient
) -> None:
    from tests.helpers import token_for

    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner, status="FAILED")
    await services.db.pool.execute(
        "UPDATE videos SET failure_reason = 'The video is 8.0 h long; at most 4.0 h is accepted.'"
        " WHERE id = $1",
        video,
    )
    await insert_runs(services.db.pool, video, 2)
    ready = await insert_video(services.db.pool, owner)
    query = "query($id: ID!) { video(id: $id) { status failureReason processingAttempts } }"
    token = token_for(services.settings, owner)
    failed = (await gql(client, query, {"id": str(video)}, token=token))["data"]["video"]
    assert failed == {
        "status": "FAILED",
        "failureReason": "The video is 8.0 h long; at most 4.0 h is accepted.",
        "processingAttempts": 2,
    }
    fine = (await gql(client, query, {"id": str(ready)}))["data"]["video"]
    assert fine == {"status": "READY", "failureReason": None, "processingAttempts": 0}
