"""Where Prefect keeps the chunk tasks' parameters and results: a prefect-aws S3 bucket block
over our own object storage (the raw bucket, under prefect/), so a task delayed on one machine
can run on any other. The block names no secret: boto3 finds the keys in the environment,
which `use_work_storage` fills from our settings."""

from __future__ import annotations

import os

from prefect_aws import AwsCredentials, S3Bucket
from prefect_aws.client_parameters import AwsClientParameters

from streamify.infra.settings import Settings
from streamify.names import WORK_STORAGE_BLOCK, WORK_STORAGE_FOLDER

_saved: set[tuple[str | None, str]] = set()


def work_storage_block(settings: Settings) -> S3Bucket:
    return S3Bucket(
        bucket_name=settings.s3_raw_bucket,
        bucket_folder=WORK_STORAGE_FOLDER,
        credentials=AwsCredentials(
            region_name=settings.s3_region,
            aws_client_parameters=AwsClientParameters(endpoint_url=settings.s3_endpoint_url),
        ),
    )


def _credentials_in_environment(settings: Settings) -> None:
    os.environ["AWS_ACCESS_KEY_ID"] = settings.s3_access_key_id
    os.environ["AWS_SECRET_ACCESS_KEY"] = settings.s3_secret_access_key


async def use_work_storage(settings: Settings) -> None:
    """Save the block (once per process and configuration) and give boto3 its keys."""
    _credentials_in_environment(settings)
    identity = (settings.s3_endpoint_url, settings.s3_raw_bucket)
    if identity in _saved:
        return
    await work_storage_block(settings).asave(WORK_STORAGE_BLOCK.split("/", 1)[1], overwrite=True)
    _saved.add(identity)
