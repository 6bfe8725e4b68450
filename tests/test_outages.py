"""PostgreSQL gone while the API serves: cached reads go on, what needs the database answers
UNAVAILABLE with a hint of when to retry (GraphQL) or 503 with Retry-After (REST), and full
service comes back by itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from streamify.app import create_app
from streamify.infra.settings import Settings
from streamify.services import Services, open_services
from tests.helpers import VIDEO_QUERY, FakeClock, gql, insert_user, insert_video, token_for
from tests.servers import TcpProxy, with_state


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(settings.database_url)
    running = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    yield running
    await running.cut()


async def test_a_database_outage_is_named_and_cached_reads_go_on(
    settings: Settings, clean_db: None, clock: FakeClock, proxy: TcpProxy, services: Services
) -> None:
    parts = urlsplit(settings.database_url)
    behind = urlunsplit(
        parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}")
    )
    owner = await insert_user(services.db.pool)
    warm = await insert_video(services.db.pool, owner, title="Warm")
    cold = await insert_video(services.db.pool, owner, title="Cold")
    token = token_for(settings, owner)
    proxied = settings.model_copy(update={"database_url": behind, "db_pool_min_size": 1})
    async with (
        open_services(proxied, background_jobs=False, clock=clock) as api,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=with_state(create_app(proxied), api)),
            base_url="http://api",
        ) as client,
    ):
        await api.drop_listener_ready.wait()
        assert (await gql(client, VIDEO_QUERY, {"id": str(warm)}))["data"]["video"][
            "title"
        ] == "Warm"

        await proxy.cut()
        cached = await gql(client, VIDEO_QUERY, {"id": str(warm)})
        assert cached["data"]["video"]["title"] == "Warm"
        missed = await gql(client, VIDEO_QUERY, {"id": str(cold)})
        [error] = missed["errors"]
        assert error["extensions"] == {"code": "UNAVAILABLE", "retryAfterSeconds": 5}
        assert error["message"] == "The database did not answer; try again in a few seconds."
        rest = await client.post(
            "/s3/multipart",
            json={"filename": "a.mp4", "type": "video/mp4", "metadata": {"size": 1024}},
            headers={"authorization": f"Bearer {token}"},
        )
        assert rest.status_code == 503 and rest.headers["retry-after"] == "5"
        assert rest.json()["error"]["code"] == "UNAVAILABLE"
        assert (await client.get("/readyz")).status_code == 503

        await proxy.restore()
        back = await gql(client, VIDEO_QUERY, {"id": str(cold)})
        assert back["data"]["video"]["title"] == "Cold", back
