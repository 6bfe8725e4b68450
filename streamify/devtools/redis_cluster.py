"""A Redis Cluster on loopback made of `redis-server --cluster-enabled yes` processes, for the
tests and the cluster benchmark: three masters with a replica each, joined by
`redis-cli --cluster create`."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from streamify.devtools.local import free_port, redis_binary, stop_process

log = logging.getLogger(__name__)


@dataclass
class LocalCluster:
    ports: list[int]
    node_timeout_ms: int
    state_dir: Path
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """A seed node; the cluster client learns the others from it."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self, port: int) -> None:
        folder = self.state_dir / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "redis.log").open("ab") as log_file:
            self.procs[port] = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
                [
                    redis_binary(),
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    # Its own bus port: the default (port + 10000) may be taken, or too high.
                    "--cluster-port",
                    str(free_port()),
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    str(self.node_timeout_ms),
                    # A replica syncs at once, and may take over however long ago it last
                    # heard from its master (a test kills masters seconds after the start).
                    "--repl-diskless-sync-delay",
                    "0",
                    "--cluster-replica-validity-factor",
                    "0",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(folder),
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = self.procs[port]
        _wait(lambda: proc.poll() is None and _answers(port), f"redis-server on {port}", 10)

    def kill(self, port: int) -> None:
        """SIGKILL one node, as a crashed machine would go."""
        proc = self.procs[port]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)

    def masters(self) -> dict[int, list[tuple[int, int]]]:
        """Each live master's port and the slot ranges it serves."""
        for port in self.ports:
            if self.procs[port].poll() is None:
                with contextlib.suppress(redis.RedisError):
                    return _masters(port)
        raise RuntimeError("no node of the cluster answers")

    def master_of(self, key: str) -> int:
        with redis.Redis(port=self.ports[0]) as any_node:
            slot = int(any_node.cluster("KEYSLOT", key))
        for port, ranges in self.masters().items():
            if any(low <= slot <= high for low, high in ranges):
                return port
        raise RuntimeError(f"no master serves slot {slot}")

    def wait_healthy(self, timeout: float = 30) -> None:
        """Until every live node says the cluster is ok, every slot has a live master, and
        every replica whose master lives has synced with it."""

        def healthy() -> bool:
            live = [p for p in self.ports if self.procs[p].poll() is None]
            try:
                if not all(_info(p).get("cluster_state") == "ok" for p in live):
                    return False
                masters = self.masters()
                covered = sum(h - lo + 1 for rs in masters.values() for lo, h in rs)
                return covered == 16384 and all(
                    _replica_synced(p) for p in live if p not in masters
                )
            except redis.RedisError:
                return False

        _wait(healthy, "the Redis Cluster", timeout)


def _answers(port: int) -> bool:
    try:
        with redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1) as node:
            return bool(node.ping())
    except redis.RedisError:
        return False


def _info(port: int) -> dict[str, str]:
    with redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1) as node:
        text = node.execute_command("CLUSTER", "INFO")
    text = text.decode() if isinstance(text, bytes) else str(text)
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


def _replica_synced(port: int) -> bool:
    """A replica whose master is alive has finished its sync (one whose master died stays
    down until another node takes it over: that is not a sync to wait for)."""
    with redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1) as node:
        replication = node.info("replication")
    if replication.get("role") != "slave":
        return True
    return bool(replication.get("master_link_status") == "up")


def _masters(port: int) -> dict[int, list[tuple[int, int]]]:
    with redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1) as node:
        text = node.execute_command("CLUSTER", "NODES")
    text = text.decode() if isinstance(text, bytes) else str(text)
    found: dict[int, list[tuple[int, int]]] = {}
    for line in text.splitlines():
        parts = line.split()
        flags = parts[2].split(",")
        if "master" not in flags or "fail" in flags or "fail?" in flags:
            continue
        node_port = int(parts[1].split("@")[0].rsplit(":", 1)[1])
        ranges = []
        for spec in parts[8:]:
            if spec.startswith("["):  # a slot being migrated
                continue
            low, _, high = spec.partition("-")
            ranges.append((int(low), int(high or low)))
        if ranges:
            found[node_port] = ranges
    return found


def _wait(ready: object, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} was not ready within {timeout:.0f} s")
        time.sleep(0.05)


@contextlib.contextmanager
def local_cluster(
    state_dir: Path, *, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 1000
) -> Iterator[LocalCluster]:
    """Start `masters * (1 + replicas)` nodes, join them, and stop them all on exit."""
    cli = shutil.which("redis-cli")
    if cli is None:
        raise RuntimeError("redis-cli is not installed (Debian: redis-tools)")
    cluster = LocalCluster(
        [free_port() for _ in range(masters * (1 + replicas))], node_timeout_ms, state_dir
    )
    try:
        for port in cluster.ports:
            cluster.start(port)
        subprocess.run(  # noqa: S603 - fixed binary and arguments
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in cluster.ports),
                "--cluster-replicas",
                str(replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        cluster.wait_healthy()
        log.info("Redis Cluster on ports %s", cluster.ports)
        yield cluster
    finally:
        for proc in cluster.procs.values():
            stop_process(proc, timeout=5)
