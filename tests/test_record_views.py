"""What a record shows every viewer is made once per record; what one viewer sees (signed
URLs) never is, and a change is a new record, so it shows at once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

from streamify.resolvers.record_views import RecordMemo
from streamify.services import Services
from tests.helpers import (
    LIST_QUERY,
    UPDATE_MUTATION,
    VIDEO_QUERY,
    gql,
    insert_user,
    insert_video,
    token_for,
)


@dataclass(frozen=True)
class Record:
    name: str


def test_a_memo_makes_one_value_per_record_and_forgets_the_oldest_first() -> None:
    memo: RecordMemo[Record] = RecordMemo(capacity=2)
    made: list[str] = []

    def make(record: Record) -> str:
        made.append(record.name)
        return record.name.upper()

    first, second, third = Record("a"), Record("b"), Record("c")
    assert memo.get(first, make) == "A"
    assert memo.get(first, make) == "A"
    # Equal but another object (a record read again): made again, never confused.
    assert memo.get(Record("a"), make) == "A"
    assert made == ["a", "a"]
    assert len(memo) == 2
    memo.get(second, make)
    memo.get(third, make)
    assert len(memo) == 2  # bounded: the oldest left
    memo.get(third, make)
    assert made == ["a", "a", "b", "c"]


async def test_a_public_video_is_made_once_and_a_change_shows_at_once(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    video_id = str(await insert_video(services.db.pool, owner, title="Before"))
    first = await gql(client, VIDEO_QUERY, {"id": video_id})
    page = await gql(client, LIST_QUERY, {"first": 5})
    assert page["data"]["videos"]["edges"][0]["node"] == first["data"]["video"]
    # Cold reads may each store the record anew (a page primes its videos); once L1 holds
    # it, every request is answered from the one view made for it.
    views = services.views.videos
    made = len(views)
    assert 1 <= made <= 2
    for _ in range(3):
        assert await gql(client, VIDEO_QUERY, {"id": video_id}) == first
        assert await gql(client, LIST_QUERY, {"first": 5}) == page
    assert len(views) == made
    assert len(services.views.cursors) == 1

    token = token_for(services.settings, owner)
    changed = await gql(
        client, UPDATE_MUTATION, {"id": video_id, "input": {"title": "After"}}, token=token
    )
    assert changed["data"]["updateVideo"]["title"] == "After"
    after = await gql(client, VIDEO_QUERY, {"id": video_id})
    assert after["data"]["video"]["title"] == "After"
    listed = await gql(client, LIST_QUERY, {"first": 5})
    assert listed["data"]["videos"]["edges"][0]["node"]["title"] == "After"


async def test_signed_urls_are_never_kept_and_a_video_made_private_is_gone_at_once(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    video_id = str(await insert_video(services.db.pool, owner))
    public = await gql(client, VIDEO_QUERY, {"id": video_id})
    assert "?" not in public["data"]["video"]["manifest"]["url"]
    assert len(services.views.videos) == 1

    token = token_for(services.settings, owner)
    hidden = await gql(
        client, UPDATE_MUTATION, {"id": video_id, "input": {"visibility": "PRIVATE"}}, token=token
    )
    signed = hidden["data"]["updateVideo"]["manifest"]["url"]
    assert "?" in signed  # signed for its owner
    # A stranger gets nothing at once, whatever view the public record had.
    for query, variables in ((VIDEO_QUERY, {"id": video_id}), (LIST_QUERY, {"first": 5})):
        body = await gql(client, query, variables)
        assert video_id not in str(body["data"]), body
    owned = await gql(client, VIDEO_QUERY, {"id": video_id}, token=token)
    assert owned["data"]["video"]["manifest"]["url"] == signed
    # The owner's signed answers were made for their requests: none was kept.
    assert len(services.views.videos) == 1
    assert (await gql(client, VIDEO_QUERY, {"id": str(uuid.uuid4())}))["data"]["video"] is None
