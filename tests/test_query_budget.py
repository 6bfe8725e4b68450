"""Documents built to be expensive are refused by the budget (depth, aliases, complexity counted
with lists at their `first:` size) in time linear in the document — never exponential."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from streamify.infra.settings import Settings
from streamify.schema import build_schema
from streamify.schema.budget import CEILING, Limits, budget_errors
from streamify.services import Services
from tests.helpers import LIST_QUERY, VIDEO_FIELDS, gql, insert_user, insert_video
from tests.servers import api_process


def fragment_bomb(links: int) -> str:
    """Each fragment spreads the previous one twice: 2^links fields once expanded."""
    parts = ['fragment F0 on Query { video(id: "x") { id } }']
    parts += [f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, links + 1)]
    return f"query {{ ...F{links} }}\n" + "\n".join(parts)


def codes(body: dict[str, object]) -> list[object]:
    errors = body.get("errors")
    assert isinstance(errors, list), body
    return [e["extensions"]["code"] for e in errors]


LIMITS = Limits(max_depth=12, max_aliases=15, max_complexity=10_000, default_list_size=100)


def test_the_budget_of_a_bomb_is_computed_once_per_fragment() -> None:
    from graphql import parse

    for links in (14, 30, 300):
        document = parse(fragment_bomb(links))
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            [error] = budget_errors(document, LIMITS)
            timings.append(time.perf_counter() - started)
        assert min(timings) < 0.05
        assert error.extensions == {"code": "QUERY_TOO_COMPLEX"}
        assert str(min(2 ** (links + 1), CEILING)) in error.message


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (fragment_bomb(30), "QUERY_TOO_COMPLEX"),
        (
            "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
            "FRAGMENT_CYCLE",
        ),
        ("{ " + "".join(f'a{i}: video(id: "x") {{ id }} ' for i in range(16)) + "}", "ALIASES"),
        (
            "query { "
            + " ".join(
                f"v{i}: videos(first: 100) {{ edges {{ node {{ {VIDEO_FIELDS} }} }} }}"
                for i in range(5)
            )
            + " }",
            "QUERY_TOO_COMPLEX",
        ),
        # graphql-core's parser refuses documents nested this deep before any rule runs.
        (
            "{" + "... on Query {" * 300 + " viewer { id } " + "}" * 300 + "}",
            "GRAPHQL_PARSE_FAILED",
        ),
    ],
    ids=["bomb", "cycle", "aliases", "wide", "nested-inline"],
)
async def test_hostile_documents_are_refused_fast(
    services: Services, client: httpx.AsyncClient, document: str, code: str
) -> None:
    # The best of three: a loaded machine may stall one request; a slow check stalls all.
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        response = await client.post("/graphql", json={"query": document})
        timings.append(time.perf_counter() - started)
    elapsed = min(timings)
    assert response.status_code in (200, 400)
    body = response.json()
    assert body.get("data") is None and body["errors"], body
    if code == "ALIASES":
        assert codes(body) == ["QUERY_TOO_MANY_ALIASES"]
    else:
        assert codes(body) == [code]
    assert elapsed < 0.1, f"{elapsed:.3f} s"


async def test_a_feed_page_fits_the_budget(services: Services, client: httpx.AsyncClient) -> None:
    owner = await insert_user(services.db.pool)
    await insert_video(services.db.pool, owner)
    body = await gql(client, LIST_QUERY, {"first": 100})
    assert "errors" not in body and len(body["data"]["videos"]["edges"]) == 1


async def test_depth_is_counted_through_fragments(settings: Settings) -> None:
    schema = build_schema(settings.model_copy(update={"graphql_max_depth": 3}))
    document = (
        "query { ...Page } fragment Page on Query { videos { edges { node { ...Owner } } } }"
        " fragment Owner on Video { owner { id } }"
    )
    result = await schema.execute(document)
    assert result.errors and result.errors[0].extensions == {"code": "QUERY_TOO_DEEP"}


@pytest.mark.slow
async def test_bombs_do_not_stall_other_clients(settings: Settings, services: Services) -> None:
    owner = await insert_user(services.db.pool)
    video = await insert_video(services.db.pool, owner, title="Still here")
    async with api_process(settings) as base, httpx.AsyncClient(base_url=base) as http:
        query = "query($id: ID!) { video(id: $id) { title } }"

        async def bomb() -> float:
            started = time.perf_counter()
            refused = await http.post("/graphql", json={"query": fragment_bomb(30)})
            assert codes(refused.json()) == ["QUERY_TOO_COMPLEX"]
            return time.perf_counter() - started

        async def reader() -> str:
            answer = await http.post(
                "/graphql", json={"query": query, "variables": {"id": str(video)}}
            )
            return str(answer.json()["data"]["video"]["title"])

        started = time.perf_counter()
        results = await asyncio.gather(*(bomb() for _ in range(50)), *(reader() for _ in range(50)))
        assert time.perf_counter() - started < 5
        assert results[50:] == ["Still here"] * 50
        assert max(t for t in results[:50] if isinstance(t, float)) < 2
