"""Resumable uploads against a real S3 server on loopback: presigned parts, resume, complete,
the S3 notification path, and every way a client can get it wrong."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.exceptions import ClientError
from starlette.types import ASGIApp, Receive, Scope, Send

from streamify.app import create_app
from streamify.devtools.seaweed import forward_to_hook
from streamify.infra.settings import Settings
from streamify.pipelines.sweeps.upload_sweeper import EXPIRED_REASON, sweep_expired_uploads
from streamify.pipelines.triggers.event_intake import StoredObject
from streamify.services import Services, open_services
from tests.documents import ABORT, COMPLETE, CREATE, SIGN, UPLOAD, put_part
from tests.helpers import gql, insert_user, token_for
from tests.servers import SessionS3, serve_app, with_state

MIB = 1024 * 1024


@dataclass
class BodyMeter:
    """Counts the request-body bytes the API receives."""

    total: int = 0
    largest: int = 0

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def metered(scope: Scope, receive: Receive, send: Send) -> None:
            async def counting() -> Any:
                message = await receive()
                size = len(message.get("body", b""))
                self.total += size
                self.largest = max(self.largest, size)
                return message

            await app(scope, counting, send)

        return metered


@dataclass
class Recorder:
    calls: list[tuple[uuid.UUID, StoredObject]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, video_id: uuid.UUID, obj: StoredObject) -> None:
        self.calls.append((video_id, obj))
        self.arrived.set()


@dataclass
class Uploader:
    client: httpx.AsyncClient
    services: Services
    token: str
    user_id: uuid.UUID
    meter: BodyMeter

    async def gql(
        self, query: str, variables: dict[str, Any], token: str | None = ""
    ) -> dict[str, Any]:
        return await gql(self.client, query, variables, token=self.token if token == "" else token)


@pytest.fixture
async def uploader(services: Services) -> AsyncIterator[Uploader]:
    meter = BodyMeter()
    app = meter.wrap(with_state(create_app(services.settings), services))
    user = await insert_user(services.db.pool)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        yield Uploader(c, services, token_for(services.settings, user), user, meter)


async def create(up: Uploader, size: int, **extra: Any) -> dict[str, Any]:
    body = await up.gql(
        CREATE,
        {
            "input": {
                "filename": "clip.mp4",
                "contentType": "video/mp4",
                "sizeBytes": size,
                "title": "My clip",
                "description": "",
                **extra,
            }
        },
    )
    assert "errors" not in body, body
    created: dict[str, Any] = body["data"]["createUpload"]
    return created


async def read_object(services: Services, key: str) -> bytes:
    got = await services.storage.client.get_object(Bucket=services.storage.raw_bucket, Key=key)
    async with got["Body"] as stream:
        data: bytes = await stream.read()
    return data


async def test_resumable_upload_through_presigned_urls(uploader: Uploader) -> None:
    source = os.urandom(25 * MIB)
    created = await create(uploader, len(source), partSizeBytes=5 * MIB)
    assert created["status"] == "PENDING" and created["partCount"] == 5
    assert created["partSizeBytes"] == 5 * MIB and created["video"]["status"] == "UPLOADING"
    upload_id = created["id"]

    signed = (await uploader.gql(SIGN, {"id": upload_id, "parts": [1, 2, 3, 4, 5]}))["data"]
    urls = {p["partNumber"]: p["url"] for p in signed["signUploadParts"]}
    endpoint = uploader.services.settings.s3_endpoint_url or ""
    assert all(url.startswith(endpoint) for url in urls.values())  # bytes go to S3, not to us
    for n in (1, 2):  # then the client crashes
        await put_part(urls[n], source[(n - 1) * 5 * MIB : n * 5 * MIB])

    resumed = (await uploader.gql(UPLOAD, {"id": upload_id}))["data"]["upload"]
    have = {p["partNumber"]: p for p in resumed["parts"]}
    assert sorted(have) == [1, 2] and all(p["sizeBytes"] == 5 * MIB for p in have.values())
    missing = [n for n in range(1, 6) if n not in have]
    fresh = (await uploader.gql(SIGN, {"id": upload_id, "parts": missing}))["data"]
    etags = {n: p["etag"] for n, p in have.items()}
    for part in fresh["signUploadParts"]:
        n = part["partNumber"]
        etags[n] = await put_part(part["url"], source[(n - 1) * 5 * MIB : n * 5 * MIB])

    done = await uploader.gql(
        COMPLETE,
        {"id": upload_id, "parts": [{"partNumber": n, "etag": etags[n]} for n in sorted(etags)]},
    )
    assert "errors" not in done, done
    completed = done["data"]["completeUpload"]
    assert completed["status"] == "COMPLETED" and completed["sizeBytes"] == len(source)
    assert completed["video"]["status"] == "UPLOADED"
    stored = await read_object(uploader.services, f"uploads/{created['video']['id']}/source")
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(source).hexdigest()
    assert uploader.meter.largest < 64 * 1024 and uploader.meter.total < 256 * 1024


async def _upload_whole(up: Uploader, data: bytes) -> tuple[str, str, list[dict[str, Any]]]:
    created = await create(up, len(data))
    signed = (await up.gql(SIGN, {"id": created["id"], "parts": [1]}))["data"]["signUploadParts"]
    etag = await put_part(signed[0]["url"], data)
    return created["id"], created["video"]["id"], [{"partNumber": 1, "etag": etag}]


async def test_completion_reaches_start_processing_once_through_the_notification_path(
    uploader: Uploader, settings: Settings, local_s3: SessionS3
) -> None:
    services = uploader.services
    recorder = Recorder()
    upload_id, video_id, parts = await _upload_whole(uploader, b"\x00" * 1024)
    done = await uploader.gql(COMPLETE, {"id": upload_id, "parts": parts})
    assert done["data"]["completeUpload"]["status"] == "COMPLETED"
    # Completing does not start processing by itself: only the S3 event does, once recorded.
    recorded = await services.db.pool.fetchval(
        "SELECT count(*) FROM s3_events WHERE video_id = $1", uuid.UUID(video_id)
    )
    assert recorded == 0

    # The object's creation reaches an API process through the webhook, as in production
    # (the stream replays the last two minutes, which holds this upload's creation).
    secret = settings.s3_webhook_secret
    async with (
        open_services(settings, start_processing=recorder) as api,
        serve_app(with_state(create_app(settings), api)) as base,
    ):
        forwarding = asyncio.create_task(
            forward_to_hook(
                local_s3.server,
                settings.s3_raw_bucket,
                f"{base}/hooks/s3",
                secret,
                since_seconds=120,
            )
        )
        try:
            await asyncio.wait_for(recorder.arrived.wait(), timeout=20)
        finally:
            forwarding.cancel()
        [(started_id, obj)] = recorder.calls
        assert str(started_id) == video_id
        assert obj.key == f"uploads/{video_id}/source" and obj.size_bytes == 1024

        # The same event again, as a redelivered webhook: ignored.
        record = {
            "eventName": "ObjectCreated:CompleteMultipartUpload",
            "s3": {
                "bucket": {"name": obj.bucket},
                "object": {"key": obj.key, "size": obj.size_bytes, "eTag": obj.etag},
            },
        }
        async with httpx.AsyncClient(base_url=base) as c:
            response = await c.post(
                "/hooks/s3",
                json={"Records": [record]},
                headers={"authorization": f"Bearer {secret}"},
            )
        assert response.json() == {"received": 1, "started": 0}
        assert len(recorder.calls) == 1
    count = await services.db.pool.fetchval(
        "SELECT count(*) FROM s3_events WHERE video_id = $1", uuid.UUID(video_id)
    )
    assert count == 1


async def test_uppy_routes_do_a_full_multipart_upload(uploader: Uploader) -> None:
    data = os.urandom(6 * MIB)
    auth = {"authorization": f"Bearer {uploader.token}"}
    c = uploader.client
    created = await c.post(
        "/s3/multipart",
        headers=auth,
        json={
            "filename": "holiday.webm",
            "type": "video/webm",
            "metadata": {"name": "holiday.webm", "type": "video/webm", "size": len(data)},
        },
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert set(body) == {"key", "uploadId"}
    key, upload_id = body["key"], body["uploadId"]
    assert key.startswith("uploads/") and key.endswith("/source")

    etags = []
    for n, chunk in ((1, data[: 5 * MIB]), (2, data[5 * MIB :])):
        signed = await c.get(f"/s3/multipart/{upload_id}/{n}", params={"key": key}, headers=auth)
        assert signed.status_code == 200
        assert set(signed.json()) == {"url", "expires"}
        assert isinstance(signed.json()["expires"], int)
        etags.append({"PartNumber": n, "ETag": await put_part(signed.json()["url"], chunk)})

    listed = await c.get(f"/s3/multipart/{upload_id}", params={"key": key}, headers=auth)
    assert listed.json() == [
        {"PartNumber": 1, "ETag": etags[0]["ETag"], "Size": 5 * MIB},
        {"PartNumber": 2, "ETag": etags[1]["ETag"], "Size": MIB},
    ]
    done = await c.post(
        f"/s3/multipart/{upload_id}/complete",
        params={"key": key},
        headers=auth,
        json={"parts": etags},
    )
    assert done.status_code == 200, done.text
    assert done.json()["location"].endswith(key)
    assert await read_object(uploader.services, key) == data

    another = (
        await c.post(
            "/s3/multipart",
            headers=auth,
            json={"filename": "x.mp4", "type": "video/mp4", "metadata": {"size": MIB}},
        )
    ).json()
    aborted = await c.delete(
        f"/s3/multipart/{another['uploadId']}", params={"key": another["key"]}, headers=auth
    )
    assert aborted.status_code == 200 and aborted.json() == {}

    preflight = await c.options(
        "/s3/multipart",
        headers={
            "origin": "http://localhost:5173",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,uppy-versions,uppy-auth-token",
        },
    )
    assert preflight.status_code == 200
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"content-type", "uppy-versions", "uppy-auth-token"} <= set(
        allowed.replace(" ", "").split(",")
    )


async def _error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def test_bad_input_gets_typed_errors_and_changes_nothing(uploader: Uploader) -> None:
    up = uploader
    base = {"filename": "a.mp4", "contentType": "video/mp4", "sizeBytes": 6 * MIB, "title": "t"}
    for bad in (
        {"contentType": "text/plain"},
        {"contentType": "application/x-msdownload"},
        {"sizeBytes": up.services.settings.upload_max_bytes + 1},
        {"sizeBytes": 0},
        {"partSizeBytes": 1024},
        {"filename": ""},
    ):
        body = await up.gql(CREATE, {"input": {**base, **bad}})
        assert await _error_code(body) == "BAD_USER_INPUT", bad
    assert await up.services.db.pool.fetchval("SELECT count(*) FROM uploads") == 0
    assert await up.services.db.pool.fetchval("SELECT count(*) FROM videos") == 0
    body = await up.gql(CREATE, {"input": {**base, "sizeBytes": "lots"}})
    assert body["errors"]

    created = await create(up, 6 * MIB, partSizeBytes=5 * MIB)
    uid = created["id"]
    for numbers in ([0], [3], [10_001], []):
        assert (
            await _error_code(await up.gql(SIGN, {"id": uid, "parts": numbers})) == "BAD_USER_INPUT"
        )
    unknown = str(uuid.uuid4())
    assert await _error_code(await up.gql(SIGN, {"id": unknown, "parts": [1]})) == "NOT_FOUND"
    assert await _error_code(await up.gql(UPLOAD, {"id": "nope"})) == "BAD_USER_INPUT"
    assert await _error_code(await up.gql(SIGN, {"id": uid, "parts": [1]}, token=None)) == (
        "UNAUTHENTICATED"
    )

    signed = (await up.gql(SIGN, {"id": uid, "parts": [1, 2]}))["data"]["signUploadParts"]
    e1 = await put_part(signed[0]["url"], os.urandom(5 * MIB))
    e2 = await put_part(signed[1]["url"], os.urandom(MIB))
    wrong_parts: list[list[dict[str, object]]] = [
        [{"partNumber": 1, "etag": e1}],  # part 2 missing: size does not add up
        [{"partNumber": 1, "etag": e1}, {"partNumber": 2, "etag": "0" * 32}],
        [{"partNumber": 1, "etag": e1}, {"partNumber": 3, "etag": e2}],
        [{"partNumber": 1, "etag": e1}, {"partNumber": 1, "etag": e1}],
    ]
    for parts in wrong_parts:
        assert await _error_code(await up.gql(COMPLETE, {"id": uid, "parts": parts})) == (
            "BAD_USER_INPUT"
        ), parts
    status = await up.services.db.pool.fetchval(
        "SELECT status FROM uploads WHERE id = $1", uuid.UUID(uid)
    )
    assert status == "PENDING"
    good = [{"partNumber": 1, "etag": e1}, {"partNumber": 2, "etag": e2}]
    other = await insert_user(up.services.db.pool, "Mallory")
    stranger = token_for(up.services.settings, other)
    assert await _error_code(
        await up.gql(COMPLETE, {"id": uid, "parts": good}, token=stranger)
    ) == ("FORBIDDEN")
    first, second = await asyncio.gather(
        up.gql(COMPLETE, {"id": uid, "parts": good}), up.gql(COMPLETE, {"id": uid, "parts": good})
    )
    outcomes = sorted(
        [
            "ok" if "errors" not in first else first["errors"][0]["extensions"]["code"],
            "ok" if "errors" not in second else second["errors"][0]["extensions"]["code"],
        ]
    )
    assert outcomes == ["CONFLICT", "ok"]  # completing twice
    assert await _error_code(await up.gql(ABORT, {"id": uid})) == "CONFLICT"

    aborted = await create(up, 6 * MIB)
    assert (await up.gql(ABORT, {"id": aborted["id"]}))["data"]["abortUpload"][
        "status"
    ] == "ABORTED"
    assert await _error_code(await up.gql(SIGN, {"id": aborted["id"], "parts": [1]})) == "CONFLICT"
    assert await _error_code(await up.gql(COMPLETE, {"id": aborted["id"], "parts": good})) == (
        "CONFLICT"
    )
    video = await up.services.db.pool.fetchrow(
        "SELECT status, failure_reason FROM videos WHERE id = $1", uuid.UUID(aborted["video"]["id"])
    )
    assert video is not None and video["status"] == "FAILED"


async def test_rest_routes_refuse_bad_calls(uploader: Uploader) -> None:
    c = uploader.client
    auth = {"authorization": f"Bearer {uploader.token}"}
    assert (
        await c.post("/s3/multipart", json={"filename": "a.mp4", "type": "video/mp4"})
    ).status_code == 401
    refused = await c.post(
        "/s3/multipart", headers=auth, json={"filename": "a.txt", "type": "text/plain"}
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "BAD_USER_INPUT"
    assert (await c.post("/s3/multipart", headers=auth, content=b"{oops")).status_code == 400
    created = (
        await c.post(
            "/s3/multipart",
            headers=auth,
            json={"filename": "a.mp4", "type": "video/mp4", "metadata": {"size": 6 * MIB}},
        )
    ).json()
    wrong_key = await c.get(
        f"/s3/multipart/{created['uploadId']}/1", params={"key": "uploads/x/source"}, headers=auth
    )
    assert wrong_key.status_code == 400
    zero = await c.get(
        f"/s3/multipart/{created['uploadId']}/0", params={"key": created["key"]}, headers=auth
    )
    assert zero.status_code == 400
    over = await c.get(
        f"/s3/multipart/{created['uploadId']}/3", params={"key": created["key"]}, headers=auth
    )
    assert over.status_code == 400
    unknown = await c.get(
        f"/s3/multipart/{uuid.uuid4()}/1", params={"key": created["key"]}, headers=auth
    )
    assert unknown.status_code == 404
    no_etag = await c.post(
        f"/s3/multipart/{created['uploadId']}/complete",
        params={"key": created["key"]},
        headers=auth,
        json={"parts": [{"PartNumber": 1}]},
    )
    assert no_etag.status_code == 400


async def test_part_urls_are_signed_a_hundred_at_a_time_each_for_its_exact_size(
    uploader: Uploader,
) -> None:
    size = 5 * MIB * 150 + 123
    created = await create(uploader, size, partSizeBytes=5 * MIB)
    assert created["partCount"] == 151
    too_many = await uploader.gql(SIGN, {"id": created["id"], "parts": list(range(1, 102))})
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "At most 100 parts" in too_many["errors"][0]["message"]
    started = datetime.now(UTC)
    body = await uploader.gql(SIGN, {"id": created["id"], "parts": list(range(52, 152))})
    elapsed = (datetime.now(UTC) - started).total_seconds()
    signed = body["data"]["signUploadParts"]
    assert [p["partNumber"] for p in signed] == list(range(52, 152))
    queries = [parse_qs(urlsplit(p["url"]).query) for p in signed]
    assert [q["partNumber"] for q in queries] == [[str(n)] for n in range(52, 152)]
    # Each URL's signature covers Content-Length: S3 takes that many bytes and no other.
    assert all(q["X-Amz-SignedHeaders"] == ["content-length;host"] for q in queries)
    assert len({p["url"] for p in signed}) == 100
    print(f"\nsigned 100 part URLs in one request: {elapsed * 1000:.0f} ms")


async def test_sweeper_expires_overdue_uploads(uploader: Uploader) -> None:
    services = uploader.services
    created = await create(uploader, 6 * MIB)
    upload_id, video_id = uuid.UUID(created["id"]), uuid.UUID(created["video"]["id"])
    fresh = await create(uploader, 6 * MIB)
    await services.db.pool.execute(
        "UPDATE uploads SET expires_at = $2 WHERE id = $1",
        upload_id,
        datetime.now(UTC) - timedelta(minutes=1),
    )
    assert await sweep_expired_uploads(services.writes, services.storage) == 1
    assert await sweep_expired_uploads(services.writes, services.storage) == 0
    row = await services.db.pool.fetchrow("SELECT status FROM uploads WHERE id = $1", upload_id)
    assert row is not None and row["status"] == "EXPIRED"
    video = await gql(
        uploader.client,
        "query($id: ID!) { video(id: $id) { status } }",
        {"id": str(video_id)},
        token=uploader.token,
    )
    assert video["data"]["video"]["status"] == "FAILED"
    reason = await services.db.pool.fetchval(
        "SELECT failure_reason FROM videos WHERE id=$1", video_id
    )
    assert reason == EXPIRED_REASON
    s3_upload_id = await services.db.pool.fetchval(
        "SELECT s3_upload_id FROM uploads WHERE id=$1", upload_id
    )
    with pytest.raises(ClientError):
        await services.storage.client.list_parts(
            Bucket=services.storage.raw_bucket,
            Key=f"uploads/{video_id}/source",
            UploadId=s3_upload_id,
        )
    still = await uploader.gql(UPLOAD, {"id": fresh["id"]})
    assert still["data"]["upload"]["status"] == "PENDING"


async def test_webhook_needs_its_secret_and_reads_sns_envelopes(uploader: Uploader) -> None:
    c, settings = uploader.client, uploader.services.settings
    event = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": settings.s3_raw_bucket},
                    "object": {"key": f"uploads/{uuid.uuid4()}/source", "size": 1, "eTag": "abc"},
                },
            }
        ]
    }
    assert (await c.post("/hooks/s3", json=event)).status_code == 401
    wrong = await c.post("/hooks/s3", json=event, headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    envelope = {"Type": "Notification", "Message": json.dumps(event)}
    sns = await c.post("/hooks/s3", params={"token": settings.s3_webhook_secret}, json=envelope)
    assert sns.status_code == 200 and sns.json()["received"] == 1  # unknown video: not started
    bad = await c.post("/hooks/s3", params={"token": settings.s3_webhook_secret}, json={"x": 1})
    assert bad.status_code == 400
    confirm = await c.post(
        "/hooks/s3",
        params={"token": settings.s3_webhook_secret},
        json={
            "Type": "SubscriptionConfirmation",
            "SubscribeURL": "http://169.254.169.254/latest",
        },
    )
    assert confirm.status_code == 400


async def test_rest_routes_share_the_cores_rate_limits(uploader: Uploader) -> None:
    services = uploader.services
    services.settings = services.settings.model_copy(
        update={"rate_limit_mutations_per_minute": 2, "rate_limit_part_signing_per_minute": 3}
    )
    auth = {"authorization": f"Bearer {uploader.token}"}
    body = {"filename": "a.mp4", "type": "video/mp4", "metadata": {"size": 1024}}
    # GraphQL and REST count against the same allowance of the same user.
    first = await create(uploader, 1024)
    via_rest = await uploader.client.post("/s3/multipart", json=body, headers=auth)
    assert via_rest.status_code == 200
    refused = await uploader.client.post("/s3/multipart", json=body, headers=auth)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    over_graphql = await uploader.gql(
        CREATE, {"input": {"filename": "b.mp4", "contentType": "video/mp4", "sizeBytes": 1}}
    )
    error = over_graphql["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 1 <= error["extensions"]["retryAfterSeconds"] <= 60

    # Signing parts has its own allowance: Uppy signs one part per request.
    created = via_rest.json()
    sign_url = f"/s3/multipart/{created['uploadId']}/1"
    statuses = [
        (
            await uploader.client.get(sign_url, params={"key": created["key"]}, headers=auth)
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    assert first["status"] == "PENDING"


async def test_one_bad_row_does_not_stop_the_sweep(
    uploader: Uploader, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    services = uploader.services
    made = [await create(uploader, 6 * MIB) for _ in range(3)]
    failed, broken, plain = ((uuid.UUID(m["id"]), uuid.UUID(m["video"]["id"])) for m in made)
    await services.db.pool.execute(
        "UPDATE uploads SET expires_at = now() - interval '1 minute' WHERE id = ANY($1::uuid[])",
        [failed[0], broken[0], plain[0]],
    )
    # A video that failed while its upload stayed open: FAILED -> FAILED used to abort sweeps.
    await services.db.pool.execute(
        "UPDATE videos SET status = 'FAILED', failure_reason = 'earlier' WHERE id = $1",
        failed[1],
    )
    broken_key = await services.db.pool.fetchval(
        "SELECT s3_key FROM uploads WHERE id = $1", broken[0]
    )
    real_abort = services.storage.abort

    async def abort(key: str, upload_id: str) -> None:
        if key == broken_key:
            raise OSError("storage hiccup")
        await real_abort(key, upload_id)

    monkeypatch.setattr(services.storage, "abort", abort)
    assert await sweep_expired_uploads(services.writes, services.storage) == 2
    rows = {
        r["id"]: (r["status"], r["video_status"], r["failure_reason"])
        for r in await services.db.pool.fetch(
            "SELECT u.id, u.status, v.status AS video_status, v.failure_reason"
            " FROM uploads u JOIN videos v ON v.id = u.video_id"
        )
    }
    assert rows[failed[0]] == ("EXPIRED", "FAILED", "earlier")
    assert rows[plain[0]] == ("EXPIRED", "FAILED", EXPIRED_REASON)
    assert rows[broken[0]] == ("PENDING", "UPLOADING", None)
    assert any("could not expire upload" in r.getMessage() for r in caplog.records)


async def test_uploads_take_their_visibility_from_uppy_metadata_and_graphql(
    uploader: Uploader,
) -> None:
    auth = {"authorization": f"Bearer {uploader.token}"}
    meta = {
        "name": "a.mp4",
        "type": "video/mp4",
        "title": "Mine",
        "visibility": "PRIVATE",
        "size": MIB,
    }
    created = await uploader.client.post(
        "/s3/multipart",
        headers=auth,
        json={"filename": "a.mp4", "type": "video/mp4", "metadata": meta},
    )
    assert created.status_code == 200, created.text
    refused = await uploader.client.post(
        "/s3/multipart",
        headers=auth,
        json={
            "filename": "b.mp4",
            "type": "video/mp4",
            "metadata": {**meta, "visibility": "SECRET"},
        },
    )
    assert refused.status_code == 400 and "visibility" in refused.text
    body = await uploader.gql(
        "mutation($i: CreateUploadInput!) { createUpload(input: $i) { video { visibility } } }",
        {
            "i": {
                "filename": "c.mp4",
                "contentType": "video/mp4",
                "sizeBytes": 10,
                "visibility": "UNLISTED",
            }
        },
    )
    assert body["data"]["createUpload"]["video"]["visibility"] == "UNLISTED"
    rows = await uploader.services.db.pool.fetch(
        "SELECT title, visibility::text FROM videos ORDER BY title"
    )
    assert [tuple(r) for r in rows] == [("Mine", "PRIVATE"), ("c", "UNLISTED")]
