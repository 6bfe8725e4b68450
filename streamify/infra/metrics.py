"""Prometheus metrics of one process, in a registry of its own (never the global one).

Request counts and latency are observed per request; everything the cache tier, the driver and
Redis already count is read only when /metrics is scraped, so the hot path pays nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
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


class Metrics:
    def __init__(self) -> None:
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
        self.registry.register(collector)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
