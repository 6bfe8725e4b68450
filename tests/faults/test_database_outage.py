"""PostgreSQL gone for 20 s (cut at a loopback proxy in front of it) while the API serves
reads on the real clock: cached reads are answered throughout, misses answer UNAVAILABLE with
a retry hint (never a masked error), and full service comes back by itself."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from streamify.app import create_app
from streamify.infra.settings import Settings
from streamify.services import open_services
from tests.faults.conftest import FaultTable
from tests.helpers import VIDEO_QUERY, gql, insert_user, insert_video
from tests.servers import TcpProxy, with_state

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def test_postgres_stopped_for_20_seconds_while_reads_go_on(
    settings: Settings, clean_db: None, fault_table: FaultTable
) -> None:
    parts = urlsplit(settings.database_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    behind = urlunsplit(
        parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}")
    )
    proxied = settings.model_copy(update={"database_url": behind, "db_pool_min_size": 1})
    try:
        async with (
            open_services(proxied, background_jobs=False) as api,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=with_state(create_app(proxied), api)),
                base_url="http://api",
            ) as client,
        ):
            owner = await insert_user(api.db.pool)
            warm = await insert_video(api.db.pool, owner, title="Warm")
            cold = [await insert_video(api.db.pool, owner, title=f"Cold {i}") for i in range(60)]
            await api.drop_listener_ready.wait()
            assert (await gql(client, VIDEO_QUERY, {"id": str(warm)}))["data"]["video"]

            await proxy.cut()
            answered, unavailable, other = 0, 0, []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                found = await gql(client, VIDEO_QUERY, {"id": str(warm)})
                answered += found["data"]["video"]["title"] == "Warm"
                missed = await gql(client, VIDEO_QUERY, {"id": str(cold[unavailable % 60])})
                codes = [e["extensions"] for e in missed.get("errors", [])]
                if codes == [{"code": "UNAVAILABLE", "retryAfterSeconds": 5}]:
                    unavailable += 1
                else:
                    other.append(missed)
                await asyncio.sleep(0.5)
            assert other == [] and answered >= 30 and unavailable == answered

            await proxy.restore()
            back_at = time.monotonic()
            while True:
                found = await gql(client, VIDEO_QUERY, {"id": str(cold[-1])})
                if found.get("data", {}).get("video"):
                    break
                assert time.monotonic() - back_at < 30, found
                await asyncio.sleep(0.2)
            recovered = time.monotonic() - back_at
            ready = await client.get("/readyz")
            assert ready.status_code == 200
    finally:
        await proxy.cut()
    fault_table.add(
        "PostgreSQL stopped 20 s while the API serves reads",
        f"{answered} cached reads answered, {unavailable} misses UNAVAILABLE, 0 other errors;"
        " full service back by itself",
        recovered,
        0,
        0,
    )
