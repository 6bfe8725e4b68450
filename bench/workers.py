"""Many API processes, one Redis or a Redis Cluster (issue 25), side by side in one run:

    python -m bench.workers [--duration 5] [--redis single|cluster] [--acceptance]

Throughput: `streamify serve --workers 1` and `--workers 2` exactly as shipped (access log
on, written to a file), beside the bare Starlette endpoint (bench row e), for the viral video
and the 50-video page, wrk -t1 -c32. Every row starts with Redis empty.

--acceptance then runs issue 25's checks against `--workers 2` on that Redis: 500 concurrent
cold reads of one video (SQL reads of `videos` counted by PostgreSQL itself), warm reads, 100
reads after an update, and (on the cluster) a master killed under load: answers that were not
200, and how long until updates reach every process again."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx

from bench.run import (
    VIDEO_QUERY,
    Result,
    bench_settings,
    parse_wrk,
    prepare_data,
    run_wrk,
    start_server,
    wrk_script,
)
from streamify.devtools.local import free_port, stop_process
from streamify.devtools.redis_cluster import LocalCluster, local_cluster
from streamify.infra.redis_client import create_redis
from streamify.infra.settings import Settings
from streamify.infra.tokens import issue_access_token

ROOT = Path(__file__).resolve().parent


@contextlib.contextmanager
def serve(settings: Settings, workers: int, log: Path, **extra_env: str) -> Iterator[str]:
    """`streamify serve --workers N` as an operator starts it (with `extra_env` beside its
    services); yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "STREAMIFY_DATABASE_URL": settings.database_url,
        "STREAMIFY_REDIS_URL": settings.redis_url,
        "STREAMIFY_REDIS_MODE": settings.redis_mode,
        "STREAMIFY_CACHE_KEY_PREFIX": settings.cache_key_prefix,
        "STREAMIFY_S3_ENDPOINT_URL": "http://127.0.0.1:9",
        **extra_env,
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                *("streamify", "serve", "--port", str(port)),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamify serve did not start; see {log}")
            time.sleep(0.2)
        time.sleep(1.0 if workers > 1 else 0)  # the other processes finish their start
        yield base
    finally:
        stop_process(proc)


async def flush_redis(settings: Settings) -> None:
    """Every row starts cold: nothing in Redis (on a cluster: on any master)."""
    client = create_redis(settings.redis_url, timeout=5, mode=settings.redis_mode)
    try:
        if settings.redis_mode == "cluster":
            await client.flushall(target_nodes="primaries")
        else:
            await client.flushdb()
    finally:
        await client.aclose()


def flush(settings: Settings) -> None:
    asyncio.run(flush_redis(settings))


def throughput(
    settings: Settings, ids_file: Path, hot: str, seconds: float, connections: int, log: Path
) -> dict[str, list[Result]]:
    results: dict[str, list[Result]] = {}
    for scenario in ("viral", "list50"):
        rows: list[Result] = []
        script = Path(tempfile.mkstemp(suffix=".lua")[1])
        try:
            flush(settings)
            proc, base = start_server("e", settings, {})
            try:
                script.write_text(wrk_script(scenario, "e", ids_file, hot))
                run_wrk(base, script, min(2.0, seconds), connections)
                rows.append(
                    _result(scenario, "bare endpoint", run_wrk(base, script, seconds, connections))
                )
            finally:
                proc.terminate()
                proc.wait(timeout=20)
            script.write_text(wrk_script(scenario, "c", ids_file, hot))
            for workers in (1, 2):
                flush(settings)
                with serve(settings, workers, log) as base:
                    run_wrk(base, script, min(2.0, seconds), connections)
                    output = run_wrk(base, script, seconds, connections)
                rows.append(_result(scenario, f"serve --workers {workers}", output))
        finally:
            script.unlink(missing_ok=True)
        results[scenario] = rows
    return results


def _result(scenario: str, row: str, output: str) -> Result:
    requests, rps, p50, p99, errors = parse_wrk(output)
    return Result(scenario, row, requests, rps, p50, p99, errors, None, None, None)


def print_table(scenario: str, rows: list[Result]) -> None:
    bare = rows[0].rps
    print(f"\n== {scenario} ==")
    print(f"{'row':<22} {'req/s':>9} {'x bare':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for r in rows:
        print(
            f"{r.row:<22} {r.rps:>9.0f} {r.rps / bare:>7.2f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f}"
            f" {r.errors:>6}"
        )
    print(f"2 workers / 1 worker = {rows[2].rps / rows[1].rps:.2f}")


# -- acceptance ------------------------------------------------------------------------------


async def videos_reads(pool: asyncpg.Pool) -> int:
    """Reads of videos by id (scans of its primary key) PostgreSQL has counted, once every
    backend has reported (a backend flushes its counts when it goes idle, at most once a
    second). The sweepers' scans of stalled videos use another index and are not counted."""
    # An idle backend that flushed less than a second ago flushes again after 10 s.
    last, stable_since = -1, time.monotonic()
    while True:
        async with pool.acquire() as conn:
            await conn.execute("SELECT pg_stat_clear_snapshot()")
            now = int(
                await conn.fetchval(
                    "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'videos_pkey'"
                )
            )
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since > 11:
            return now
        await asyncio.sleep(1)


async def title_of(http: httpx.AsyncClient, base: str, video: str) -> tuple[int, str | None]:
    response = await http.post(
        f"{base}/graphql", json={"query": VIDEO_QUERY, "variables": {"id": video}}
    )
    if response.status_code != 200:
        return response.status_code, None
    body = response.json()
    if "errors" in body:
        return 500, None
    return 200, str(body["data"]["video"]["title"])


async def rename(
    http: httpx.AsyncClient, base: str, settings: Settings, owner: str, video: str, title: str
) -> None:
    mutation = (
        "mutation($id: ID!, $t: String!) { updateVideo(id: $id, input: {title: $t}) { title } }"
    )
    token = issue_access_token(
        uuid.UUID(owner),
        secret=settings.jwt_secret,
        algorithm=settings.jwt_algorithm,
        ttl_seconds=600,
    )
    response = await http.post(
        f"{base}/graphql",
        json={"query": mutation, "variables": {"id": video, "t": title}},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.json()["data"]["updateVideo"]["title"] == title, response.text


async def acceptance(
    settings: Settings, cluster: LocalCluster | None, log: Path
) -> dict[str, object]:
    found: dict[str, object] = {}
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        rows = await pool.fetch(
            "SELECT id::text, owner_id::text FROM videos WHERE visibility = 'PUBLIC'"
            " ORDER BY created_at DESC LIMIT 2 OFFSET 777"
        )
        assert len(rows) == 2, "seed the benchmark's videos first"
        video, owner = rows[0]["id"], rows[0]["owner_id"]
        await flush_redis(settings)
        with serve(settings, 2, log) as base:
            limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
            async with httpx.AsyncClient(
                limits=limits, timeout=httpx.Timeout(30, pool=None)
            ) as http:
                # What one cold read of a video costs alone: the unit the burst is counted in.
                before = await videos_reads(pool)
                await title_of(http, base, rows[1]["id"])
                found["one_cold_read_sql_reads_of_a_video"] = await videos_reads(pool) - before
                before = await videos_reads(pool)
                answers = await asyncio.gather(*(title_of(http, base, video) for _ in range(500)))
                cold = await videos_reads(pool) - before
                found["cold_500_statuses"] = sorted({s for s, _ in answers})
                found["cold_500_sql_reads_of_the_video"] = cold
                before = await videos_reads(pool)
                for _ in range(20):
                    await asyncio.gather(*(title_of(http, base, video) for _ in range(100)))
                found["warm_2000_sql_reads_of_the_video"] = await videos_reads(pool) - before
                await rename(http, base, settings, owner, video, "renamed once")
                titles = [(await title_of(http, base, video))[1] for _ in range(100)]
                found["reads_seeing_the_update"] = sum(t == "renamed once" for t in titles)
                if cluster is not None:
                    found["failover"] = await failover(http, base, settings, cluster, owner, video)
    finally:
        await pool.close()
    return found


async def failover(
    http: httpx.AsyncClient,
    base: str,
    settings: Settings,
    cluster: LocalCluster,
    owner: str,
    video: str,
) -> dict[str, object]:
    """Kill the master that carries the L1-drop channel while 32 readers read the video."""
    statuses: dict[int, int] = {}
    stop = asyncio.Event()

    async def reader() -> None:
        while not stop.is_set():
            status, _ = await title_of(http, base, video)
            statuses[status] = statuses.get(status, 0) + 1

    readers = [asyncio.create_task(reader()) for _ in range(32)]
    await asyncio.sleep(1)
    victim = cluster.master_of(f"{settings.cache_key_prefix}{{l1-drop}}")
    killed = time.monotonic()
    cluster.kill(victim)
    await asyncio.to_thread(cluster.wait_healthy)
    healthy = time.monotonic() - killed
    # Updates through the port until 20 in a row are seen by the next read (either process).
    streak, attempt = 0, 0
    while streak < 20:
        attempt += 1
        title = f"after failover {attempt}"
        await rename(http, base, settings, owner, video, title)
        streak = streak + 1 if (await title_of(http, base, video))[1] == title else 0
        await asyncio.sleep(0.05)
    propagating = time.monotonic() - killed
    stop.set()
    await asyncio.gather(*readers)
    logged = log_text()
    return {
        "killed_master_port": victim,
        "answers_by_status": statuses,
        "cluster_healthy_after_s": round(healthy, 2),
        "updates_reach_every_process_after_s": round(propagating, 2),
        "CROSSSLOT_or_MOVED_logged": "CROSSSLOT" in logged or "MOVED" in logged,
    }


LOG = Path(tempfile.gettempdir()) / "bench-workers-serve.log"


def log_text() -> str:
    return LOG.read_text(errors="replace") if LOG.exists() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--redis", choices=("single", "cluster"), default="single")
    parser.add_argument("--acceptance", action="store_true")
    args = parser.parse_args()
    settings = bench_settings()
    ids = asyncio.run(prepare_data(settings, args.videos))
    ids_file = ROOT / "results" / "ids.txt"
    ids_file.parent.mkdir(exist_ok=True)
    ids_file.write_text("\n".join(ids) + "\n")
    LOG.unlink(missing_ok=True)
    with contextlib.ExitStack() as stack:
        cluster = None
        if args.redis == "cluster":
            cluster = stack.enter_context(local_cluster(Path(tempfile.mkdtemp())))
            settings = settings.model_copy(
                update={"redis_url": cluster.url, "redis_mode": "cluster"}
            )
        report: dict[str, object] = {"redis": args.redis}
        for scenario, rows in throughput(
            settings, ids_file, ids[0], args.duration, args.connections, LOG
        ).items():
            print_table(scenario, rows)
            report[scenario] = [r.__dict__ for r in rows]
        if args.acceptance:
            found = asyncio.run(acceptance(settings, cluster, LOG))
            print("\n== acceptance (serve --workers 2) ==")
            print(json.dumps(found, indent=2))
            report["acceptance"] = found
    out = ROOT / "results" / f"workers-{args.redis}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
