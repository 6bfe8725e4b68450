"""What a presigned part URL does with an unsigned `x-amz-copy-source` (issue 34.7).

A part URL is signed by the API with the server's credentials. If S3 honoured a copy-source
header the browser adds but the signature does not cover, the PUT would become UploadPartCopy
with the server's rights: any object of any bucket copied into the caller's upload. This
test performs exactly that against the local S3 server and states what it does; the edge
(deploy/nginx/edge.conf.template, tests/infra/test_edge.py) passes no `x-amz-*` header of a
client's to S3 whatever the answer."""

from __future__ import annotations

import uuid

import httpx

from streamify.services import Services


async def test_an_unsigned_copy_source_on_a_part_url_copies_nothing(services: Services) -> None:
    """SeaweedFS answers 403 SignatureDoesNotMatch and stores nothing: the header changes
    the operation the signature was made for. The same URL without it stores the part."""
    storage = services.storage
    secret = b"the media bucket's private bytes " * 64
    secret_key = f"signed/{uuid.uuid4()}/hls/secret.bin"
    await storage.client.put_object(Bucket=storage.media_bucket, Key=secret_key, Body=secret)
    key = f"uploads/{uuid.uuid4()}/source"
    upload_id = await storage.create_multipart(key, content_type="video/mp4")
    own = b"x" * 1024
    copy = {"x-amz-copy-source": f"/{storage.media_bucket}/{secret_key}"}
    try:
        async with httpx.AsyncClient() as http:
            for bound in (None, len(own)):
                url = await storage.presign_part(
                    key, upload_id, 1, expires=60, content_length=bound
                )
                answer = await http.put(url, content=own, headers=copy)
                assert answer.status_code == 403, answer.text
                assert "<Code>SignatureDoesNotMatch</Code>" in answer.text
                assert await storage.list_parts(key, upload_id) == []
            plain = await http.put(url, content=own)
            assert plain.status_code == 200, plain.text
            stored = await storage.list_parts(key, upload_id)
            assert [part.size_bytes for part in stored] == [len(own)]
    finally:
        await storage.client.abort_multipart_upload(
            Bucket=storage.raw_bucket, Key=key, UploadId=upload_id
        )
