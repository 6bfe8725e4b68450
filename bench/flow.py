"""Orchestration overhead of the transcoding flow: the whole flow's wall time against the time
its ffmpeg encode takes, on a generated source (default 60 s of 1920x1080 with audio).

    python -m bench.flow [--seconds 60]

Runs the flow on Prefect's temporary server against the local PostgreSQL and Redis and a
local S3 server, like the tests."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from bench.encode import make_source
from bench.run import bench_settings
from streamify.devtools.local import service_env
from streamify.devtools.s3_setup import prepare_s3
from streamify.devtools.seaweed import embedded_s3
from streamify.infra.db import migrate
from streamify.infra.storage import open_storage
from streamify.names import source_key


class Timings(logging.Handler):
    found: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        match = re.search(r"ready in ([\d.]+) s: ffmpeg encode ([\d.]+) s", record.getMessage())
        if match:
            Timings.found = {"flow_s": float(match.group(1)), "encode_s": float(match.group(2))}


async def run(seconds: int) -> dict[str, object]:
    from prefect.testing.utilities import prefect_test_harness

    from streamify.pipelines.transcode.flow import transcode_video

    base = bench_settings()
    with (
        tempfile.TemporaryDirectory() as tmp,
        embedded_s3(
            Path(tmp) / "s3",
            access_key=base.s3_access_key_id,
            secret_key=base.s3_secret_access_key,
        ) as local,
    ):
        settings = base.model_copy(update={"s3_endpoint_url": local.endpoint})
        await prepare_s3(settings)
        os.environ.update(service_env(settings))
        await migrate(settings.database_url)
        source = Path(tmp) / "source.mp4"
        make_source(source, seconds, "1920x1080")
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
                Bucket=settings.s3_raw_bucket,
                Key=source_key(video_id),
                Body=source.read_bytes(),
            )
        logging.getLogger("prefect.flow_runs").addHandler(Timings())
        with prefect_test_harness(server_startup_timeout=90):
            started = time.perf_counter()
            await transcode_video(str(video_id))
            wall = time.perf_counter() - started
    result = {"source": f"{seconds} s 1920x1080", "flow_wall_s": round(wall, 2), **Timings.found}
    if "encode_s" in Timings.found:
        result["overhead_s"] = round(wall - Timings.found["encode_s"], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    result = asyncio.run(run(args.seconds))
    print(json.dumps(result, indent=2))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "flow.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
