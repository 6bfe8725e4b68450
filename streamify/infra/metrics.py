"""Prometheus metrics of one process, in a registry of its own (never the global one).

Request counts and latency are observed per request; everything the cache tier, the driver and
Redis already count is read only when /metrics is scraped, so the hot path pays nothing.

Under `streamify serve --workers N` a scrape reaches one process but must count them all: the
supervisor gives them a shared folder (`PROMETHEUS_MULTIPROC_DIR`, prometheus_client's
multiprocess mode), where each process keeps its request metrics, and copies what it counts
elsewhere there too, every second and at each of its scrapes (`SharedCopy`); a scrape sums
the folder."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from streamify.infra.cache.redis_store import RedisCache
    from streamify.infra.db import StatementCounter

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class CountersCollector(Collector):
    """Exposes counters kept elsewhere, read at scrape time."""

    def __init__(
        self,
        *,
        tier_stats: Callable[[], Iterable[tuple[tuple[str, str], int]]],
        statements: StatementCounter,
        redis: RedisCache | None,
        l1_size: Callable[[], int],
    ) -> None:
        self.tier_stats = tier_stats
        self.statements = statements
        self.redis = redis
        self.l1_size = l1_size

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        events = CounterMetricFamily(
            "streamify_cache_events",
            "Cache tier events by loader namespace and event (l1_hit, redis_hit, miss, fill, "
            "invalidation, single_flight_wait, error).",
            labels=["namespace", "event"],
        )
        for (namespace, event), count in sorted(self.tier_stats()):
            events.add_metric([namespace, event], count)
        yield events
        yield CounterMetricFamily(
            "streamify_sql_statements",
            "Statements sent to PostgreSQL.",
            value=self.statements.count,
        )
        yield CounterMetricFamily(
            "streamify_redis_commands",
            "Commands the cache tier sent to Redis.",
            value=self.redis.commands if self.redis is not None else 0,
        )
        yield GaugeMetricFamily(
            "streamify_l1_entries", "Entries in the L1 cache.", value=self.l1_size()
        )


# Where the processes of one `serve --workers N` share their values (read by prometheus_client
# when it is imported, so set before a process starts).
SHARED_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w+_(\d+)\.db$")


class SharedCopy:
    """What collectors compute at scrape time, copied into multiprocess metrics so that any
    process's scrape sums every process's values: a counter grows by its increase since the
    last copy (a dead process's total stays counted), a gauge is summed over live processes."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.collectors: list[Collector] = []
        self._counters: dict[str, Counter] = {}
        self._gauges: dict[str, Gauge] = {}
        self._copied: dict[tuple[str, tuple[str, ...]], float] = {}

    def update(self) -> None:
        for collector in self.collectors:
            for family in collector.collect():
                for sample in family.samples:
                    names = tuple(sorted(sample.labels))
                    values = tuple(sample.labels[n] for n in names)
                    if family.type == "counter" and sample.name.endswith("_total"):
                        counter = self._counters.get(family.name)
                        if counter is None:
                            counter = Counter(family.name, family.documentation, names)
                            self._counters[family.name] = counter
                        key = (family.name, values)
                        grown = sample.value - self._copied.get(key, 0.0)
                        if grown > 0:
                            (counter.labels(*values) if names else counter).inc(grown)
                            self._copied[key] = sample.value
                    elif family.type == "gauge":
                        gauge = self._gauges.get(family.name)
                        if gauge is None:
                            gauge = Gauge(
                                family.name,
                                family.documentation,
                                names,
                                multiprocess_mode="livesum",
                            )
                            self._gauges[family.name] = gauge
                        (gauge.labels(*values) if names else gauge).set(sample.value)
        self._forget_dead_processes()

    def _forget_dead_processes(self) -> None:
        """A process uvicorn's supervisor replaced leaves its gauges behind: drop them."""
        for path in Path(self.folder).iterdir():
            match = _LIVE_GAUGE_FILE.match(path.name)
            if match is None:
                continue
            pid = int(match.group(1))
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                mark_process_dead(pid, self.folder)  # type: ignore[no-untyped-call]
            except PermissionError:
                pass  # alive, another user's


class Metrics:
    def __init__(self) -> None:
        folder = os.environ.get(SHARED_DIR_ENV)
        self.shared = SharedCopy(folder) if folder else None
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "streamify_http_requests",
            "HTTP requests by route and status class.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "streamify_http_request_seconds",
            "HTTP request latency by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self.graphql_executions = Counter(
            "streamify_graphql_executions",
            "GraphQL operations over HTTP by the path that ran them (compiled, strawberry) and, "
            "for Strawberry, why the compiled path did not (introspection, subscription, "
            "invalid, variables, resolver_uses_info, ...).",
            ["path", "fallback"],
            registry=self.registry,
        )
        self._executions: dict[str | None, Any] = {}
        self.beacon_events = Counter(
            "streamify_beacon_events",
            "Playback events by what became of them: counted, or dropped (invisible video, bot, "
            "session_rate, address_rate, invalid, redis_down).",
            ["outcome"],
            registry=self.registry,
        )
        self._beacon_children: dict[str, Any] = {}

    def beacons(self, outcome: str, events: int) -> None:
        if events:
            child = self._beacon_children.get(outcome)
            if child is None:
                child = self._beacon_children[outcome] = self.beacon_events.labels(outcome)
            child.inc(events)

    def observe(self, route: str, status: int, seconds: float) -> None:
        # labels() takes a lock and builds a key each call; the children are kept instead.
        key = (route, status // 100)
        children = self._children.get(key)
        if children is None:
            children = (self.latency.labels(route), self.requests.labels(route, f"{key[1]}xx"))
            self._children[key] = children
        children[0].observe(seconds)
        children[1].inc()

    def graphql_execution(self, fallback: str | None) -> None:
        child = self._executions.get(fallback)
        if child is None:
            path = "compiled" if fallback is None else "strawberry"
            child = self.graphql_executions.labels(path, fallback or "")
            self._executions[fallback] = child
        child.inc()

    def add_collector(self, collector: Collector) -> None:
        if self.shared is None:
            self.registry.register(collector)
        else:
            self.shared.collectors.append(collector)

    def exposition(self) -> bytes:
        if self.shared is None:
            return generate_latest(self.registry)
        self.shared.update()
        every_process = CollectorRegistry()
        MultiProcessCollector(every_process, path=self.shared.folder)  # type: ignore[no-untyped-call]
        return generate_latest(every_process)

    async def keep_shared(self, *, interval: float = 1.0) -> None:
        """Copy this process's collected values to the shared folder until cancelled."""
        if self.shared is None:
            return
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(OSError):
                self.shared.update()
