"""The process's per-document caches and its response cache are bounded in bytes and keyed by
digests: a stranger sending many distinct padded 0.9 MB documents (and GETs whose answers
are large) moves memory by about the bounds, not by what was sent (issue 22.2)."""

from __future__ import annotations

import ctypes
import gc
from urllib.parse import urlencode

import httpx
import psutil
from starlette.routing import Route

from streamify.app import create_app
from streamify.services import Services
from streamify.web.graphql_http import GraphQLEndpoint
from tests.helpers import insert_user, insert_video
from tests.servers import with_state

MIB = 1024 * 1024
BOUND = 8 * MIB
PAD = 900_000  # under the 1 MiB body limit


def padded(document: str, n: int) -> str:
    return f"{document} # {n} " + "x" * PAD


def rss() -> int:
    """What the process holds: freed heap memory is handed back first (glibc keeps freed
    0.9 MB blocks otherwise, which says nothing about what is retained)."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return int(psutil.Process().memory_info().rss)


async def test_padded_documents_and_large_answers_stay_within_the_bounds(
    services: Services,
) -> None:
    settings = services.settings.model_copy(
        update={"graphql_document_cache_bytes": BOUND, "response_cache_max_bytes": BOUND}
    )
    starlette = create_app(settings)
    [endpoint] = [
        r.app
        for r in starlette.routes
        if isinstance(r, Route) and isinstance(r.app, GraphQLEndpoint)
    ]
    app = with_state(starlette, services)
    owner = await insert_user(services.db.pool)
    for n in range(40):
        video = await insert_video(services.db.pool, owner, title=f"Long {n}", renditions=())
        await services.db.pool.execute(
            "UPDATE videos SET description = $2 WHERE id = $1", video, "d" * 12_000
        )
    big = "query Big { videos(first: 40) { edges { node { id description } } } }"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        # Warm up what a first request allocates once (schema, pools, codegen).
        assert (await client.post("/graphql", json={"query": big})).status_code == 200
        before = rss()
        sent = 0
        for n in range(48):  # valid: compiled, parsed and judged once each
            body = {"query": padded("{ viewer { id } }", n)}
            response = await client.post("/graphql", json=body)
            assert response.status_code == 200, response.text[:300]
            sent += len(body["query"])
        for n in range(24):  # invalid: refused by the compiled path, then Strawberry's
            response = await client.post("/graphql", json={"query": padded("{ nope }", n)})
            assert "errors" in response.json()
            sent += PAD
        for n in range(48):  # anonymous GETs with 480 kB answers: the response cache
            query = big.replace("videos(", f"v{n}: videos(")
            response = await client.get(f"/graphql?{urlencode({'query': query})}")
            assert response.status_code == 200 and len(response.content) > 400_000
            sent += len(response.content)
        grown = rss() - before
    assert sent > 80 * MIB
    # The process grew by less than the sum of the bounds of the caches a document can reach
    # (its parse, its verdict, its compiled plan, the responses), and each cache's estimate is
    # within its bound.
    assert grown < 4 * BOUND, f"grew {grown / MIB:.0f} MiB after {sent / MIB:.0f} MiB sent"
    compiled = endpoint.compiled
    assert compiled is not None
    assert compiled.operations.size <= BOUND
    assert endpoint.cache.responses.currsize + endpoint.cache.by_url.currsize <= BOUND
