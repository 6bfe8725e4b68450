"""The encoders' work: one chunk of one group of rungs, as a Prefect background task.

The parent flow delays `encode_chunk` runs; any `streamify encoder` process (a Prefect task
worker) takes them. Parameters and the result live in the work storage block (S3), the source
is read from S3 through a presigned URL (ffmpeg seeks to the chunk, never downloads the whole),
and the outputs go to deterministic keys: a chunk encoded twice overwrites itself. The task
knows nothing of the database or Redis; the parent does the bookkeeping."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from prefect import task
from prefect.client.orchestration import get_client
from prefect.concurrency.asyncio import concurrency

from streamify.infra.settings import Settings
from streamify.infra.storage import open_storage
from streamify.names import (
    ENCODE_CHUNK_TASK,
    chunk_key,
    encoder_host_limit,
    source_key,
)
from streamify.pipelines.transcode import encoding
from streamify.pipelines.transcode.encoding import Chunk
from streamify.pipelines.transcode.media import Rung, SourceInfo
from streamify.pipelines.transcode.retry import retry_unless_media_error
from streamify.pipelines.transcode.work_storage import work_storage

# How long ffmpeg may keep reading the source through one presigned URL.
SOURCE_URL_SECONDS = 6 * 3600
# A dead encoder's host slot returns after this (its lease is renewed while it lives).
HOST_SLOT_LEASE_SECONDS = 60


def host_name() -> str:
    return socket.gethostname()


async def register_host(settings: Settings) -> None:
    """The machine's limit: at most its cores' worth of chunks at once, whatever number of
    encoder processes run on it (`docker compose --scale encoder=N` included)."""
    slots = settings.encoder_host_slots or os.cpu_count() or 1
    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(encoder_host_limit(host_name()), slots)


@contextlib.asynccontextmanager
async def host_slot() -> AsyncIterator[None]:
    async with concurrency(
        encoder_host_limit(host_name()), occupy=1, lease_duration=HOST_SLOT_LEASE_SECONDS
    ):
        yield


@task(
    name=ENCODE_CHUNK_TASK,
    # Stored through each process's own copy of the work storage block (with_options).
    persist_result=True,
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=retry_unless_media_error,
)
async def encode_chunk(
    video_id: str,
    chunk: dict[str, Any],
    rungs: list[dict[str, Any]],
    source: dict[str, Any],
    timeout_seconds: float,
    *,
    fast: bool = False,
) -> dict[str, float]:
    """Encode one chunk of these rungs to their chunk keys; the seconds ffmpeg took."""
    settings = Settings()
    part = Chunk(**chunk)
    info = SourceInfo(**source)
    ladder = [Rung(**r) for r in rungs]
    async with open_storage(settings) as storage:
        url = await storage.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": storage.raw_bucket, "Key": source_key(video_id)},
            ExpiresIn=SOURCE_URL_SECONDS,
        )
        with tempfile.TemporaryDirectory(prefix=f"streamify-chunk-{video_id}-") as tmp:
            outputs = [(rung, Path(tmp) / f"{rung.name}.mp4") for rung in ladder]
            async with host_slot():
                started = time.perf_counter()
                await encoding.encode_chunk(
                    url,
                    outputs,
                    info,
                    part,
                    threads=settings.encoder_threads,
                    fast=fast,
                    timeout_seconds=timeout_seconds,
                )
                took = time.perf_counter() - started

            async def put(rung: Rung, path: Path) -> None:
                await storage.client.put_object(
                    Bucket=storage.raw_bucket,
                    Key=chunk_key(video_id, rung.name, part.index),
                    Body=await asyncio.to_thread(path.read_bytes),
                    ContentType="video/mp4",
                )

            # A video deleted meanwhile (its source goes with it) gets no chunk objects back.
            if await storage.object_size(storage.raw_bucket, source_key(video_id)) is None:
                return {"seconds": took, "kept": 0}
            await asyncio.gather(*(put(rung, path) for rung, path in outputs))
    return {"seconds": took, "kept": 1}


async def serve_encoder(settings: Settings) -> None:
    """Run as one encoder: a Prefect task worker for `encode_chunk`, forever."""
    from streamify.pipelines.transcode.encoder_worker import RoomFirstWorker, serve

    storage = await work_storage(settings)
    await register_host(settings)
    task = encode_chunk.with_options(result_storage=storage)
    await serve(RoomFirstWorker(task, limit=settings.encoder_concurrency))
