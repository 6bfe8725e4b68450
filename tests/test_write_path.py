"""Writes invalidate: in this process, in another process sharing Redis, and against the
stale-fill race."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from streamify.app import create_app
from streamify.domain import Video
from streamify.infra.cache.namespaces import VIDEOS
from streamify.infra.settings import Settings
from streamify.infra.sql import videos as sql
from streamify.names import source_key
from streamify.services import Services, open_services
from tests.helpers import (
    LIST_QUERY,
    UPDATE_MUTATION,
    VIDEO_QUERY,
    count_statements,
    gql,
    insert_runs,
    insert_user,
    insert_video,
    redis_raw,
    token_for,
)
from tests.servers import api_process, with_state

# The cache tier, auth, rate limits and subscriptions promise the same on a Redis Cluster.
pytestmark = pytest.mark.both_redis


async def _title(client: httpx.AsyncClient, video_id: uuid.UUID) -> str:
    body = await gql(client, VIDEO_QUERY, {"id": str(video_id)})
    title: str = body["data"]["video"]["title"]
    return title


async def test_update_is_read_back_at_once_in_the_same_process(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    video_id = await insert_video(services.db.pool, owner, title="Before")
    assert await _title(client, video_id) == "Before"
    body = await gql(
        client,
        UPDATE_MUTATION,
        {"id": str(video_id), "input": {"title": "  After  ", "tags": ["Cats", "cats", "fun"]}},
        token=token_for(services.settings, owner),
    )
    assert "errors" not in body, body
    assert body["data"]["updateVideo"]["title"] == "After"
    assert body["data"]["updateVideo"]["tags"] == ["cats", "fun"]
    assert await _title(client, video_id) == "After"
    version = await services.db.pool.fetchval("SELECT version FROM videos WHERE id=$1", video_id)
    assert version == 2


async def test_visibility_change_drops_cached_listings(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    video_id = await insert_video(services.db.pool, owner)
    listed = await gql(client, LIST_QUERY, {"first": 5})
    assert [e["node"]["id"] for e in listed["data"]["videos"]["edges"]] == [str(video_id)]
    await gql(
        client,
        UPDATE_MUTATION,
        {"id": str(video_id), "input": {"visibility": "PRIVATE"}},
        token=token_for(services.settings, owner),
    )
    listed = await gql(client, LIST_QUERY, {"first": 5})
    assert listed["data"]["videos"]["edges"] == []
    assert await gql(client, VIDEO_QUERY, {"id": str(video_id)}) == {"data": {"video": None}}


async def test_update_rules(services: Services, client: httpx.AsyncClient) -> None:
    owner = await insert_user(services.db.pool)
    other = await insert_user(services.db.pool, "Mallory")
    video_id = await insert_video(services.db.pool, owner, title="Mine")
    cases = [
        (None, {"title": "x"}, "UNAUTHENTICATED"),
        (token_for(services.settings, other), {"title": "stolen"}, "FORBIDDEN"),
        (token_for(services.settings, owner), {}, "BAD_USER_INPUT"),
        (token_for(services.settings, owner), {"title": "   "}, "BAD_USER_INPUT"),
        (token_for(services.settings, owner), {"title": "x" * 201}, "BAD_USER_INPUT"),
        (
            token_for(services.settings, owner),
            {"tags": ["t"] * 5 + [str(i) for i in range(30)]},
            "BAD_USER_INPUT",
        ),
        ("forged.token.value", {"title": "x"}, "UNAUTHENTICATED"),
        (token_for(services.settings, owner, ttl_seconds=-10), {"title": "x"}, "UNAUTHENTICATED"),
    ]
    for token, patch, code in cases:
        body = await gql(
            client, UPDATE_MUTATION, {"id": str(video_id), "input": patch}, token=token
        )
        assert body["errors"][0]["extensions"]["code"] == code, (patch, body)
    missing = await gql(
        client,
        UPDATE_MUTATION,
        {"id": str(uuid.uuid4()), "input": {"title": "x"}},
        token=token_for(services.settings, owner),
    )
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    row = await services.db.pool.fetchrow("SELECT title, version FROM videos WHERE id=$1", video_id)
    assert row is not None and (row["title"], row["version"]) == ("Mine", 1)


@pytest.fixture
async def second_process(settings: Settings) -> AsyncIterator[str]:
    """Its L1 TTL is long, so only the broadcast drop can make it see an update quickly."""
    async with api_process(settings, STREAMIFY_CACHE_L1_TTL_SECONDS="120") as base:
        yield base


async def test_update_drops_the_l1_of_another_process(
    services: Services, client: httpx.AsyncClient, second_process: str
) -> None:
    owner = await insert_user(services.db.pool)
    video_id = await insert_video(services.db.pool, owner, title="Before")
    async with httpx.AsyncClient(base_url=second_process) as other:
        assert await _title(other, video_id) == "Before"  # now in its L1 for 120 s
        await gql(
            client,
            UPDATE_MUTATION,
            {"id": str(video_id), "input": {"title": "After"}},
            token=token_for(services.settings, owner),
        )
        deadline = time.monotonic() + 2
        while (title := await _title(other, video_id)) != "After" and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert title == "After"


async def test_a_late_fill_of_an_old_row_never_lands(services: Services) -> None:
    """Reader (this tier) misses and reads version 1; a writer in another process updates and
    invalidates; only then does the reader fill. Neither Redis nor L1 may keep version 1."""
    owner = await insert_user(services.db.pool)
    video_id = await insert_video(services.db.pool, owner, title="Old")
    read_done, proceed = asyncio.Event(), asyncio.Event()

    async def slow_fetch(ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, Video]]:
        rows = {v.id: (v.version, v) for v in await sql.videos_by_ids(services.db.pool, ids)}
        read_done.set()
        await proceed.wait()
        return rows

    reader = asyncio.create_task(services.cache.get_many(VIDEOS, [video_id], slow_fetch))
    await read_done.wait()

    async with open_services(services.settings, background_jobs=False) as writer_process:
        app = with_state(create_app(writer_process.settings), writer_process)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://writer"
        ) as writer:
            body = await gql(
                writer,
                UPDATE_MUTATION,
                {"id": str(video_id), "input": {"title": "New"}},
                token=token_for(services.settings, owner),
            )
            assert body["data"]["updateVideo"]["title"] == "New"
    key = services.cache.key(VIDEOS, video_id)
    deadline = time.monotonic() + 2
    while services.cache.l1_tombstones.get(key) != 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)  # the writer's broadcast reaching the reader's process

    proceed.set()
    [stale] = await reader
    assert stale is not None and stale.title == "Old"  # that request saw the row it read

    raw = await redis_raw(services.redis, key)
    assert raw == b"t2:"
    assert key not in services.cache.l1
    fresh = await services.cache.get_many(
        VIDEOS,
        [video_id],
        lambda ids: _fetch(services, ids),
    )
    assert fresh[0] is not None and (fresh[0].title, fresh[0].version) == ("New", 2)
    assert (await redis_raw(services.redis, key)).startswith(b"v2:")


async def _fetch(services: Services, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, Video]]:
    return {v.id: (v.version, v) for v in await sql.videos_by_ids(services.db.pool, ids)}


async def test_warm_reads_after_update_cost_one_refill(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    video_id = await insert_video(services.db.pool, owner)
    await _title(client, video_id)
    await gql(
        client,
        UPDATE_MUTATION,
        {"id": str(video_id), "input": {"title": "B"}},
        token=token_for(services.settings, owner),
    )
    async with count_statements(services.db) as counted:
        titles = await asyncio.gather(*(_title(client, video_id) for _ in range(50)))
    assert set(titles) == {"B"}
    assert counted.statements <= 1


RETRY = "mutation($id: ID!) { retryProcessing(videoId: $id) { id status } }"


async def test_an_owner_retries_a_failed_video_within_its_budget(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    other = await insert_user(services.db.pool)
    token = token_for(services.settings, owner)
    failed = await insert_video(services.db.pool, owner, status="FAILED")
    await services.storage.client.put_object(
        Bucket=services.storage.raw_bucket, Key=source_key(failed), Body=b"a source"
    )

    def code(body: dict[str, Any]) -> str:
        return str(body["errors"][0]["extensions"]["code"])

    theirs = await gql(
        client, RETRY, {"id": str(failed)}, token=token_for(services.settings, other)
    )
    assert code(theirs) == "NOT_FOUND"  # a FAILED video is its owner's alone
    again = await gql(client, RETRY, {"id": str(failed)}, token=token)
    assert again["data"]["retryProcessing"] == {"id": str(failed), "status": "UPLOADED"}
    runs = await services.db.pool.fetchval(
        "SELECT count(*) FROM s3_events WHERE video_id = $1", failed
    )
    assert runs == 1
    assert code(await gql(client, RETRY, {"id": str(failed)}, token=token)) == "CONFLICT"

    spent = await insert_video(services.db.pool, owner, status="FAILED")
    await insert_runs(services.db.pool, spent, services.settings.processing_max_attempts)
    refused = await gql(client, RETRY, {"id": str(spent)}, token=token)
    assert code(refused) == "CONFLICT" and "the most allowed" in refused["errors"][0]["message"]
    gone = await insert_video(services.db.pool, owner, status="FAILED")
    lost = await gql(client, RETRY, {"id": str(gone)}, token=token)
    assert code(lost) == "CONFLICT" and "upload is gone" in lost["errors"][0]["message"]
