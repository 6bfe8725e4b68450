"""The standard introspection queries fit the query budget (GraphiQL loads its schema), while
hostile introspection documents are refused by introspection's own limits, in linear time."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import httpx
import pytest
from graphql import get_introspection_query, parse

from streamify.schema.budget import INTROSPECTION_MAX_DEPTH, Limits, budget_errors

QUERIES = Path(__file__).parent / "introspection_queries"
LIMITS = Limits(max_depth=12, max_aliases=15, max_complexity=10_000, default_list_size=100)
OPTIONS = (
    "descriptions",
    "specified_by_url",
    "directive_is_repeatable",
    "schema_description",
    "input_value_deprecation",
    "experimental_directive_deprecation",
    "one_of",
)


def graphql_core_queries() -> list[str]:
    """graphql-core's introspection query with every combination of its options."""
    queries = []
    for flags in itertools.product((False, True), repeat=len(OPTIONS)):
        queries.append(get_introspection_query(**dict(zip(OPTIONS, flags, strict=True))))
    return queries


# GraphiQL 3.8's own (graphql-js 16.11, as GraphiQL calls it) and Apollo clients' style, which
# adds __typename to every selection set; both written by tests' graphql-js, kept as text.
CLIENT_QUERIES = {path.stem: path.read_text() for path in sorted(QUERIES.glob("*.graphql"))}


def test_every_standard_introspection_query_fits_the_budget() -> None:
    standard = graphql_core_queries() + list(CLIENT_QUERIES.values())
    assert len(standard) == 2 ** len(OPTIONS) + 2
    for query in standard:
        assert budget_errors(parse(query), LIMITS) == [], query[:200]
    # graphql-core's TypeRef depth up to 9 (its default) still fits; the deepest refused.
    assert budget_errors(parse(get_introspection_query(type_depth=9)), LIMITS) == []


def codes(query: str) -> list[object]:
    return [error.extensions["code"] for error in budget_errors(parse(query), LIMITS)]  # type: ignore[index]


HOSTILE = {
    "fields-of-fields": '{ __type(name: "Video") { fields { type { fields { type { fields'
    " { name } } } } } } }",
    "types-of-fields": "{ __schema { types { fields { type { fields { name } } } } } }",
    "interfaces-of-possible-types": "{ __schema { types { possibleTypes { interfaces"
    " { name } } } } }",
    "schema-copies": "{ "
    + " ".join(f"s{i}: __schema {{ types {{ name }} }}" for i in range(10))
    + " }",
    "of-type-chain": '{ __type(name: "Video") { '
    + "ofType { " * (INTROSPECTION_MAX_DEPTH + 5)
    + "name"
    + " }" * (INTROSPECTION_MAX_DEPTH + 6)
    + " }",
    "through-fragments": "query { __schema { ...T } } fragment T on __Schema { types { ...F } }"
    " fragment F on __Type { fields { type { ...G } } } fragment G on __Type { fields { name } }",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_introspection_is_refused(name: str) -> None:
    found = codes(HOSTILE[name])
    assert found in (["QUERY_TOO_DEEP"], ["QUERY_TOO_COMPLEX"]), found


def test_introspection_limits_cost_linear_time() -> None:
    # A fragment chain that doubles at every link: refused in one pass, not 2^60.
    links = 60
    parts = ["fragment F0 on __Type { fields { name } }"]
    parts += [
        f"fragment F{i} on __Type {{ ...F{i - 1} ofType {{ ...F{i - 1} }} }}"
        for i in range(1, links + 1)
    ]
    document = parse(f'{{ __type(name: "Video") {{ ...F{links} }} }}\n' + "\n".join(parts))
    started = time.perf_counter()
    errors = budget_errors(document, LIMITS)
    assert time.perf_counter() - started < 0.5
    assert [e.extensions["code"] for e in errors] == ["QUERY_TOO_DEEP"]  # type: ignore[index]


def test_ordinary_queries_keep_their_depth_limit() -> None:
    assert codes("{ viewer { id } }") == []
    deep = "{ " + "a { " * 13 + "b" + " }" * 13 + " }"
    assert codes(deep) == ["QUERY_TOO_DEEP"]


@pytest.mark.parametrize("name", sorted(CLIENT_QUERIES))
async def test_clients_load_the_schema_over_http(client: httpx.AsyncClient, name: str) -> None:
    response = await client.post(
        "/graphql",
        json={"query": CLIENT_QUERIES[name], "operationName": "IntrospectionQuery"},
        headers={"accept": "application/graphql-response+json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    schema = body["data"]["__schema"]
    assert schema["queryType"]["name"] == "Query"
    query_type = next(t for t in schema["types"] if t["name"] == "Query")
    assert {"video", "videos", "viewer"} <= {field["name"] for field in query_type["fields"]}


async def test_hostile_introspection_over_http_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": HOSTILE["schema-copies"]})
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["QUERY_TOO_COMPLEX"]
