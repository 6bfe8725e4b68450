"""Telling the CDN that a video's files changed (a visibility change moved them, a delete
removed them). The dev and compose CDNs ask the API about every request, cached copies
included, so they need no telling. CloudFront does not ask: with a distribution configured,
its cached copies of the video's paths are invalidated."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from streamify.infra.settings import Settings
from streamify.infra.storage import STORAGE_ERRORS
from streamify.names import media_prefix

if TYPE_CHECKING:
    from types_aiobotocore_cloudfront import CloudFrontClient

log = logging.getLogger(__name__)


class CdnPurge(Protocol):
    async def purge(self, video_id: UUID) -> None: ...


class AskedPerRequest:
    """The dev and compose CDN: every request is authorized by the API, nothing to purge."""

    async def purge(self, video_id: UUID) -> None:
        return None


class CloudFrontInvalidation:
    def __init__(self, client: CloudFrontClient, distribution_id: str) -> None:
        self.client = client
        self.distribution_id = distribution_id

    async def purge(self, video_id: UUID) -> None:
        """Invalidate the video's files in both spaces. Best effort: a failure is logged,
        and the copies expire by their own cache lifetimes."""
        paths = [f"/{media_prefix(video_id, signed=s)}*" for s in (False, True)]
        try:
            await self.client.create_invalidation(
                DistributionId=self.distribution_id,
                InvalidationBatch={
                    "Paths": {"Quantity": len(paths), "Items": paths},
                    "CallerReference": f"{video_id}-{uuid.uuid4()}",
                },
            )
        except STORAGE_ERRORS:
            log.warning("CloudFront did not take the invalidation of video %s", video_id)


@contextlib.asynccontextmanager
async def open_cdn_purge(settings: Settings) -> AsyncIterator[CdnPurge]:
    if settings.cloudfront_distribution_id is None:
        yield AskedPerRequest()
        return
    async with get_session().create_client(
        "cloudfront",
        region_name=settings.s3_region,
        endpoint_url=settings.cloudfront_endpoint_url,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
        config=AioConfig(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3}),
    ) as client:
        yield CloudFrontInvalidation(client, settings.cloudfront_distribution_id)
