"""S3 through aiobotocore: multipart uploads, presigned part URLs, object reads. One client per
process, owned by the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from streamify.infra.settings import Settings
from streamify.names import media_prefix, upload_prefix

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import ObjectIdentifierTypeDef
    from types_aiobotocore_sqs import SQSClient

# S3's multipart rules.
MIN_PART_BYTES = 5 * 1024**2
MAX_PART_BYTES = 5 * 1024**3
MAX_PARTS = 10_000

STORAGE_ERRORS = (BotoCoreError, ClientError, OSError)


@dataclass(frozen=True, slots=True)
class StoredPart:
    part_number: int
    size_bytes: int
    etag: str


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


class Storage:
    def __init__(
        self, client: S3Client, settings: Settings, *, browser_signer: S3Client | None = None
    ) -> None:
        """`browser_signer` signs the URLs browsers use, for the endpoint they reach S3 at
        (`s3_public_endpoint_url`); without one, `client` signs them for its own endpoint."""
        self.client = client
        self.browser_signer = browser_signer or client
        self.raw_bucket = settings.s3_raw_bucket
        self.media_bucket = settings.s3_media_bucket

    async def create_multipart(self, key: str, *, content_type: str) -> str:
        created = await self.client.create_multipart_upload(
            Bucket=self.raw_bucket, Key=key, ContentType=content_type
        )
        return created["UploadId"]

    async def presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires: int,
        content_length: int | None = None,
    ) -> str:
        """A presigned PUT of one part. With `content_length` the signature covers the
        Content-Length header, so S3 refuses a body of any other size."""
        params = {"Bucket": self.raw_bucket, "Key": key, "UploadId": upload_id}
        params["PartNumber"] = part_number  # type: ignore[assignment]
        if content_length is not None:
            params["ContentLength"] = content_length  # type: ignore[assignment]
        # Signing is local computation: no request reaches S3.
        return await self.browser_signer.generate_presigned_url(
            "upload_part", Params=params, ExpiresIn=expires
        )

    async def list_parts(self, key: str, upload_id: str) -> list[StoredPart]:
        parts: list[StoredPart] = []
        marker = 0
        while True:
            page = await self.client.list_parts(
                Bucket=self.raw_bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker
            )
            parts += [
                StoredPart(p["PartNumber"], p["Size"], p["ETag"].strip('"'))
                for p in page.get("Parts", [])
            ]
            if not page.get("IsTruncated"):
                return parts
            marker = page["NextPartNumberMarker"]

    async def complete(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> str:
        await self.client.complete_multipart_upload(
            Bucket=self.raw_bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": f'"{etag}"'} for n, etag in parts]
            },
        )
        return f"{self.raw_bucket}/{key}"

    async def abort(self, key: str, upload_id: str) -> None:
        try:
            await self.client.abort_multipart_upload(
                Bucket=self.raw_bucket, Key=key, UploadId=upload_id
            )
        except ClientError as exc:
            if error_code(exc) not in ("NoSuchUpload", "404"):
                raise

    async def delete_video_objects(self, video_id: UUID) -> int:
        """Remove a video's source, pending parts and published media (both spaces)."""
        deleted = await delete_prefix(self.client, self.raw_bucket, upload_prefix(video_id))
        return deleted + await self.delete_media(video_id)

    async def delete_media(self, video_id: UUID, *, signed: bool | None = None) -> int:
        """Remove a video's published media: of one space, or (None) of both."""
        spaces = (False, True) if signed is None else (signed,)
        deleted = 0
        for in_signed in spaces:
            prefix = media_prefix(video_id, signed=in_signed)
            deleted += await delete_prefix(self.client, self.media_bucket, prefix)
        return deleted

    async def copy_media(self, video_id: UUID, *, to_signed: bool) -> int:
        """Copy a video's published media into the other space (server-side copies); the
        source stays until `delete_media`. Returns how many objects were copied."""
        source = media_prefix(video_id, signed=not to_signed)
        target = media_prefix(video_id, signed=to_signed)
        keys = await list_keys(self.client, self.media_bucket, source)
        semaphore = asyncio.Semaphore(16)

        async def copy(key: str) -> None:
            async with semaphore:
                await self.client.copy_object(
                    Bucket=self.media_bucket,
                    Key=target + key.removeprefix(source),
                    CopySource={"Bucket": self.media_bucket, "Key": key},
                )

        await asyncio.gather(*(copy(key) for key in keys))
        return len(keys)

    async def presign_media_get(self, key: str, *, expires: int = 60) -> str:
        """A short-lived GET of one media object: how the dev and compose CDNs read the
        bucket, which allows no anonymous access at all (CloudFront uses origin access
        control instead)."""
        return await self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.media_bucket, "Key": key}, ExpiresIn=expires
        )

    async def read_media(self, key: str) -> bytes | None:
        try:
            got = await self.client.get_object(Bucket=self.media_bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        async with got["Body"] as body:
            return await body.read()

    async def object_size(self, bucket: str, key: str) -> int | None:
        try:
            head = await self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return head["ContentLength"]


@contextlib.asynccontextmanager
async def open_storage(settings: Settings) -> AsyncIterator[Storage]:
    session = get_session()
    config = AioConfig(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=50,
    )

    def client(endpoint: str | None) -> Any:
        return session.create_client(
            "s3",
            region_name=settings.s3_region,
            endpoint_url=endpoint,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=settings.s3_secret_access_key,
            config=config,
        )

    async with contextlib.AsyncExitStack() as stack:
        own = await stack.enter_async_context(client(settings.s3_endpoint_url))
        # A signature covers the host: URLs for browsers are signed for the host they reach
        # (a SigV4 signature is computed locally; this client sends no request).
        public = settings.s3_public_endpoint_url
        signer = await stack.enter_async_context(client(public)) if public else None
        yield Storage(own, settings, browser_signer=signer)


@contextlib.asynccontextmanager
async def open_sqs(settings: Settings) -> AsyncIterator[SQSClient]:
    session = get_session()
    async with session.create_client(
        "sqs",
        region_name=settings.s3_region,
        endpoint_url=settings.sqs_endpoint_url or settings.s3_endpoint_url,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
        # Long polls last up to 20 s; the read timeout must outlast them.
        config=AioConfig(connect_timeout=5, read_timeout=30),
    ) as client:
        yield client


async def list_keys(client: S3Client, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    return keys


async def delete_prefix(client: S3Client, bucket: str, prefix: str) -> int:
    """Delete every object under `prefix`; returns how many were deleted."""
    deleted = 0
    paginator = client.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys: list[ObjectIdentifierTypeDef] = [
            {"Key": obj["Key"]} for obj in page.get("Contents", [])
        ]
        if keys:
            await client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted
