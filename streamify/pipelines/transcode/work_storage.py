"""Where Prefect keeps the chunk tasks' parameters and results: a prefect-aws S3 bucket block
over our own object storage (the raw bucket, under prefect/), so a task delayed on one machine
can run on any other.

The block saved in Prefect names only the bucket and the folder. Each process uses its own
copy of it, bound to that saved document, with its own S3 endpoint and keys from its settings:
no secret is stored in Prefect, and two processes that reach one bucket by different addresses
(a machine behind a proxy) still share it. The parent flow never loads a chunk's result back
from storage (it reads the run's state and times from the API), so no process ever needs
another's copy."""

from __future__ import annotations

from prefect_aws import AwsCredentials, S3Bucket
from prefect_aws.client_parameters import AwsClientParameters
from pydantic import SecretStr

from streamify.infra.settings import Settings
from streamify.names import WORK_STORAGE_BLOCK, WORK_STORAGE_FOLDER

_bound: dict[tuple[str | None, str, str], S3Bucket] = {}


async def work_storage(settings: Settings) -> S3Bucket:
    """This process's copy of the work storage block (saved in Prefect once per process)."""
    identity = (settings.s3_endpoint_url, settings.s3_raw_bucket, settings.s3_access_key_id)
    found = _bound.get(identity)
    if found is not None:
        return found
    name = WORK_STORAGE_BLOCK.split("/", 1)[1]
    shared = S3Bucket(
        bucket_name=settings.s3_raw_bucket,
        bucket_folder=WORK_STORAGE_FOLDER,
        credentials=AwsCredentials(region_name=settings.s3_region),
    )
    document_id = await shared.asave(name, overwrite=True)
    local = S3Bucket(
        bucket_name=settings.s3_raw_bucket,
        bucket_folder=WORK_STORAGE_FOLDER,
        credentials=AwsCredentials(
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=SecretStr(settings.s3_secret_access_key),
            aws_client_parameters=AwsClientParameters(endpoint_url=settings.s3_endpoint_url),
        ),
    )
    # Bound to the saved document: results and parameters written through it name that block.
    local._block_document_id = document_id
    local._block_document_name = name
    _bound[identity] = local
    return local
