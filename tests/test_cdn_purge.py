"""With a CloudFront distribution configured, hiding, publishing or deleting a video
invalidates its files there (CloudFront, unlike the dev and compose CDN, does not ask the API
about each request). moto serves CloudFront's API on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer

from streamify.app import create_app
from streamify.devtools.local import free_port
from streamify.infra.settings import Settings
from streamify.services import Services, open_services
from tests.helpers import gql, insert_user, insert_video, token_for
from tests.servers import with_state


@pytest.fixture
async def cloudfront() -> AsyncIterator[tuple[str, Any, str]]:
    from aiobotocore.session import get_session

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    config: Any = {
        "CallerReference": "streamify-test",
        "DefaultCacheBehavior": {"TargetOriginId": "media", "ViewerProtocolPolicy": "allow-all"},
        "Comment": "",
        "Enabled": True,
    }
    origin = {
        "Id": "media",
        "DomainName": "media.s3.amazonaws.com",
        "S3OriginConfig": {"OriginAccessIdentity": ""},
    }
    try:
        async with get_session().create_client(
            "cloudfront",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="streamify",
            aws_secret_access_key="streamify-secret-key",
        ) as client:
            config["Origins"] = {"Quantity": 1, "Items": [origin]}
            created = await client.create_distribution(DistributionConfig=config)
            yield endpoint, client, created["Distribution"]["Id"]
    finally:
        server.stop()


@pytest.fixture
async def purging(
    settings: Settings, clean_db: None, cloudfront: tuple[str, Any, str]
) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    endpoint, _, distribution = cloudfront
    settings = settings.model_copy(
        update={"cloudfront_distribution_id": distribution, "cloudfront_endpoint_url": endpoint}
    )
    async with open_services(settings, background_jobs=False) as services:
        app = with_state(create_app(settings), services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield services, http


async def _invalidated(cloudfront: tuple[str, Any, str]) -> list[list[str]]:
    _, client, distribution = cloudfront
    listed = (await client.list_invalidations(DistributionId=distribution))["InvalidationList"]
    batches = []
    for item in listed.get("Items", []):
        found = await client.get_invalidation(DistributionId=distribution, Id=item["Id"])
        batches.append(sorted(found["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]))
    return batches


async def test_hiding_and_deleting_a_video_invalidate_its_files(
    purging: tuple[Services, httpx.AsyncClient], cloudfront: tuple[str, Any, str]
) -> None:
    services, http = purging
    owner = await insert_user(services.db.pool)
    token = token_for(services.settings, owner)
    video_id = await insert_video(services.db.pool, owner)
    paths = sorted([f"/videos/{video_id}/*", f"/signed/{video_id}/*"])

    rename = 'mutation($id: ID!) { updateVideo(id: $id, input: {title: "New"}) { id } }'
    assert "errors" not in await gql(http, rename, {"id": str(video_id)}, token=token)
    assert await _invalidated(cloudfront) == []  # the files did not change

    hide = "mutation($id: ID!) { updateVideo(id: $id, input: {visibility: PRIVATE}) { id } }"
    assert "errors" not in await gql(http, hide, {"id": str(video_id)}, token=token)
    assert await _invalidated(cloudfront) == [paths]

    delete = "mutation($id: ID!) { deleteVideo(id: $id) }"
    assert "errors" not in await gql(http, delete, {"id": str(video_id)}, token=token)
    assert await _invalidated(cloudfront) == [paths, paths]
