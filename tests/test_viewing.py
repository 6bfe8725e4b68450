"""The viewer side (issue 35): players' beacons counted in Redis shards, written behind to
PostgreSQL exactly once, shown as `Video.stats`, and lists by views and trending, with
visibility held on every path. Against real PostgreSQL and Redis (and the local cluster)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from streamify.app import create_app
from streamify.infra.settings import Settings
from streamify.infra.viewing import flusher as flusher_module
from streamify.services import Services, open_services
from tests.helpers import gql, insert_user, insert_video, token_for
from tests.servers import with_state

pytestmark = pytest.mark.both_redis

BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
STATS = """query($id: ID!) { video(id: $id) { stats { views uniqueViewers watchTimeSeconds } } }"""
OWNER_STATS = """query($id: ID!) { video(id: $id) { stats {
  views playbackQuality { startupTimeMsP50 startupTimeMsP95 rebufferRatio errorRate
                          renditions { height watchShare } }
  viewsByHour(hours: 3) { hour views watchTimeSeconds } } } }"""
LIST = """query($order: VideoOrder, $after: String, $first: Int) {
  videos(orderBy: $order, first: $first, after: $after) {
    totalCount edges { cursor node { id stats { views } } }
    pageInfo { hasNextPage endCursor } } }"""


@dataclass
class Viewing:
    services: Services
    http: httpx.AsyncClient
    owner: uuid.UUID
    token: str

    async def send(
        self,
        events: Any,
        *,
        agent: str = BROWSER,
        media: str = "application/json",
        token: str | None = None,
    ) -> httpx.Response:
        headers = {"content-type": media, "user-agent": agent}
        if token:
            headers["authorization"] = f"Bearer {token}"
        return await self.http.post("/beacons", content=json.dumps(events), headers=headers)

    async def flush(self) -> int:
        return await self.services.viewing.flusher.flush_all()

    async def stats(self, video: uuid.UUID, token: str | None = None) -> dict[str, Any]:
        self.services.viewing.reader.cache.clear()
        body = await gql(self.http, STATS, {"id": str(video)}, token=token)
        assert "errors" not in body, body
        found: dict[str, Any] = body["data"]["video"]["stats"]
        return found


@asynccontextmanager
async def viewing(settings: Settings, **overrides: Any) -> AsyncIterator[Viewing]:
    tuned = settings.model_copy(update={"stats_max_staleness_seconds": 0.5, **overrides})
    async with open_services(tuned, background_jobs=False) as opened:
        await opened.drop_listener_ready.wait()
        app = with_state(create_app(tuned), opened)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http:
            owner = await insert_user(opened.db.pool)
            yield Viewing(opened, http, owner, token_for(tuned, owner))


def event(video: uuid.UUID, session: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"videoId": str(video), "sessionId": session, "event": kind, **fields}


async def test_views_watch_time_and_unique_viewers_are_counted_then_flushed_exactly(
    settings: Settings, clean_db: None
) -> None:
    async with viewing(settings) as v:
        video = await insert_video(v.services.db.pool, v.owner)
        sessions = [f"session-{n:04d}" for n in range(40)]
        for session in sessions:
            start = event(video, session, "start", startupMs=350)
            answer = await v.send([start, event(video, session, "heartbeat", watchedSeconds=1)])
            assert answer.status_code == 204, answer.text
        # The same sessions starting again within the view window are not new views.
        await v.send([event(video, s, "start") for s in sessions[:5]])
        # Counted before any flush: the totals include what Redis still holds.
        before = await v.stats(video)
        assert before["views"] == 40 and before["uniqueViewers"] == 40
        assert before["watchTimeSeconds"] == pytest.approx(40.0)
        assert await v.flush() >= 1
        after = await v.stats(video)
        assert after == before
        stored = await v.services.db.pool.fetchrow(
            "SELECT views, watch_ms FROM video_stats WHERE video_id = $1", video
        )
        assert stored is not None and tuple(stored) == (40, 40_000)
        # No PostgreSQL statement ran for any beacon: the rows came from the flush.
        assert await v.flush() == 0


async def test_watch_time_is_clipped_to_what_can_have_elapsed(
    settings: Settings, clean_db: None
) -> None:
    async with viewing(settings) as v:
        video = await insert_video(v.services.db.pool, v.owner)
        await v.send(event(video, "clipped-session", "start"))
        # An hour claimed a moment after starting: at most the slack is accounted.
        await v.send(event(video, "clipped-session", "heartbeat", watchedSeconds=3600))
        await v.send(event(video, "clipped-session", "end", watchedSeconds=3600))
        stats = await v.stats(video)
        assert 0 < stats["watchTimeSeconds"] <= 3.0
        # A session never seen to start gets a first heartbeat's worth (12 s), no more.
        await v.send(event(video, "no-start-session", "heartbeat", watchedSeconds=60))
        stats = await v.stats(video)
        assert stats["watchTimeSeconds"] <= 3.0 + 14.0
        assert stats["views"] == 1


async def test_events_for_videos_the_caller_may_not_see_are_dropped_alike(
    settings: Settings, clean_db: None
) -> None:
    async with viewing(settings) as v:
        pool = v.services.db.pool
        private = await insert_video(pool, v.owner, visibility="PRIVATE")
        unlisted = await insert_video(pool, v.owner, visibility="UNLISTED")
        processing = await insert_video(pool, v.owner, status="PROCESSING", published=False)
        missing = uuid.uuid4()
        answers = []
        for video in (private, processing, missing):
            answers.append((await v.send(event(video, "anonymous-1", "start"))).status_code)
        # The same answer for a video that does not exist and one that may not be seen.
        assert answers == [204, 204, 204]
        await v.send(event(unlisted, "anonymous-1", "start"))  # by id: it plays, it counts
        await v.flush()
        views = dict(
            (r["video_id"], r["views"])
            for r in await pool.fetch("SELECT video_id, views FROM video_stats")
        )
        assert views.get(private, 0) == 0 and views.get(processing, 0) == 0
        assert views[unlisted] == 1 and missing not in views
        # Its owner's own views of a PRIVATE video count.
        await v.send(event(private, "owner-session", "start"), token=v.token)
        await v.flush()
        assert (
            await pool.fetchval("SELECT views FROM video_stats WHERE video_id = $1", private) == 1
        )
        assert _counted(v, "invisible") == 3


async def test_bad_bodies_bots_and_floods_are_bounded(settings: Settings, clean_db: None) -> None:
    async with viewing(settings, beacon_events_per_address_per_second=60) as v:
        video = await insert_video(v.services.db.pool, v.owner)
        ok = event(video, "bounded-session", "start")
        assert (await v.send(ok, media="text/plain;charset=UTF-8")).status_code == 204
        assert (await v.send(ok, media="application/xml")).status_code == 415
        garbage = await v.http.post(
            "/beacons", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert garbage.status_code == 400
        assert (await v.send([ok] * 51)).status_code == 400
        big = [event(video, "bounded-session", "heartbeat", pad="x" * 40_000)]
        assert (await v.send(big)).status_code == 413
        bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
        assert (await v.send(event(video, "a-bot-session", "start"), agent=bot)).status_code == 204
        # Out of range and malformed values are clipped or dropped, never stored as sent.
        odd = [
            event(video, "odd-session-1", "start", startupMs=-5),
            event(video, "odd-session-1", "heartbeat", watchedSeconds=float("1e308")),
            event("not-a-uuid", "odd-session-1", "start"),  # type: ignore[arg-type]
            event(video, "short", "start"),
            event(video, "odd-session-1", "launch"),
        ]
        assert (await v.send(odd)).status_code == 204
        # One address: 60 events a second in this process, then 429.
        flood = [event(video, f"flood-{n:05d}", "start") for n in range(50)]
        codes = [(await v.send(flood)).status_code for _ in range(3)]
        assert 429 in codes
        stats = await v.stats(video)
        assert stats["views"] <= 2 + 50  # the text/plain one, odd-session-1, one flood batch


async def test_a_crash_anywhere_in_a_flush_neither_loses_nor_doubles_a_count(
    settings: Settings, clean_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with viewing(settings, stats_shards=1) as v:
        pool = v.services.db.pool
        video = await insert_video(pool, v.owner)
        await v.send([event(video, f"crash-{n:03d}", "start") for n in range(10)])
        flusher = v.services.viewing.flusher
        names = v.services.names
        record = names.stats_shard(0) + "fl"
        # 1. A flusher claims the deltas and dies before applying them.
        monkeypatch.setattr(flusher_module, "LEASE_MS", 300)
        claimed = await flusher._claim(
            keys=[record, names.stats_shard(0) + "dirty"],
            args=[names.stats_shard(0), int(time.time() * 1000), 300, uuid.uuid4().hex, 500],
        )
        assert claimed
        # Meanwhile more events arrive; reads count the claimed record too.
        await v.send([event(video, f"crash-{n:03d}", "start") for n in range(10, 15)])
        assert (await v.stats(video))["views"] == 15
        # 2. Its lease runs out; another flusher takes the record over and applies it once.
        await asyncio.sleep(0.4)
        await flusher.flush_all()
        assert await pool.fetchval("SELECT views FROM video_stats WHERE video_id = $1", video) == 15
        # 3. A flusher that applied its record and died before deleting it: the record is taken
        # over, found applied, and deleted without adding again.
        await v.send([event(video, f"crash-{n:03d}", "start") for n in range(15, 20)])
        finish = flusher._finish
        calls: list[Any] = []

        async def dies_before_finishing(**kwargs: Any) -> Any:
            calls.append(kwargs)
            raise ConnectionError("the process died")

        monkeypatch.setattr(flusher, "_finish", dies_before_finishing)
        with pytest.raises(ConnectionError):
            await flusher.flush_shard(0)
        assert await pool.fetchval("SELECT views FROM video_stats WHERE video_id = $1", video) == 20
        monkeypatch.setattr(flusher, "_finish", finish)
        await asyncio.sleep(0.4)
        await flusher.flush_all()
        assert await pool.fetchval("SELECT views FROM video_stats WHERE video_id = $1", video) == 20
        assert (await v.stats(video))["views"] == 20
        assert not await v.services.redis.exists(record)


async def test_two_processes_flushing_together_count_each_delta_once(
    settings: Settings, clean_db: None
) -> None:
    async with viewing(settings) as a, viewing(settings) as b:
        video = await insert_video(a.services.db.pool, a.owner)
        for round_ in range(5):
            await a.send([event(video, f"two-a-{round_}-{n}", "start") for n in range(20)])
            await b.send([event(video, f"two-b-{round_}-{n}", "start") for n in range(20)])
            await asyncio.gather(a.flush(), b.flush(), a.flush(), b.flush())
        await a.flush()
        stored = await a.services.db.pool.fetchval(
            "SELECT views FROM video_stats WHERE video_id = $1", video
        )
        assert stored == 200


async def test_owners_alone_see_playback_quality_and_views_by_hour(
    settings: Settings, clean_db: None
) -> None:
    async with viewing(settings) as v:
        video = await insert_video(v.services.db.pool, v.owner)
        for n, startup in enumerate((200, 400, 600, 800)):
            session = f"quality-{n}"
            await v.send(
                [
                    event(video, session, "start", startupMs=startup),
                    event(video, session, "heartbeat", watchedSeconds=1, height=720),
                    event(video, session, "rebuffer", rebufferMs=100),
                ]
            )
        await v.send(event(video, "quality-0", "error"))
        await v.flush()
        mine = await gql(v.http, OWNER_STATS, {"id": str(video)}, token=v.token)
        stats = mine["data"]["video"]["stats"]
        quality = stats["playbackQuality"]
        assert 300 <= quality["startupTimeMsP50"] <= 600
        assert quality["startupTimeMsP95"] >= quality["startupTimeMsP50"]
        assert quality["rebufferRatio"] == pytest.approx(0.1)
        assert quality["errorRate"] == pytest.approx(0.25)
        assert quality["renditions"] == [{"height": 720, "watchShare": 1.0}]
        hours = stats["viewsByHour"]
        assert len(hours) == 3 and hours[-1]["views"] == 4
        assert hours[-1]["watchTimeSeconds"] == pytest.approx(4.0)
        other = token_for(v.services.settings, await insert_user(v.services.db.pool))
        theirs = await gql(v.http, OWNER_STATS, {"id": str(video)}, token=other)
        assert theirs["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        anonymous = await gql(
            v.http,
            "query($id: ID!) { video(id: $id) { stats { views playbackQuality { errorRate } } } }",
            {"id": str(video)},
        )
        assert anonymous["data"]["video"]["stats"] == {"views": 4, "playbackQuality": None}


async def test_most_viewed_and_trending_list_public_videos_only(
    settings: Settings, clean_db: None
) -> None:
    async with viewing(settings) as v:
        pool = v.services.db.pool
        videos = [await insert_video(pool, v.owner, title=f"v{n}") for n in range(4)]
        private = await insert_video(pool, v.owner, visibility="PRIVATE")
        for n, video in enumerate(videos):
            await v.send([event(video, f"list-{n}-{s}", "start") for s in range(n + 1)])
        await v.send(
            [event(private, f"list-private-{s}", "start") for s in range(9)], token=v.token
        )
        await v.flush()
        for order in ("MOST_VIEWED", "TRENDING"):
            pages: list[str] = []
            after = None
            while True:
                body = await gql(v.http, LIST, {"order": order, "after": after, "first": 3})
                assert "errors" not in body, body
                found = body["data"]["videos"]
                pages += [e["node"]["id"] for e in found["edges"]]
                if not found["pageInfo"]["hasNextPage"]:
                    break
                after = found["pageInfo"]["endCursor"]
            ranked = [str(x) for x in reversed(videos)]
            assert pages[:4] == ranked, order
            assert str(private) not in pages
            assert found["totalCount"] == 4, order
        # Hidden, a video leaves trending at once.
        hide = (
            """mutation($id: ID!) { updateVideo(id: $id, input: {visibility: PRIVATE}) { id } }"""
        )
        assert "errors" not in await gql(v.http, hide, {"id": str(videos[-1])}, token=v.token)
        body = await gql(v.http, LIST, {"order": "TRENDING", "first": 10})
        assert str(videos[-1]) not in [e["node"]["id"] for e in body["data"]["videos"]["edges"]]


async def test_a_view_keeps_the_video_cached_and_stats_expire_by_themselves(
    settings: Settings, clean_db: None
) -> None:
    async with viewing(settings) as v:
        video = await insert_video(v.services.db.pool, v.owner)
        plain = """query($id: ID!) { video(id: $id) { id title } }"""
        first = await v.http.get(
            "/graphql", params={"query": plain, "variables": json.dumps({"id": str(video)})}
        )
        etag = first.headers["etag"]
        await v.send([event(video, f"cached-{n}", "start") for n in range(3)])
        await v.flush()
        # The video's record and the kept answer without stats are untouched by views.
        again = await v.http.get(
            "/graphql",
            params={"query": plain, "variables": json.dumps({"id": str(video)})},
            headers={"if-none-match": etag},
        )
        assert again.status_code == 304
        # An answer with stats is kept no longer than the staleness allowed (0.5 s here).
        params = {"query": STATS, "variables": json.dumps({"id": str(video)})}
        seen = (await v.http.get("/graphql", params=params)).json()["data"]["video"]["stats"]
        assert seen["views"] == 3
        await v.send([event(video, f"cached-more-{n}", "start") for n in range(2)])
        kept = (await v.http.get("/graphql", params=params)).json()["data"]["video"]["stats"]
        assert kept["views"] == 3
        await asyncio.sleep(0.6)
        fresh = (await v.http.get("/graphql", params=params)).json()["data"]["video"]["stats"]
        assert fresh["views"] == 5


async def test_with_redis_down_events_are_dropped_and_counted_reads_go_on(
    settings: Settings, clean_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with viewing(settings) as v:
        video = await insert_video(v.services.db.pool, v.owner)
        await v.send([event(video, f"down-session-{n}", "start") for n in range(3)])
        await v.flush()

        async def refused(*args: Any, **kwargs: Any) -> Any:
            raise RedisConnectionError("Redis is down")

        monkeypatch.setattr(v.services.viewing.counter, "_count", refused)
        monkeypatch.setattr(v.services.viewing.reader, "_read", refused)
        answer = await v.send(event(video, "down-session-x", "start"))
        assert answer.status_code == 204
        assert _counted(v, "redis_down") == 1
        assert (await v.stats(video))["views"] == 3  # as flushed


def _counted(v: Viewing, outcome: str) -> float:
    value = v.services.metrics.registry.get_sample_value(
        "streamify_beacon_events_total", {"outcome": outcome}
    )
    return value or 0.0
