"""/metrics: Prometheus text with request, latency, cache-tier, SQL and Redis counters."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from streamify.services import Services
from tests.helpers import VIDEO_QUERY, gql, insert_user, insert_video, token_for


async def test_metrics_count_requests_and_cache_events(
    services: Services, client: httpx.AsyncClient
) -> None:
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner)
    token = token_for(services.settings, owner)  # signed in: every request is executed
    for _ in range(3):
        await gql(client, VIDEO_QUERY, {"id": str(video)}, token=token)
    response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    assert (
        samples[("streamify_http_requests_total", (("route", "/graphql"), ("status", "2xx")))] == 3
    )
    assert samples[("streamify_http_request_seconds_count", (("route", "/graphql"),))] == 3
    assert (
        samples[("streamify_cache_events_total", (("event", "miss"), ("namespace", "video")))] == 1
    )
    assert (
        samples[("streamify_cache_events_total", (("event", "l1_hit"), ("namespace", "video")))]
        >= 2
    )
    assert samples[("streamify_sql_statements_total", ())] >= 3
    assert samples[("streamify_redis_commands_total", ())] >= 1
