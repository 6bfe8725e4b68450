"""Buckets, CORS and the raw bucket's ObjectCreated notifications, for a local S3 server
(`streamify dev`, tests). In production these are infrastructure, not application code."""

from __future__ import annotations

from botocore.exceptions import ClientError

from streamify.infra.settings import Settings
from streamify.infra.storage import error_code, open_sqs, open_storage
from streamify.names import UPLOADS_PREFIX


async def prepare_s3(settings: Settings, *, queue_name: str = "streamify-raw-events") -> str:
    """Create both buckets and an SQS queue that receives the raw bucket's ObjectCreated
    events for `uploads/`; returns the queue URL."""
    async with open_storage(settings) as storage, open_sqs(settings) as sqs:
        s3 = storage.client
        for bucket in (settings.s3_raw_bucket, settings.s3_media_bucket):
            try:
                await s3.create_bucket(Bucket=bucket)
            except ClientError as exc:
                if error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
        # Browsers PUT parts straight to the raw bucket and must read each part's ETag.
        await s3.put_bucket_cors(
            Bucket=settings.s3_raw_bucket,
            CORSConfiguration={
                "CORSRules": [
                    {
                        "AllowedOrigins": settings.cors_allow_origins,
                        "AllowedMethods": ["PUT", "GET", "HEAD"],
                        "AllowedHeaders": ["*"],
                        "ExposeHeaders": ["ETag"],
                        "MaxAgeSeconds": 3000,
                    }
                ]
            },
        )
        queue_url = (await sqs.create_queue(QueueName=queue_name))["QueueUrl"]
        attributes = await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        await s3.put_bucket_notification_configuration(
            Bucket=settings.s3_raw_bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": attributes["Attributes"]["QueueArn"],
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {"FilterRules": [{"Name": "prefix", "Value": UPLOADS_PREFIX}]}
                        },
                    }
                ]
            },
        )
    return queue_url
