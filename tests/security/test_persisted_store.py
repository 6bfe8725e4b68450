"""The persisted-query store cannot be flooded (issue 22.2): new registrations are limited per
client address, and the store as a whole is bounded in bytes, oldest out first, so unique
documents by the thousand cannot fill Redis and push out what else lives there."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest

from streamify.app import create_app
from streamify.infra.persisted_store import PersistedStore
from streamify.services import Services, open_services
from tests.servers import with_state

# The cache tier, auth, rate limits and subscriptions promise the same on a Redis Cluster.
pytestmark = pytest.mark.both_redis

MIB = 1024 * 1024


def unique_document(n: int, size: int = 12_000) -> str:
    """A valid document of about `size` bytes, unique by `n`: a viewer query padded with
    aliased fields (comments would not count against the token limit but are kept)."""
    pad = "#" + "p" * (size - 80) + "\n"
    return f"query Q{n} {{ viewer {{ id }} }}\n{pad}"


def register(document: str) -> dict[str, object]:
    digest = hashlib.sha256(document.encode()).hexdigest()
    return {
        "query": document,
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
    }


async def used_memory(services: Services) -> int:
    info = await services.redis.info("memory")
    return int(info["used_memory"])


async def test_one_client_registers_at_most_its_allowance(
    services: Services, client: httpx.AsyncClient
) -> None:
    limit = services.settings.rate_limit_persisted_queries_per_minute
    before = await used_memory(services)
    refused = 0
    answers = []
    for n in range(3000):
        response = await client.post("/graphql", json=register(unique_document(n)))
        answers.append(response.status_code)
        if response.status_code == 429:
            refused += 1
            body = response.json()
            assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            assert int(response.headers["retry-after"]) >= 1
    grown = await used_memory(services) - before
    assert answers[:limit] == [200] * limit
    assert refused == 3000 - limit
    assert await services.persisted.total_bytes() <= limit * 12_000
    assert grown < 3 * MIB, f"Redis grew {grown / MIB:.1f} MiB"
    # A document already stored is free to send again, past the allowance.
    again = await client.post("/graphql", json=register(unique_document(0)))
    assert again.status_code == 200 and "errors" not in again.json()


async def test_the_store_keeps_its_byte_bound_oldest_out_first(services: Services) -> None:
    store = PersistedStore(services.redis, services.names, max_bytes=1 * MIB, ttl_seconds=3600)
    digests = []
    for n in range(300):  # 3.6 MB of documents into a 1 MiB store
        document = unique_document(n)
        digest = hashlib.sha256(document.encode()).hexdigest()
        assert await store.put(digest, document)
        digests.append(digest)
    assert await store.total_bytes() <= 1 * MIB
    assert not await store.known(digests[0])  # the oldest went first
    assert await store.known(digests[-1])
    kept = [d for d in digests if await store.known(d)]
    assert 60 <= len(kept) <= 1 * MIB // 11_900
    assert kept == digests[-len(kept) :]
    # Sizes and the index hold exactly the documents kept.
    assert await services.redis.zcard(services.names.persisted_index) == len(kept)
    assert await services.redis.hlen(services.names.persisted_sizes) == len(kept)


async def test_the_allowance_is_per_client_address(services: Services) -> None:
    settings = services.settings.model_copy(update={"rate_limit_persisted_queries_per_minute": 2})
    statuses: dict[str, list[int]] = {}
    async with open_services(settings, background_jobs=False) as tight:
        app = with_state(create_app(settings), tight)
        for address in ("10.0.0.1", "10.0.0.2"):
            transport = httpx.ASGITransport(app=app, client=(address, 1234))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                statuses[address] = [
                    (
                        await http.post("/graphql", json=register(unique_document(n, 500)))
                    ).status_code
                    for n in (uuid.uuid4().int % 10**9 for _ in range(3))
                ]
    assert statuses == {"10.0.0.1": [200, 200, 429], "10.0.0.2": [200, 200, 429]}
