"""The benchmark's plain endpoint over the loaders (row h) serves exactly what the GraphQL
queries of the other rows answer, so their ratio measures GraphQL's cost and nothing else."""

from __future__ import annotations

import httpx

from bench.loader_endpoint import loader_app
from bench.run import LIST_QUERY, VIDEO_QUERY
from streamify.services import Services
from tests.helpers import insert_user, insert_video
from tests.servers import with_state


async def test_the_plain_endpoint_serves_what_graphql_answers(services: Services) -> None:
    owner = await insert_user(services.db.pool, "Ada")
    ids = [str(await insert_video(services.db.pool, owner, title=f"V{n}")) for n in range(3)]
    app = with_state(loader_app(services.settings), services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        plain = (await client.get("/videos", params={"first": 50})).json()
        graphql = (
            await client.post("/graphql", json={"query": LIST_QUERY, "variables": {"first": 50}})
        ).json()
        assert plain == graphql
        assert len(plain["data"]["videos"]["edges"]) == 3
        one = (await client.get(f"/video/{ids[0]}")).json()
        answer = await client.post(
            "/graphql", json={"query": VIDEO_QUERY, "variables": {"id": ids[0]}}
        )
        assert one == answer.json()
        assert one["data"]["video"]["renditions"]
