"""Storage quotas (issue 22.3). Before, `POST /s3/multipart` without a size made an upload of
10,000 parts whose URLs carried no length: one user could store tens of TiB for a day. Now an
upload must declare its size (its part URLs are bound to exact lengths), and per-user quotas
on pending and stored bytes are checked at creation, at signing and at completion."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from streamify.app import create_app
from streamify.services import Services, open_services
from tests.documents import COMPLETE, CREATE, SIGN, put_part
from tests.helpers import gql, insert_user, token_for
from tests.servers import with_state

MIB = 1024 * 1024


@asynccontextmanager
async def api(services: Services, **quotas: int) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    settings = services.settings.model_copy(update=quotas)
    async with open_services(settings, background_jobs=False) as opened:
        app = with_state(create_app(settings), opened)
        user = await insert_user(opened.db.pool)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api"
        ) as client:
            yield client, token_for(settings, user)


async def create(client: httpx.AsyncClient, token: str, size: int) -> dict[str, Any]:
    variables = {
        "input": {
            "filename": "clip.mp4",
            "contentType": "video/mp4",
            "sizeBytes": size,
            "partSizeBytes": max(size, 5 * MIB),
        }
    }
    return await gql(client, CREATE, variables, token=token)


def code(body: dict[str, Any]) -> tuple[str, str | None]:
    extensions = body["errors"][0]["extensions"]
    return extensions["code"], extensions.get("limit")


async def test_pending_uploads_cannot_pass_the_quota_even_all_at_once(services: Services) -> None:
    async with api(services, upload_quota_pending_bytes=12 * MIB) as (client, token):
        first = await create(client, token, 10 * MIB)
        assert "errors" not in first, first
        refused = await create(client, token, 5 * MIB)
        assert code(refused) == ("QUOTA_EXCEEDED", "STREAMIFY_UPLOAD_QUOTA_PENDING_BYTES")
        # Five at once: the creates are serialised per user, so at most what fits gets in.
        raced = await asyncio.gather(*(create(client, token, 1 * MIB) for _ in range(5)))
        assert sum("errors" not in r for r in raced) == 2
    pending = await services.db.pool.fetchval(
        "SELECT sum(size_bytes) FROM uploads WHERE status = 'PENDING'"
    )
    assert pending == 12 * MIB


async def test_a_client_that_lies_about_sizes_stores_no_more_than_it_declared(
    services: Services,
) -> None:
    async with api(services, upload_quota_pending_bytes=8 * MIB) as (client, token):
        created = (await create(client, token, 1 * MIB))["data"]["createUpload"]
        [part] = (await gql(client, SIGN, {"id": created["id"], "parts": [1]}, token=token))[
            "data"
        ]["signUploadParts"]
        async with httpx.AsyncClient() as s3:
            bigger = await s3.put(part["url"], content=b"x" * (6 * MIB))
        assert bigger.status_code in (400, 403), bigger.status_code  # the URL binds 1 MiB
        # Parts past the declared count are never signed either.
        more = await gql(client, SIGN, {"id": created["id"], "parts": [2]}, token=token)
        assert code(more)[0] == "BAD_USER_INPUT"
        etag = await put_part(part["url"], b"y" * MIB)
        done = await gql(
            client,
            COMPLETE,
            {"id": created["id"], "parts": [{"partNumber": 1, "etag": etag}]},
            token=token,
        )
        assert done["data"]["completeUpload"]["sizeBytes"] == MIB


async def test_uploads_without_a_size_are_refused_on_every_route(services: Services) -> None:
    async with api(services) as (client, token):
        auth = {"authorization": f"Bearer {token}"}
        uppy = await client.post(
            "/s3/multipart",
            headers=auth,
            json={"filename": "a.mp4", "type": "video/mp4", "metadata": {"name": "a.mp4"}},
        )
        assert uppy.status_code == 400 and "size" in uppy.json()["error"]["message"]
    assert await services.db.pool.fetchval("SELECT count(*) FROM uploads") == 0


async def test_stored_sources_cannot_pass_the_storage_quota(services: Services) -> None:
    async with api(services, storage_quota_bytes=8 * MIB) as (client, token):
        created = (await create(client, token, 6 * MIB))["data"]["createUpload"]
        [part] = (await gql(client, SIGN, {"id": created["id"], "parts": [1]}, token=token))[
            "data"
        ]["signUploadParts"]
        etag = await put_part(part["url"], b"z" * (6 * MIB))
        parts = [{"partNumber": 1, "etag": etag}]
        done = await gql(client, COMPLETE, {"id": created["id"], "parts": parts}, token=token)
        assert "errors" not in done, done
        refused = await create(client, token, 3 * MIB)
        assert code(refused) == ("QUOTA_EXCEEDED", "STREAMIFY_STORAGE_QUOTA_BYTES")
        # Over REST too, as Uppy sees it: 413 with the same code.
        uppy = await client.post(
            "/s3/multipart",
            headers={"authorization": f"Bearer {token}"},
            json={
                "filename": "b.mp4",
                "type": "video/mp4",
                "metadata": {"name": "b.mp4", "size": 3 * MIB},
            },
        )
        assert uppy.status_code == 413 and uppy.json()["error"]["code"] == "QUOTA_EXCEEDED"
