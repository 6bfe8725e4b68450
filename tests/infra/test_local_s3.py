"""The local S3 (SeaweedFS) behaves like S3: it keeps objects across a restart on the same port,
checks presigned URLs' signatures and expiry (403), answers S3's XML errors with 4xx codes,
and lets anonymous readers read and list nothing (the CDN reads media through presigned GETs)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path

import httpx

from streamify.devtools.local import free_port
from streamify.devtools.s3_setup import prepare_s3
from streamify.devtools.seaweed import embedded_s3, s3_answers
from streamify.infra.settings import Settings
from streamify.infra.storage import open_storage
from streamify.names import master_key, source_key

KEYS = {"access_key": "streamify", "secret_key": "streamify-secret-key"}


def settings_for(endpoint: str) -> Settings:
    return Settings(
        s3_endpoint_url=endpoint, s3_raw_bucket="local-raw", s3_media_bucket="local-media"
    )


async def test_the_local_s3_checks_signatures_and_keeps_data(tmp_path: Path) -> None:
    port = free_port()
    video = uuid.uuid4()
    with embedded_s3(tmp_path, **KEYS, port=port) as local:
        settings = settings_for(local.endpoint)
        await prepare_s3(settings)
        async with open_storage(settings) as storage, httpx.AsyncClient() as http:
            upload = await storage.create_multipart(source_key(video), content_type="video/mp4")
            url = await storage.presign_part(
                source_key(video), upload, 1, expires=60, content_length=5
            )
            assert (await http.put(url, content=b"hello")).status_code == 200
            assert (await http.put(url, content=b"hello world")).status_code == 403
            tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
            refused = await http.put(tampered, content=b"hello")
            assert refused.status_code == 403
            assert "<Code>SignatureDoesNotMatch</Code>" in refused.text
            unsigned = await http.put(url.split("?")[0], content=b"hello")
            assert unsigned.status_code == 403
            soon = await storage.presign_part(source_key(video), upload, 2, expires=1)
            await asyncio.sleep(2)  # a presigned URL's expiry is S3's real clock
            expired = await http.put(soon, content=b"hello")
            assert expired.status_code == 403 and "expired" in expired.text
            unknown = await storage.client.list_parts(
                Bucket=settings.s3_raw_bucket, Key=source_key(video), UploadId=upload
            )
            assert [p["PartNumber"] for p in unknown.get("Parts", [])] == [1]
            gone = await http.get(f"{local.endpoint}/{settings.s3_raw_bucket}/nope")
            assert gone.status_code in (403, 404) and gone.text.startswith("<?xml")

            await storage.client.put_object(
                Bucket=settings.s3_media_bucket, Key=master_key(video), Body=b"#EXTM3U\n"
            )
            media = f"{local.endpoint}/{settings.s3_media_bucket}"
            assert (await http.get(f"{media}/{master_key(video)}")).status_code == 403
            presigned = await storage.presign_media_get(master_key(video))
            assert (await http.get(presigned)).content == b"#EXTM3U\n"
            assert (await http.get(f"{media}/")).status_code == 403  # no listing
            raw = f"{local.endpoint}/{settings.s3_raw_bucket}/{source_key(video)}"
            assert (await http.get(raw)).status_code == 403  # uploads are not public

    # Stopped and started again on the same port and folder: everything is still there.
    with embedded_s3(tmp_path, **KEYS, port=port) as again:
        assert again.endpoint == local.endpoint
        async with open_storage(settings_for(again.endpoint)) as storage:
            kept = await storage.read_media(master_key(video))
            parts = await storage.list_parts(source_key(video), upload)
        assert kept == b"#EXTM3U\n"
        assert [p.part_number for p in parts] == [1]


def test_a_bound_port_is_not_an_s3_that_answers(tmp_path: Path) -> None:
    """Readiness is an HTTP answer: a port that accepts and says nothing (a gateway still
    starting, or somebody else's) does not count; an S3 that refuses an anonymous caller does."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        assert not s3_answers(silent.getsockname()[1])
    with embedded_s3(tmp_path, **KEYS, port=None) as local:
        port = int(local.endpoint.rsplit(":", 1)[1])
        assert s3_answers(port)
    assert not s3_answers(port)
