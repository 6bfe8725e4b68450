"""Accounts, tokens, cookies, ownership and visibility, against the real services."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest

from streamify.infra.cache.namespaces import VIDEOS
from streamify.infra.tokens import issue_token
from streamify.schema import build_schema
from streamify.services import Services
from tests.documents import LOG_IN, LOG_OUT, ORIGIN, PASSWORD, REFRESH, SIGN_UP, VIEWER, sign_up
from tests.helpers import (
    LIST_QUERY,
    UPDATE_MUTATION,
    VIDEO_QUERY,
    gql,
    insert_user,
    insert_video,
    redis_raw,
    token_for,
)

# The cache tier, auth, rate limits and subscriptions promise the same on a Redis Cluster.
pytestmark = pytest.mark.both_redis


def code_of(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def test_sign_up_log_in_and_viewer(client: httpx.AsyncClient) -> None:
    signed = await sign_up(client, "Ada@Example.com")
    assert signed["viewer"]["email"] == "Ada@Example.com"
    me = await gql(client, VIEWER, token=signed["accessToken"])
    assert me["data"]["viewer"]["id"] == signed["viewer"]["id"]
    assert (await gql(client, VIEWER))["data"]["viewer"] is None

    logged = await gql(client, LOG_IN, {"email": "ada@example.com", "password": PASSWORD})
    assert logged["data"]["logIn"]["viewer"]["id"] == signed["viewer"]["id"]
    wrong = await gql(client, LOG_IN, {"email": "ada@example.com", "password": "nope nope nope"})
    unknown = await gql(client, LOG_IN, {"email": "who@example.com", "password": PASSWORD})
    assert code_of(wrong) == code_of(unknown) == "UNAUTHENTICATED"
    assert wrong["errors"][0]["message"] == unknown["errors"][0]["message"]

    again = await gql(
        client, SIGN_UP, {"email": "ADA@example.com", "password": PASSWORD, "name": "X"}
    )
    assert code_of(again) == "CONFLICT"
    for email, password, name in (
        ("not-an-email", PASSWORD, "A"),
        ("b@example.com", "short", "A"),
        ("c@example.com", PASSWORD, "  "),
    ):
        bad = await gql(client, SIGN_UP, {"email": email, "password": password, "name": name})
        assert code_of(bad) == "BAD_USER_INPUT"


async def test_bad_tokens_are_refused(services: Services, client: httpx.AsyncClient) -> None:
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner)
    s = services.settings
    now = int(time.time())
    claims = {"sub": str(owner), "iat": now, "exp": now + 600, "typ": "access"}
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(
        b"="
    )
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    valid = token_for(s, owner)
    head, _, signature = valid.split(".")
    forged_payload = (
        base64.urlsafe_b64encode(json.dumps({**claims, "sub": str(uuid.uuid4())}).encode())
        .rstrip(b"=")
        .decode()
    )
    bad_tokens = {
        "expired": token_for(s, owner, ttl_seconds=-5),
        "wrong secret": jwt.encode(claims, "x" * 40, algorithm="HS256"),
        "alg none": f"{header.decode()}.{body.decode()}.",
        "tampered": f"{head}.{forged_payload}.{signature}",
        "session as access": issue_token(
            owner,
            session_id=None,
            kind="session",
            secret=s.jwt_secret,
            algorithm=s.jwt_algorithm,
            ttl_seconds=600,
        ),
        "garbage": "a.b.c",
    }
    for name, token in bad_tokens.items():
        body_ = await gql(
            client, UPDATE_MUTATION, {"id": str(video), "input": {"title": "x"}}, token=token
        )
        assert code_of(body_) == "UNAUTHENTICATED", name
        assert (await gql(client, VIEWER, token=token))["data"]["viewer"] is None, name
    ok = await gql(
        client, UPDATE_MUTATION, {"id": str(video), "input": {"title": "mine"}}, token=valid
    )
    assert ok["data"]["updateVideo"]["title"] == "mine"


async def test_refresh_tokens_rotate_and_die_with_the_session(client: httpx.AsyncClient) -> None:
    first = await sign_up(client)
    rotated = (await gql(client, REFRESH, {"token": first["refreshToken"]}))["data"]["refreshToken"]
    assert rotated["refreshToken"] != first["refreshToken"]
    assert (await gql(client, VIEWER, token=rotated["accessToken"]))["data"]["viewer"]
    # The rotated-away token is useless, and presenting it ends the session it came from.
    reused = await gql(client, REFRESH, {"token": first["refreshToken"]})
    assert code_of(reused) == "UNAUTHENTICATED"
    assert (
        code_of(await gql(client, REFRESH, {"token": rotated["refreshToken"]})) == "UNAUTHENTICATED"
    )
    assert (await gql(client, VIEWER, token=rotated["accessToken"]))["data"]["viewer"] is None

    second = await sign_up(client)
    assert (await gql(client, LOG_OUT, {"token": second["refreshToken"]}))["data"]["logOut"] is True
    assert (
        code_of(await gql(client, REFRESH, {"token": second["refreshToken"]})) == "UNAUTHENTICATED"
    )
    assert (await gql(client, VIEWER, token=second["accessToken"]))["data"]["viewer"] is None
    assert code_of(await gql(client, REFRESH, {"token": "made-up"})) == "UNAUTHENTICATED"


async def test_session_cookie_is_httponly_and_csrf_guarded(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={
            "query": LOG_IN,
            "variables": {
                "email": (await sign_up(client, "c@example.com"))["viewer"]["email"],
                "password": PASSWORD,
            },
        },
    )
    cookie_header = response.headers["set-cookie"]
    assert "HttpOnly" in cookie_header and "SameSite=lax" in cookie_header
    cookie = client.cookies.get("sf_session")
    assert cookie
    same_site = await client.post("/graphql", json={"query": VIEWER}, headers={"origin": ORIGIN})
    assert same_site.json()["data"]["viewer"]["email"] == "c@example.com"
    own_origin = await client.post(
        "/graphql", json={"query": VIEWER}, headers={"origin": "http://testserver"}
    )
    assert own_origin.json()["data"]["viewer"] is not None
    for headers in ({}, {"origin": "https://evil.example"}, {"origin": "null"}):
        refused = await client.post("/graphql", json={"query": VIEWER}, headers=headers)
        assert refused.json()["data"]["viewer"] is None, headers
    # Mutations never over GET, nor as a simple form post.
    over_get = await client.get("/graphql", params={"query": "mutation { logOut }"})
    assert over_get.status_code >= 400 or over_get.json().get("errors")
    form = await client.post(
        "/graphql",
        content=b"query=mutation%20%7B%20logOut%20%7D",
        headers={"content-type": "application/x-www-form-urlencoded", "origin": ORIGIN},
    )
    assert form.status_code in (400, 415)
    out = await client.post(
        "/graphql", json={"query": "mutation { logOut }"}, headers={"origin": ORIGIN}
    )
    assert out.json()["data"]["logOut"] is True
    assert "sf_session=" in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]


async def test_another_user_is_forbidden_everything_and_nothing_changes(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool, "Owner")
    mallory = token_for(services.settings, await insert_user(services.db.pool, "Mallory"))
    video = await insert_video(services.db.pool, owner, title="Original")
    owner_token = token_for(services.settings, owner)
    created = await gql(
        client,
        """mutation { createUpload(input: {filename: "a.mp4",
        contentType: "video/mp4", sizeBytes: 100}) { id } }""",
        token=owner_token,
    )
    upload_id = created["data"]["createUpload"]["id"]
    attempts: list[tuple[str, dict[str, Any]]] = [
        (UPDATE_MUTATION, {"id": str(video), "input": {"title": "pwned"}}),
        ("mutation($id: ID!) { deleteVideo(id: $id) }", {"id": str(video)}),
        (
            "mutation($id: ID!) { signUploadParts(uploadId: $id, partNumbers: [1]) { url } }",
            {"id": upload_id},
        ),
        (
            "mutation($id: ID!) { completeUpload(uploadId: $id,"
            ' parts: [{partNumber: 1, etag: "x"}]) { id } }',
            {"id": upload_id},
        ),
        ("mutation($id: ID!) { abortUpload(uploadId: $id) { id } }", {"id": upload_id}),
        ("query($id: ID!) { upload(id: $id) { id parts { etag } } }", {"id": upload_id}),
    ]
    for query, variables in attempts:
        assert code_of(await gql(client, query, variables, token=mallory)) == "FORBIDDEN", query
    row = await services.db.pool.fetchrow("SELECT title, version FROM videos WHERE id = $1", video)
    assert row is not None and (row["title"], row["version"]) == ("Original", 1)
    status = await services.db.pool.fetchval(
        "SELECT status FROM uploads WHERE id = $1", uuid.UUID(upload_id)
    )
    assert status == "PENDING"


async def test_visibility_holds_in_every_path_after_the_owner_warmed_the_cache(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    owner_token = token_for(services.settings, owner)
    stranger = token_for(services.settings, await insert_user(services.db.pool, "Eve"))
    private = await insert_video(services.db.pool, owner, visibility="PRIVATE", title="secret")
    unlisted = await insert_video(services.db.pool, owner, visibility="UNLISTED", title="link only")
    public = await insert_video(services.db.pool, owner, title="for all")
    for vid in (private, unlisted, public):  # the owner's reads fill L1 and Redis
        assert (await gql(client, VIDEO_QUERY, {"id": str(vid)}, token=owner_token))["data"][
            "video"
        ]
    own_list = await gql(
        client, LIST_QUERY, {"ownerId": str(owner), "first": 10}, token=owner_token
    )
    assert len(own_list["data"]["videos"]["edges"]) == 3

    for token in (None, stranger):
        assert (await gql(client, VIDEO_QUERY, {"id": str(private)}, token=token))["data"][
            "video"
        ] is None
        assert (await gql(client, VIDEO_QUERY, {"id": str(unlisted)}, token=token))["data"]["video"]
        for variables in (
            {"first": 10},
            {"ownerId": str(owner), "first": 10},
            {"ownerId": str(owner), "first": 10, "status": "READY"},
        ):
            listed = await gql(client, LIST_QUERY, variables, token=token)
            assert [e["node"]["id"] for e in listed["data"]["videos"]["edges"]] == [str(public)]
        hidden = await gql(
            client, UPDATE_MUTATION, {"id": str(private), "input": {"title": "x"}}, token=token
        )
        assert code_of(hidden) in ("NOT_FOUND", "UNAUTHENTICATED")


async def test_delete_video_removes_rows_objects_and_cache(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    token = token_for(services.settings, owner)
    video = await insert_video(services.db.pool, owner)
    storage = services.storage
    await storage.client.put_object(
        Bucket=storage.raw_bucket, Key=f"uploads/{video}/source", Body=b"x"
    )
    await storage.client.put_object(
        Bucket=storage.media_bucket, Key=f"videos/{video}/hls/master.m3u8", Body=b"#EXTM3U"
    )
    assert (await gql(client, VIDEO_QUERY, {"id": str(video)}))["data"]["video"]  # cached now
    deleted = await gql(
        client, "mutation($id: ID!) { deleteVideo(id: $id) }", {"id": str(video)}, token=token
    )
    assert deleted == {"data": {"deleteVideo": str(video)}}
    assert (await gql(client, VIDEO_QUERY, {"id": str(video)}))["data"]["video"] is None
    assert await services.db.pool.fetchval("SELECT count(*) FROM videos WHERE id=$1", video) == 0
    assert (
        await services.db.pool.fetchval("SELECT count(*) FROM renditions WHERE video_id=$1", video)
        == 0
    )
    for bucket, prefix in (
        (storage.raw_bucket, f"uploads/{video}/"),
        (storage.media_bucket, f"videos/{video}/"),
    ):
        listing = await storage.client.list_objects_v2(Bucket=bucket, Prefix=prefix)
        assert listing.get("KeyCount", 0) == 0
    raw = await redis_raw(services.redis, services.cache.key(VIDEOS, video))
    assert raw.startswith(b"t")  # a tombstone: no late fill can bring the row back
    again = await gql(
        client, "mutation($id: ID!) { deleteVideo(id: $id) }", {"id": str(video)}, token=token
    )
    assert code_of(again) == "NOT_FOUND"


async def test_query_limits_and_body_size(services: Services, client: httpx.AsyncClient) -> None:
    ok = "{ videos { edges { node { owner { id } renditions { height } } } } }"
    assert (await gql(client, ok)).get("errors") is None
    many_aliases = "{ " + "".join(f'a{i}: video(id: "x") {{ id }} ' for i in range(16)) + "}"
    aliased = await gql(client, many_aliases)
    assert any("alias" in e["message"].lower() for e in aliased["errors"])
    # No field of this schema nests without end, so the depth limit is shown on a tighter one.
    shallow = build_schema(services.settings.model_copy(update={"graphql_max_depth": 3}))
    deep = await shallow.execute(ok)
    assert deep.errors and deep.errors[0].extensions == {"code": "QUERY_TOO_DEEP"}
    huge = "{ " + " ".join(["viewer { id }"] * 800) + " }"
    tokens = await gql(client, huge)
    assert tokens["errors"]
    big = await client.post(
        "/graphql",
        content=b'{"query": "' + b" " * (2 * 1024 * 1024) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert big.status_code == 413


async def test_log_in_and_mutations_are_rate_limited(
    services: Services, client: httpx.AsyncClient
) -> None:
    # One address, many emails: its per-minute allowance of log-ins.
    limit = services.settings.rate_limit_login_per_minute
    results = [
        await gql(client, LOG_IN, {"email": f"x{n}@example.com", "password": "wrong password"})
        for n in range(limit + 1)
    ]
    assert {code_of(r) for r in results[:limit]} == {"UNAUTHENTICATED"}
    assert code_of(results[limit]) == "RATE_LIMITED"
    assert "try again" in results[limit]["errors"][0]["message"]
    # (One address guessing one email waits longer and longer: tests/security.)


async def test_concurrent_refresh_with_one_token_yields_one_winner(
    client: httpx.AsyncClient,
) -> None:
    first = await sign_up(client)
    outcomes = await asyncio.gather(
        *(gql(client, REFRESH, {"token": first["refreshToken"]}) for _ in range(4))
    )
    # Exactly one: none would mean the token was refused outright, which passed before too.
    assert len([o for o in outcomes if "errors" not in o]) == 1


async def test_mutations_are_rate_limited_per_user(
    services: Services, client: httpx.AsyncClient
) -> None:
    services.settings = services.settings.model_copy(update={"rate_limit_mutations_per_minute": 3})
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner)
    token = token_for(services.settings, owner)
    codes = []
    for i in range(4):
        body = await gql(
            client, UPDATE_MUTATION, {"id": str(video), "input": {"title": f"t{i}"}}, token=token
        )
        codes.append(body["errors"][0]["extensions"]["code"] if body.get("errors") else "ok")
    assert codes == ["ok", "ok", "ok", "RATE_LIMITED"]
    # Queries are not counted.
    assert (await gql(client, VIDEO_QUERY, {"id": str(video)}, token=token))["data"]["video"]


async def test_unfinished_videos_are_their_owners_alone(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    other = await insert_user(services.db.pool)
    unfinished = {
        status: await insert_video(services.db.pool, owner, title=status, status=status)
        for status in ("UPLOADING", "UPLOADED", "PROCESSING", "FAILED")
    }
    ready = await insert_video(services.db.pool, owner, title="READY")
    for viewer in (None, other):
        token = token_for(services.settings, viewer) if viewer else None
        for status, video_id in unfinished.items():
            found = await gql(client, VIDEO_QUERY, {"id": str(video_id)}, token=token)
            assert found["data"]["video"] is None
            listed = await gql(client, LIST_QUERY, {"status": status}, token=token)
            assert listed["data"]["videos"]["edges"] == []
            by_owner = await gql(
                client, LIST_QUERY, {"ownerId": str(owner), "status": status}, token=token
            )
            assert by_owner["data"]["videos"]["edges"] == []
        feed = await gql(client, LIST_QUERY, {"ownerId": str(owner)}, token=token)
        assert [e["node"]["title"] for e in feed["data"]["videos"]["edges"]] == ["READY"]
        assert (await gql(client, VIDEO_QUERY, {"id": str(ready)}, token=token))["data"]["video"]
    own = token_for(services.settings, owner)
    mine = await gql(client, LIST_QUERY, {"ownerId": str(owner)}, token=own)
    assert len(mine["data"]["videos"]["edges"]) == 5
    uploading = await gql(
        client, LIST_QUERY, {"ownerId": str(owner), "status": "UPLOADING"}, token=own
    )
    assert [e["node"]["title"] for e in uploading["data"]["videos"]["edges"]] == ["UPLOADING"]
