"""Helpers of the transcoding tests: a video whose source is in S3, a registered deployment."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from pathlib import Path

from prefect.client.orchestration import PrefectClient
from prefect.exceptions import ObjectNotFound

from streamify.names import TRANSCODE_DEPLOYMENT, source_key
from streamify.services import Services
from tests.helpers import insert_user


async def uploaded_video(services: Services, source: Path) -> uuid.UUID:
    owner = await insert_user(services.db.pool)
    video_id = uuid.uuid4()
    await services.db.pool.execute(
        "INSERT INTO videos (id, owner_id, title, status) VALUES ($1, $2, 'Clip', 'UPLOADED')",
        video_id,
        owner,
    )
    await services.storage.client.put_object(
        Bucket=services.storage.raw_bucket,
        Key=source_key(video_id),
        Body=source.read_bytes(),
    )
    return video_id


async def wait_for_deployment(prefect_url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the worker has registered the transcoding deployment."""
    deadline = time.monotonic() + 60
    async with PrefectClient(prefect_url) as client:
        while True:
            try:
                await client.read_deployment_by_name(TRANSCODE_DEPLOYMENT)
                return
            except ObjectNotFound:
                pass
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the worker did not register"
            await asyncio.sleep(0.5)
