"""The dev event forwarder loses nothing at start (issue 22.10): an upload whose object was
created before the forwarder followed SeaweedFS's metadata stream (or while `streamify dev`
was stopped) still becomes an S3 event, and a replay starts nothing twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from streamify.app import create_app
from streamify.devtools.seaweed import forward_to_hook
from streamify.infra.settings import Settings
from streamify.names import source_key
from streamify.services import Services, open_services
from tests.pipelines.prefect import uploaded_video
from tests.servers import SessionS3, serve_app, with_state
from tests.test_uploads import Recorder


async def test_an_object_created_before_the_forwarder_started_becomes_an_event(
    services: Services,
    settings: Settings,
    local_s3: SessionS3,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    source = tmp_path / "early.mp4"
    source.write_bytes(b"\x00" * 2048)
    video = await uploaded_video(services, source)  # its object exists before any forwarder
    recorder = Recorder()
    async with (
        open_services(settings, start_processing=recorder) as api,
        serve_app(with_state(create_app(settings), api)) as base,
    ):
        hook = f"{base}/hooks/s3"
        ignored = f"duplicate or orphan event for {source_key(video)} ignored"

        async def run_forwarder_until(done: Callable[[], bool]) -> None:
            forwarding = asyncio.create_task(
                forward_to_hook(
                    local_s3.server, settings.s3_raw_bucket, hook, settings.s3_webhook_secret
                )
            )
            try:
                async with asyncio.timeout(20):
                    while not done():
                        await asyncio.sleep(0.1)
            finally:
                forwarding.cancel()

        with caplog.at_level(logging.INFO, logger="streamify.pipelines.triggers.event_intake"):
            await run_forwarder_until(lambda: any(v == video for v, _ in recorder.calls))
            # Started again, as dev is after a restart: the replay delivers it again, and the
            # API ignores it.
            await run_forwarder_until(lambda: ignored in caplog.text)
    assert [v for v, _ in recorder.calls].count(video) == 1
