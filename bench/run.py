"""The read-path benchmark: every row of one scenario measured side by side in one run.

    python -m bench.run [--duration 5] [--scenarios viral,zipf,stampede,list50]

Starts each server against the real PostgreSQL and Redis (Streamify's rows exactly as
`streamify serve` runs, access log and all, to a file; the bare rows with no access log),
seeds 100k videos once, drives load with wrk on loopback and prints one table per scenario,
each row also as a ratio to the bare endpoint (e); bench/results/latest.json keeps the
numbers."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx
import redis

from streamify.devtools.local import free_port
from streamify.devtools.seed import seed
from streamify.infra.db import migrate
from streamify.infra.settings import Settings

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
ROWS = {
    "a": "no cache (loaders straight to PostgreSQL)",
    "b": "Redis cache-aside only",
    "c": "full tier (L1 + single-flight + Redis)",
    "d": "ceiling: same app and query, static loaders",
    "e": "plain Starlette JSON endpoint",
    "f": "full tier + persisted GET + response cache",
    "g": "bare Strawberry + Starlette, static resolvers",
    "s": "full tier, Strawberry execution (compiled off)",
    "h": "plain Starlette endpoint, same tier + loaders",
    "x": "full tier, every request executed (no resp. cache)",
}
TIER_ENV = {
    "a": {
        "STREAMIFY_CACHE_L1_ENABLED": "false",
        "STREAMIFY_CACHE_SINGLE_FLIGHT": "false",
        "STREAMIFY_CACHE_REDIS_ENABLED": "false",
    },
    "b": {"STREAMIFY_CACHE_L1_ENABLED": "false", "STREAMIFY_CACHE_SINGLE_FLIGHT": "false"},
    "c": {},
    "d": {},
    "e": {},
    "f": {"STREAMIFY_RESPONSE_CACHE_ENABLED": "true"},
    "g": {},
    "s": {"STREAMIFY_GRAPHQL_COMPILED_EXECUTION": "false"},
    "h": {},
    "x": {"STREAMIFY_RESPONSE_CACHE_ENABLED": "false"},
    "k": {},
}
VIDEO_FIELDS = (
    "id title description tags visibility status duration createdAt updatedAt "
    "owner { id displayName } renditions { height width bitrate codecs } "
    "manifest { url } thumbnailUrl"
)
VIDEO_QUERY = f"query($id: ID!) {{ video(id: $id) {{ {VIDEO_FIELDS} }} }}"
LIST_QUERY = (
    "query($first: Int) { videos(first: $first) { edges { cursor node { "
    f"{VIDEO_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
)


@dataclass
class Result:
    scenario: str
    row: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    sql_per_1000: float | None
    redis_per_1000: float | None
    sql_total: int | None


def bench_settings() -> Settings:
    base = Settings()
    parts = urlsplit(base.database_url)
    redis_parts = urlsplit(base.redis_url)
    return base.model_copy(
        update={
            "database_url": urlunsplit(parts._replace(path="/streamify_bench")),
            "redis_url": urlunsplit(redis_parts._replace(path="/12")),
            "cache_key_prefix": "bench:",
        }
    )


async def prepare_data(settings: Settings, videos: int) -> list[str]:
    await migrate(settings.database_url)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        have = await pool.fetchval("SELECT count(*) FROM videos")
        if have < videos:
            print(f"seeding {videos - have} videos ...", flush=True)
            await seed(pool, videos=videos - have)
        rows = await pool.fetch(
            "SELECT id FROM videos WHERE visibility = 'PUBLIC' LIMIT $1", videos
        )
    finally:
        await pool.close()
    return [str(r["id"]) for r in rows]


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def wrk_script(scenario: str, row: str, ids_file: Path, hot_id: str) -> str:
    """A wrk Lua script that sends this scenario's requests to this row."""
    zipf = scenario == "zipf"
    lines = ["local ids = {}"]
    if zipf:
        lines += [
            f"for line in io.lines({lua_string(str(ids_file))}) do ids[#ids + 1] = line end",
            # Zipf(1.1) over the ids: cumulative weights, then a binary search per request.
            "local cdf, total = {}, 0",
            "for k = 1, #ids do total = total + 1 / (k ^ 1.1); cdf[k] = total end",
            "local function pick()",
            "  local u, lo, hi = math.random() * total, 1, #ids",
            "  while lo < hi do local mid = math.floor((lo + hi) / 2)",
            "    if cdf[mid] < u then lo = mid + 1 else hi = mid end end",
            "  return ids[lo]",
            "end",
        ]
    else:
        lines += [f"local function pick() return {lua_string(hot_id)} end"]
    if row == "f":
        query = LIST_QUERY if scenario == "list50" else VIDEO_QUERY
        lines += [
            f"local ext = {lua_string(quote(persisted_extension(query)))}",
            "local function enc(text) return (text:gsub('[^%w%-_%.~]', function(c)",
            "  return string.format('%%%02X', string.byte(c)) end)) end",
        ]
        variables = (
            "'{\"first\":50}'" if scenario == "list50" else "'{\"id\":\"' .. pick() .. '\"}'"
        )
        lines += [
            "request = function()",
            '  return wrk.format("GET", "/graphql?extensions=" .. ext ..',
            f'                    "&variables=" .. enc({variables}))',
            "end",
        ]
        return "\n".join(lines) + "\n"
    if scenario == "list50":
        if row in "eh":
            lines += ['request = function() return wrk.format("GET", "/videos?first=50") end']
        else:
            body = json.dumps({"query": LIST_QUERY, "variables": {"first": 50}})
            lines += [
                f"local body = {lua_string(body)}",
                "request = function()",
                '  return wrk.format("POST", "/graphql", {["content-type"] = "application/json"},',
                "                    body)",
                "end",
            ]
        return "\n".join(lines) + "\n"
    if row in "eh":
        lines += ['request = function() return wrk.format("GET", "/video/" .. pick()) end']
    else:
        prefix = json.dumps({"query": VIDEO_QUERY})[:-1] + ', "variables": {"id": "'
        lines += [
            f"local prefix = {lua_string(prefix)}",
            "request = function()",
            '  return wrk.format("POST", "/graphql", {["content-type"] = "application/json"},',
            "                    prefix .. pick() .. '\"}}')",
            "end",
        ]
    return "\n".join(lines) + "\n"


def persisted_extension(query: str) -> str:
    digest = hashlib.sha256(query.encode()).hexdigest()
    return json.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}})


def register_persisted(base: str) -> None:
    """Row (f) clients send hashes only; register both documents once, as a client would."""
    for query in (VIDEO_QUERY, LIST_QUERY):
        httpx.get(
            f"{base}/graphql",
            params={
                "query": query,
                "extensions": persisted_extension(query),
                "variables": json.dumps({"id": "00000000-0000-0000-0000-000000000000", "first": 1}),
            },
            timeout=10,
        )


def parse_wrk(output: str) -> tuple[int, float, float, float, int]:
    def millis(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = millis(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = millis(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    errors = 0
    for pattern in (
        r"Non-2xx or 3xx responses: (\d+)",
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
    ):
        found = re.search(pattern, output)
        if found:
            errors += sum(int(g) for g in found.groups())
    return requests, rps, p50, p99, errors


def counters(base: str) -> tuple[float, float]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    sql = re.search(r"^streamify_sql_statements_total (\S+)$", text, re.M)
    cmds = re.search(r"^streamify_redis_commands_total (\S+)$", text, re.M)
    return (float(sql.group(1)) if sql else 0.0, float(cmds.group(1)) if cmds else 0.0)


def start_server(
    row: str, settings: Settings, extra_env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "STREAMIFY_DATABASE_URL": settings.database_url,
        "STREAMIFY_REDIS_URL": settings.redis_url,
        "STREAMIFY_CACHE_KEY_PREFIX": settings.cache_key_prefix,
        "STREAMIFY_S3_ENDPOINT_URL": "http://127.0.0.1:9",
        **TIER_ENV[row],
        **extra_env,
    }
    # Its logs (the access log included) go to a file, as a shipped server's go somewhere.
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / f"server-{row}.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.servers", row, "--port", str(port)],
            env=env,
            cwd=ROOT.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/healthz" if row not in "egk" else f"{base}/graphql", timeout=1)
            return proc, base
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bench server {row} did not start") from None
            time.sleep(0.1)


def run_wrk(base: str, script: Path, seconds: float, connections: int) -> str:
    done = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr or done.stdout}")
    return done.stdout


def measure(
    scenario: str,
    row: str,
    settings: Settings,
    ids_file: Path,
    hot_id: str,
    seconds: float,
    connections: int,
    extra_env: dict[str, str] | None = None,
) -> Result:
    redis.Redis.from_url(settings.redis_url).flushdb()  # every row starts cold
    proc, base = start_server(row, settings, extra_env or {})
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(wrk_script(scenario, row, ids_file, hot_id))
        script = Path(handle.name)
        if row == "f":
            register_persisted(base)
        if scenario == "zipf":
            run_wrk(base, script, seconds, connections)  # steady state: the head is cached
        elif scenario != "stampede":
            run_wrk(base, script, min(2.0, seconds), connections)  # warm-up
        tracked = row in "abcdfsh"
        before = counters(base) if tracked else (0.0, 0.0)
        output = run_wrk(base, script, seconds, connections)
        after = counters(base) if tracked else (0.0, 0.0)
        requests, rps, p50, p99, errors = parse_wrk(output)
        if requests == 0:
            raise RuntimeError(f"row {row} answered no request in {scenario}:\n{output}")
        sql, cmds = after[0] - before[0], after[1] - before[1]
        return Result(
            scenario,
            row,
            requests,
            rps,
            p50,
            p99,
            errors,
            sql_per_1000=1000 * sql / requests if tracked else None,
            redis_per_1000=1000 * cmds / requests if tracked else None,
            sql_total=int(sql) if tracked else None,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        script.unlink(missing_ok=True)


def table(results: list[Result]) -> str:
    by_row = {r.row: r for r in results}
    bare = by_row.get("e")
    lines = [
        f"{'row':<46} {'req/s':>9} {'x bare':>7} {'p50 ms':>8} {'p99 ms':>8} {'SQL/1k':>9}"
        f" {'Redis/1k':>9} {'errors':>6}"
    ]
    for r in results:
        sql = "-" if r.sql_per_1000 is None else f"{r.sql_per_1000:.3f}"
        cmds = "-" if r.redis_per_1000 is None else f"{r.redis_per_1000:.1f}"
        ratio = f"{r.rps / bare.rps:.2f}" if bare is not None else "-"
        lines.append(
            f"({r.row}) {ROWS[r.row]:<42} {r.rps:>9.0f} {ratio:>7} {r.p50_ms:>8.2f}"
            f" {r.p99_ms:>8.2f} {sql:>9} {cmds:>9} {r.errors:>6}"
        )
    ratios = []
    pairs = (
        ("c", "s"),
        ("c", "a"),
        ("c", "d"),
        ("c", "h"),
        ("c", "e"),
        ("x", "h"),
        ("x", "e"),
        ("s", "e"),
        ("f", "e"),
    )
    for top, bottom in pairs:
        if top in by_row and bottom in by_row:
            ratios.append(f"{top}/{bottom} = {by_row[top].rps / by_row[bottom].rps:.2f}")
    return "\n".join(lines) + ("\nratios: " + ", ".join(ratios) if ratios else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--scenarios", default="viral,zipf,stampede,list50")
    parser.add_argument("--rows", default="abcdefgsxh")
    args = parser.parse_args()
    settings = bench_settings()
    ids = asyncio.run(prepare_data(settings, args.videos))
    RESULTS.mkdir(exist_ok=True)
    ids_file = RESULTS / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    report: dict[str, Any] = {
        "settings": {
            "duration_s": args.duration,
            "connections": args.connections,
            "videos": len(ids),
        },
        "scenarios": {},
    }
    for scenario in args.scenarios.split(","):
        rows = [r for r in args.rows if not (scenario == "stampede" and r in "defgh")]
        extra = (
            {
                "STREAMIFY_CACHE_TTL_SECONDS": "1",
                "STREAMIFY_CACHE_L1_TTL_SECONDS": "0.5",
                "STREAMIFY_CACHE_TTL_JITTER": "0",
            }
            if scenario == "stampede"
            else None
        )
        results = [
            measure(
                scenario, row, settings, ids_file, ids[0], args.duration, args.connections, extra
            )
            for row in rows
        ]
        print(f"\n== {scenario} ==")
        print(table(results))
        if scenario == "stampede":
            expiries = args.duration / 1.0
            for r in results:
                if r.sql_total is not None:
                    print(
                        f"({r.row}) {r.sql_total} SQL statements over ~{expiries:.0f} expiries of"
                        f" the hot key (3 entities each):"
                        f" {r.sql_total / (3 * expiries):.2f} per entity per expiry"
                    )
        report["scenarios"][scenario] = [asdict(r) for r in results]
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2))
    print(f"\nwrote {RESULTS / 'latest.json'}")


if __name__ == "__main__":
    main()
