"""Buckets and CORS for a local S3 server (`streamify dev`, tests). In production these are
infrastructure, not application code."""

from __future__ import annotations

from botocore.exceptions import ClientError

from streamify.infra.settings import Settings
from streamify.infra.storage import error_code, open_storage


async def prepare_s3(settings: Settings) -> None:
    """Create both buckets; let browsers PUT parts to the raw bucket and read each part's ETag,
    and read media from the media bucket."""
    async with open_storage(settings) as storage:
        s3 = storage.client
        for bucket in (settings.s3_raw_bucket, settings.s3_media_bucket):
            try:
                await s3.create_bucket(Bucket=bucket)
            except ClientError as exc:
                if error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
        # Uploads only from the API's browser origins; media (the dev CDN) to any page, as a
        # CDN serves it.
        rules = {
            settings.s3_raw_bucket: (settings.cors_allow_origins, ["PUT", "GET", "HEAD"]),
            settings.s3_media_bucket: (["*"], ["GET", "HEAD"]),
        }
        for bucket, (origins, methods) in rules.items():
            await s3.put_bucket_cors(
                Bucket=bucket,
                CORSConfiguration={
                    "CORSRules": [
                        {
                            "AllowedOrigins": origins,
                            "AllowedMethods": methods,
                            "AllowedHeaders": ["*"],
                            "ExposeHeaders": ["ETag"],
                            "MaxAgeSeconds": 3000,
                        }
                    ]
                },
            )
