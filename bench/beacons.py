"""Issue 35's acceptance: a flood of playback events on one viral video, side by side in one run.

    python -m bench.beacons [--duration 5] [--workers 1|2] [--redis single|cluster] [--faults]

1. **Throughput**: wrk -t1 -c32 sends single events (each session a start, a heartbeat of
   1 s and an end of 0.5 s) to `streamify serve` as shipped and to the bare endpoint that reads
   and decodes the same JSON and answers 204 (bench row k); while it runs, PostgreSQL's own
   transaction count and Redis's command count (INFO) give statements and commands per beacon
   (the flush is held off for this phase, so what is counted is the beacons' alone).
2. **Exactness**: 2,000 sessions sent by a client that records every 204, then one flush
   interval: `views` must equal the starts answered, `watchTimeSeconds` what the answered
   heartbeats and ends carried, `uniqueViewers` within 2 %.
3. **Reads during the flood**: the viral video read as shipped (anonymous POST) by wrk, alone
   and while 2,000 sessions send events at a steady rate.
4. `--faults`: API processes SIGKILLed at random moments while events arrive and flushes run
   every 0.2 s, and (single Redis only: a private redis-server with appendfsync always) Redis
   killed for 5 s; totals must equal what was answered 204 (before Redis went away).

The address limit is lifted for the run: wrk sends everything from 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import redis

from bench.run import RESULTS, VIDEO_QUERY, bench_settings, parse_wrk, prepare_data, run_wrk
from bench.run import start_server as start_bench_server
from bench.workers import serve as serve_as_shipped
from streamify.devtools.local import free_port
from streamify.devtools.redis_cluster import local_cluster
from streamify.infra.settings import Settings

UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
STATS = "query($id: ID!) { video(id: $id) { stats { views uniqueViewers watchTimeSeconds } } }"
# Each session: a start, 1 s watched, 0.5 s more at its end (under the 2 s of slack a session
# gets, so nothing a fast client sends is clipped and the totals can be checked exactly).
WATCHED = {"start": 0.0, "heartbeat": 1.0, "end": 0.5}


def beacon_script(video: str) -> str:
    return f"""
local n = 0
local thread_tag = tostring(math.random(1, 1e9))
request = function()
  local session = "wrk-" .. thread_tag .. "-" .. math.floor(n / 3)
  local kinds = {{"start", "heartbeat", "end"}}
  local kind = kinds[(n % 3) + 1]
  local watched = ({{start = 0, heartbeat = 1, ["end"] = 0.5}})[kind]
  n = n + 1
  local body = '{{"videoId":"{video}","sessionId":"' .. session .. '","event":"' .. kind ..
    '","watchedSeconds":' .. watched .. '}}'
  return wrk.format("POST", "/beacons", {{["content-type"] = "application/json",
    ["user-agent"] = "{UA}"}}, body)
end
"""


def read_script(video: str) -> str:
    body = json.dumps({"query": VIDEO_QUERY, "variables": {"id": video}})
    return (
        f"local body = [==[{body}]==]\n"
        "request = function() return wrk.format('POST', '/graphql', "
        "{['content-type'] = 'application/json'}, body) end\n"
    )


@contextlib.contextmanager
def serve(settings: Settings, workers: int, log: Path, **env: str) -> Iterator[str]:
    """`streamify serve --workers N` as shipped, the address limit lifted (everything comes
    from 127.0.0.1 here)."""
    lifted = {"STREAMIFY_BEACON_EVENTS_PER_ADDRESS_PER_SECOND": str(10**9)}
    with serve_as_shipped(settings, workers, log, **lifted, **env) as base:
        yield base


def transactions(database_url: str) -> int:
    async def read() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("SELECT pg_stat_clear_snapshot()")
            value = await conn.fetchval(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                "WHERE datname = current_database()"
            )
            return int(value)
        finally:
            await conn.close()

    time.sleep(1.2)  # backends report their counts when idle, at most once a second
    return asyncio.run(read())


def redis_commands(settings: Settings) -> tuple[int, int]:
    """(commands every node has run, the scripts among them: each script a client sent is
    one round trip, the commands it ran inside count too), summed over a cluster's nodes."""
    if settings.redis_mode == "cluster":
        client = redis.RedisCluster.from_url(settings.redis_url)
        infos = list(client.info("all", target_nodes=redis.RedisCluster.ALL_NODES).values())
        client.close()
    else:
        single = redis.Redis.from_url(settings.redis_url)
        infos = [single.info("all")]
        single.close()
    total = sum(int(i["total_commands_processed"]) for i in infos)
    scripts = sum(
        int(i.get(f"cmdstat_{name}", {}).get("calls", 0))
        for i in infos
        for name in ("evalsha", "eval")
    )
    return total, scripts


def flush_redis(settings: Settings) -> None:
    if settings.redis_mode == "cluster":
        client = redis.RedisCluster.from_url(settings.redis_url)
        client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
        client.close()
    else:
        single = redis.Redis.from_url(settings.redis_url)
        single.flushdb()
        single.close()


def reset_stats(settings: Settings, video: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(settings.database_url)
        try:
            for table in (
                "video_stats_hourly",
                "video_startup_hourly",
                "video_rendition_hourly",
                "video_viewer_sketches",
            ):
                await conn.execute(f"DELETE FROM {table} WHERE video_id = $1", uuid.UUID(video))
            await conn.execute(
                "UPDATE video_stats SET views = 0, watch_ms = 0 WHERE video_id = $1",
                uuid.UUID(video),
            )
        finally:
            await conn.close()

    asyncio.run(run())


@dataclass
class Sent:
    """What a client was answered 204 for."""

    starts: set[str] = field(default_factory=set)
    watched: float = 0.0
    codes: Counter[int] = field(default_factory=Counter)


async def send_sessions(
    bases: list[str], video: str, sessions: list[str], sent: Sent, *, per_second: float = 0
) -> None:
    """Each session's start, heartbeat and end, 64 at a time (or paced at `per_second`
    events), spread over `bases`; records what was answered 204."""
    gate = asyncio.Semaphore(64)
    pace = 1 / per_second if per_second else 0.0

    async def one(http: httpx.AsyncClient, session: str, kind: str) -> None:
        async with gate:
            body = {"videoId": video, "sessionId": session, "event": kind}
            if WATCHED[kind]:
                body["watchedSeconds"] = WATCHED[kind]  # type: ignore[assignment]
            try:
                answer = await http.post(
                    random.choice(bases) + "/beacons",
                    json=body,
                    headers={"user-agent": UA},
                )
            except httpx.TransportError:
                sent.codes[0] += 1
                return
            sent.codes[answer.status_code] += 1
            if answer.status_code == 204:
                if kind == "start":
                    sent.starts.add(session)
                sent.watched += WATCHED[kind]

    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=64)) as http:
        for kind in ("start", "heartbeat", "end"):
            tasks = []
            for session in sessions:
                tasks.append(asyncio.create_task(one(http, session, kind)))
                if pace:
                    await asyncio.sleep(pace)
            await asyncio.gather(*tasks)


def stats_of(base: str, video: str) -> dict[str, float]:
    answer = httpx.post(
        f"{base}/graphql", json={"query": STATS, "variables": {"id": video}}, timeout=10
    )
    found: dict[str, float] = answer.json()["data"]["video"]["stats"]
    return found


def stored(settings: Settings, video: str) -> tuple[int, int]:
    async def read() -> tuple[int, int]:
        conn = await asyncpg.connect(settings.database_url)
        try:
            row = await conn.fetchrow(
                "SELECT views, watch_ms FROM video_stats WHERE video_id = $1", uuid.UUID(video)
            )
            assert row is not None
            return int(row["views"]), int(row["watch_ms"])
        finally:
            await conn.close()

    return asyncio.run(read())


def flusher_lease_seconds() -> float:
    from streamify.infra.viewing.flusher import LEASE_MS

    return LEASE_MS / 1000


def exactness(sent: Sent, seen: dict[str, float], kept: tuple[int, int]) -> dict[str, object]:
    uniques = seen["uniqueViewers"]
    return {
        # A process killed after counting an event and before answering it: counted, never
        # answered (the client saw the connection drop). Not a double count.
        "watch_seconds_counted_but_unanswered": seen["watchTimeSeconds"] - sent.watched,
        "views_counted_but_unanswered": seen["views"] - len(sent.starts),
        "sessions_answered": len(sent.starts),
        "views": seen["views"],
        "views_in_postgresql": kept[0],
        "views_exact": seen["views"] == len(sent.starts) == kept[0],
        "watch_seconds_sent": sent.watched,
        "watch_seconds": seen["watchTimeSeconds"],
        "watch_exact": abs(seen["watchTimeSeconds"] - sent.watched) < 1e-6
        and kept[1] == round(sent.watched * 1000),
        "unique_viewers": uniques,
        "unique_error": abs(uniques - len(sent.starts)) / max(1, len(sent.starts)),
        "answers": dict(sent.codes),
    }


def phase_throughput(
    settings: Settings, video: str, seconds: float, workers: int, log: Path, work: Path
) -> dict[str, object]:
    script = work / "beacons.lua"
    script.write_text(beacon_script(video))
    bare, bare_base = start_bench_server("k", settings, {})
    try:
        bare_out = run_wrk(bare_base, script, seconds, 32)
    finally:
        bare.terminate()
        bare.wait()
    flush_redis(settings)
    with serve(settings, workers, log, STREAMIFY_STATS_FLUSH_SECONDS="3600") as base:
        run_wrk(base, script, 1, 32)  # warm: the video's record in L1, scripts loaded
        xacts, (commands, scripts) = transactions(settings.database_url), redis_commands(settings)
        out = run_wrk(base, script, seconds, 32)
        xacts_after = transactions(settings.database_url)
        commands_after, scripts_after = redis_commands(settings)
    requests, rps, p50, p99, errors = parse_wrk(out)
    _, bare_rps, bare_p50, bare_p99, _ = parse_wrk(bare_out)
    return {
        "bare_rps": bare_rps,
        "bare_p50_ms": bare_p50,
        "bare_p99_ms": bare_p99,
        "rps": rps,
        "ratio": rps / bare_rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "errors": errors,
        "beacons": requests,
        "sql_per_beacon": (xacts_after - xacts) / max(1, requests),
        "redis_round_trips_per_beacon": (scripts_after - scripts) / max(1, requests),
        "redis_commands_per_beacon": (commands_after - commands) / max(1, requests),
    }


def phase_exact(
    settings: Settings, video: str, workers: int, log: Path, sessions: int
) -> dict[str, object]:
    flush_redis(settings)
    reset_stats(settings, video)
    sent = Sent()
    names = [f"exact-{uuid.uuid4().hex[:12]}" for _ in range(sessions)]
    with serve(settings, workers, log, STREAMIFY_STATS_FLUSH_SECONDS="1") as base:
        asyncio.run(send_sessions([base], video, names, sent))
        time.sleep(1 + 1 + 5.5)  # one flush interval, then what the reader may keep
        seen = stats_of(base, video)
    return exactness(sent, seen, stored(settings, video))


def phase_reads(
    settings: Settings, video: str, seconds: float, workers: int, log: Path, work: Path
) -> dict[str, object]:
    script = work / "reads.lua"
    script.write_text(read_script(video))
    flush_redis(settings)
    with serve(settings, workers, log) as base:
        run_wrk(base, script, 1, 32)
        alone = parse_wrk(run_wrk(base, script, seconds, 32))[1]
        names = [f"flood-{uuid.uuid4().hex[:12]}" for _ in range(2000)]
        sent = Sent()
        # About 1,000 events a second for as long as wrk reads.
        loop_done: list[float] = []

        def drive() -> None:
            started = time.monotonic()
            asyncio.run(send_sessions([base], video, names, sent, per_second=1000))
            loop_done.append(time.monotonic() - started)

        driver = threading.Thread(target=drive)
        driver.start()
        time.sleep(0.5)
        during = parse_wrk(run_wrk(base, script, seconds, 32))[1]
        driver.join()
    return {
        "reads_alone_rps": alone,
        "reads_during_flood_rps": during,
        "ratio": during / alone,
        "flood_events": sum(sent.codes.values()),
        "flood_seconds": loop_done[0] if loop_done else None,
    }


def phase_faults(settings: Settings, video: str, log: Path, work: Path) -> dict[str, object]:
    """API processes killed at random moments while events arrive and flushes run every
    0.2 s; then Redis killed for 5 s (a private one, appendfsync always, single mode only)."""
    results: dict[str, object] = {}
    own_redis = None
    if settings.redis_mode == "single":
        port = free_port()
        data = work / "redis"
        data.mkdir(exist_ok=True)
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ]
        own_redis = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        settings = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
    try:
        reset_stats(settings, video)
        flush_redis(settings)
        sent = Sent()
        env = {"STREAMIFY_STATS_FLUSH_SECONDS": "0.2"}
        kills = 0
        for round_ in range(6):
            names = [f"fault-{round_}-{uuid.uuid4().hex[:10]}" for _ in range(300)]
            with serve(settings, 1, log, **env) as base:
                asyncio.run(_killed_while_sending(base, video, names, sent))
                kills += 1
        if own_redis is not None:
            with serve(settings, 1, log, **env) as base:
                # Answered before Redis goes away: must all count.
                before = [f"redis-before-{uuid.uuid4().hex[:10]}" for _ in range(200)]
                asyncio.run(send_sessions([base], video, before, sent, per_second=800))
                own_redis.kill()
                own_redis.wait()
                # While it is away: answered 204 and dropped (counted in the metric), so not
                # part of what must add up.
                lost = Sent()
                away = [f"redis-away-{uuid.uuid4().hex[:10]}" for _ in range(200)]
                started = time.monotonic()
                asyncio.run(send_sessions([base], video, away, lost, per_second=800))
                time.sleep(max(0.0, 5 - (time.monotonic() - started)))
                own_redis = subprocess.Popen(command, stdout=subprocess.DEVNULL)
                time.sleep(3)  # the API's connections and the tier's breaker come back
                after = [f"redis-after-{uuid.uuid4().hex[:10]}" for _ in range(200)]
                asyncio.run(send_sessions([base], video, after, sent, per_second=800))
                results["answered_while_redis_was_away"] = dict(lost.codes)
        with serve(settings, 1, log, **env) as base:
            # A killed flusher's record is taken over once its 30 s lease runs out.
            time.sleep(flusher_lease_seconds() + 6)
            seen = stats_of(base, video)
        results = {**exactness(sent, seen, stored(settings, video)), **results}
        results["api_kills"] = kills
        results["redis_killed_for_5s"] = own_redis is not None
    finally:
        if own_redis is not None:
            own_redis.kill()
            own_redis.wait()
    return results


async def _killed_while_sending(base: str, video: str, names: list[str], sent: Sent) -> None:
    """Events sent at a steady rate to `base` while its processes are SIGKILLed mid-way
    (flushing every 0.2 s, so a kill often lands inside one)."""
    pids = _server_pids(base)
    sending = asyncio.create_task(send_sessions([base], video, names, sent, per_second=800))
    await asyncio.sleep(random.uniform(0.3, 1.0))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    await sending


def _server_pids(base: str) -> list[int]:
    """The serving process(es) behind `base`: whoever listens on its port."""
    port = base.rsplit(":", 1)[1]
    found = subprocess.run(
        ["fuser", f"{port}/tcp"], capture_output=True, text=True, check=False
    ).stdout.split()
    return [int(p) for p in found if p.isdigit()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redis", choices=["single", "cluster"], default="single")
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--faults", action="store_true")
    parser.add_argument("--faults-only", action="store_true", help="skip the other phases")
    args = parser.parse_args()
    settings = bench_settings()
    ids = asyncio.run(prepare_data(settings, 100_000))
    video, exact_video = ids[0], ids[1]
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / "beacons-server.log"
    report: dict[str, object] = {"workers": args.workers, "redis": args.redis}
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        work = Path(folder)
        if args.redis == "cluster":
            cluster = stack.enter_context(local_cluster(work / "cluster"))
            settings = settings.model_copy(
                update={"redis_url": cluster.url, "redis_mode": "cluster"}
            )
        if not args.faults_only:
            report["throughput"] = phase_throughput(
                settings, video, args.duration, args.workers, log, work
            )
            print(json.dumps({"throughput": report["throughput"]}, indent=2), flush=True)
            report["exact"] = phase_exact(settings, exact_video, args.workers, log, args.sessions)
            print(json.dumps({"exact": report["exact"]}, indent=2), flush=True)
            report["reads"] = phase_reads(settings, video, args.duration, args.workers, log, work)
            print(json.dumps({"reads": report["reads"]}, indent=2), flush=True)
        if args.faults or args.faults_only:
            report["faults"] = phase_faults(settings, exact_video, log, work)
            print(json.dumps({"faults": report["faults"]}, indent=2), flush=True)
    name = f"beacons-{args.redis}-w{args.workers}.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
