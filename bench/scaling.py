"""Does a second encoder make one video faster? The same 60 s 1080p clip (film grain, AAC)
through the transcoding flow with one encoder pinned to one core, then with two encoders each
pinned to its own core (`taskset`, one ffmpeg thread each), side by side; then, from the chunk
times measured, a model of a 10-minute 1080p source on 16 such encoders.

    python -m bench.scaling [--seconds 60]

Runs the flow in this process on Prefect's temporary server, against the local PostgreSQL and
Redis and a local S3 server, like the tests; the encoders are real `streamify encoder`
processes. Playable and READY count from the flow's start (what `completeUpload` adds before
it, about 1.5 s through `streamify dev`, is bench.pipeline's)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import re
import statistics
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from bench.pipeline import grain_clip
from bench.run import bench_settings
from streamify.devtools.local import encoder_process, service_env
from streamify.devtools.s3_setup import prepare_s3
from streamify.devtools.seaweed import embedded_s3
from streamify.infra.db import migrate
from streamify.infra.settings import Settings
from streamify.infra.storage import open_storage
from streamify.names import source_key

RESULTS = Path(__file__).resolve().parent / "results"


class FlowLine(logging.Handler):
    """The flow's closing line: when the video was playable and READY, from the flow's start."""

    def __init__(self) -> None:
        super().__init__()
        self.line = ""
        self.ready = self.playable = math.nan

    def emit(self, record: logging.LogRecord) -> None:
        found = re.search(r"ready in ([\d.]+) s \(playable at ([\d.]+) s\)", record.getMessage())
        if found:
            self.line = record.getMessage()
            self.ready, self.playable = float(found[1]), float(found[2])


async def uploaded(settings: Settings, source: Path) -> uuid.UUID:
    conn = await asyncpg.connect(settings.database_url)
    owner, video_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO users (id, email, display_name) VALUES ($1, $2, 'b')",
        owner,
        f"{owner}@bench.example",
    )
    await conn.execute(
        "INSERT INTO videos (id, owner_id, title, status) VALUES ($1, $2, 'bench', 'UPLOADED')",
        video_id,
        owner,
    )
    await conn.close()
    async with open_storage(settings) as storage:
        await storage.client.put_object(
            Bucket=settings.s3_raw_bucket, Key=source_key(video_id), Body=source.read_bytes()
        )
    return video_id


async def chunk_times(video_id: uuid.UUID) -> dict[str, list[float]]:
    """Seconds each chunk run took on its encoder, by group (lowest rung / the rest)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterTags

    from streamify.pipelines.transcode.chunk_runs import video_tag

    async with get_client() as client:
        runs = await client.read_task_runs(
            task_run_filter=TaskRunFilter(tags=TaskRunFilterTags(all_=[video_tag(str(video_id))]))
        )
    runs.sort(key=lambda r: r.created or 0)
    seconds = [
        (r.end_time - r.start_time).total_seconds()
        for r in runs
        if r.start_time and r.end_time and r.state and r.state.is_completed()
    ]
    return {"all": seconds}


async def one_configuration(
    settings: Settings, source: Path, cpus: list[int], logs: Path
) -> dict[str, Any]:
    from streamify.pipelines.transcode.flow import transcode_video

    video_id = await uploaded(settings, source)
    said = FlowLine()
    logging.getLogger("prefect.flow_runs").addHandler(said)
    with contextlib.ExitStack() as stack:
        for cpu in cpus:
            stack.enter_context(
                encoder_process(
                    settings,
                    logs / f"encoder-{len(cpus)}-{cpu}.log",
                    extra_env={"STREAMIFY_ENCODER_THREADS": "1"},
                    cpu=cpu,
                )
            )
        await asyncio.sleep(3)  # the encoders subscribe
        await transcode_video(str(video_id))
    logging.getLogger("prefect.flow_runs").removeHandler(said)
    times = await chunk_times(video_id)
    return {
        "encoders": len(cpus),
        "playable_s": said.playable,
        "ready_s": said.ready,
        "worker": said.line,
        "chunk_seconds": [round(t, 2) for t in times["all"]],
    }


def model(measured: dict[str, Any], seconds: int) -> dict[str, Any]:
    """A 10-minute source on 16 one-core encoders, from the one-encoder run's chunk times (per
    second of source): the lowest rung's chunks, shared out over the encoders, go first; the
    rest of the ladder's chunks (one segment each) follow."""
    from streamify.pipelines.transcode import encoding, media

    times = measured["chunk_seconds"]
    clip = media.SourceInfo(seconds, 1920, 1080, 30, True)
    lowest_count = len(encoding.group_chunks(clip, lowest=True, encoders=1))
    lowest, rest = times[:lowest_count], times[lowest_count:]
    per_second_lowest = sum(lowest) / seconds
    t_rest = statistics.median(rest)
    source_seconds, encoders = 600, 16
    long = media.SourceInfo(source_seconds, 1920, 1080, 30, True)
    lowest_chunks = encoding.group_chunks(long, lowest=True, encoders=encoders)
    t_lowest = encoding.lowest_chunk_seconds(source_seconds, encoders) * per_second_lowest
    n_rest = len(encoding.plan_chunks(long))
    playable = math.ceil(len(lowest_chunks) / encoders) * t_lowest
    work = source_seconds * per_second_lowest + n_rest * t_rest
    # Whole rounds, and the chunks cannot finish before the longest one.
    ready = max(work / encoders, playable + t_rest)
    return {
        "source": "600 s 1080p, 16 encoders of one core",
        "lowest_chunk_s": round(t_lowest, 2),
        "ladder_chunk_s": round(t_rest, 2),
        "playable_s_encoding_only": round(playable, 1),
        "ready_s_encoding_only": round(ready, 1),
        "one_encoder_ready_s_encoding_only": round(work, 1),
    }


async def run(seconds: int) -> dict[str, Any]:
    from prefect.testing.utilities import prefect_test_harness

    source = grain_clip(seconds)
    base = bench_settings()
    with (
        tempfile.TemporaryDirectory() as tmp,
        embedded_s3(
            Path(tmp) / "s3",
            access_key=base.s3_access_key_id,
            secret_key=base.s3_secret_access_key,
        ) as local,
        prefect_test_harness(server_startup_timeout=90),
    ):
        from prefect.settings import PREFECT_API_URL

        settings = base.model_copy(
            update={
                "s3_endpoint_url": local.endpoint,
                "prefect_api_url": str(PREFECT_API_URL.value()),
            }
        )
        await prepare_s3(settings)
        os.environ.update(service_env(settings))
        await migrate(settings.database_url)
        logs = Path(tmp) / "logs"
        logs.mkdir()
        one = await one_configuration(settings, source, [0], logs)
        two = await one_configuration(settings, source, [0, 1], logs)
    return {
        "clip": f"{seconds} s 1920x1080 30 fps, grain, AAC",
        "one_encoder": one,
        "two_encoders": two,
        "ready_speedup": round(one["ready_s"] / two["ready_s"], 2),
        "playable_speedup": round(one["playable_s"] / two["playable_s"], 2),
        "model": model(one, seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    result = asyncio.run(run(args.seconds))
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scaling.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
