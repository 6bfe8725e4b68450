"""The CDN's endpoints answer only the CDN (issue 22.7). Before, anyone could call
/cdn/authorize on the API port with a forged X-Original-URI and receive a presigned S3 GET,
the internal S3 host, the access key id and a reason revealing whether a video existed."""

from __future__ import annotations

import uuid

import httpx

from streamify.names import hls_key
from streamify.services import Services
from tests.helpers import insert_user, insert_video


async def test_outsiders_get_a_bare_403_and_the_cdn_gets_its_answer(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner, title="Public")
    real = "/" + hls_key(video, "master.m3u8")
    missing = "/" + hls_key(uuid.uuid4(), "master.m3u8")
    secret = services.settings.cdn_shared_secret
    for forged in (real, missing):
        for headers in ({}, {"x-cdn-secret": "guess"}, {"x-cdn-secret": secret[:-1]}):
            answer = await client.get(
                "/cdn/authorize", headers={"x-original-uri": forged, **headers}
            )
            assert answer.status_code == 403
            assert answer.content == b""
            leaked = {"x-origin-host", "x-origin-path", "x-media-refusal"} & set(answer.headers)
            assert leaked == set(), leaked
        signed = await client.get(f"/cdn/signed/{forged.removeprefix('/signed/')}")
        assert signed.status_code == 403 and signed.content == b""
    # The CDN itself: the file it may serve, and a bare refusal for what does not exist.
    cdn = {"x-cdn-secret": secret}
    allowed = await client.get("/cdn/authorize", headers={"x-original-uri": real, **cdn})
    assert allowed.status_code == 204 and allowed.headers["x-origin-path"]
    refused = await client.get("/cdn/authorize", headers={"x-original-uri": missing, **cdn})
    assert refused.status_code == 403 and "x-media-refusal" not in refused.headers
