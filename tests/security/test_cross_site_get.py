"""A GET never runs a mutation, whatever an earlier request made the server remember.

The attack (issue 22.1): an anonymous GET whose operationName and query join into the same
cache key as a mutation document taught the operation-type cache that the key was a QUERY;
a link on any site then sent a logged-in victim's browser (SameSite=Lax cookies ride along on
top-level GETs) to a GET that ran the mutation as the victim."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import httpx
import pytest

from streamify.services import Services
from tests.documents import PASSWORD, sign_up
from tests.helpers import gql, insert_video

LOG_IN = "mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }"


async def victim(client: httpx.AsyncClient, services: Services) -> uuid.UUID:
    """A signed-up user whose session cookie the client now carries, and one of their videos."""
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    account = await sign_up(client, email)
    logged_in = await gql(client, LOG_IN, {"e": email, "p": PASSWORD})
    assert logged_in["data"]["logIn"]["accessToken"]
    assert client.cookies.get("sf_session")
    owner = uuid.UUID(account["viewer"]["id"])
    return await insert_video(services.db.pool, owner, title="Mine")


def mutation(video: uuid.UUID) -> str:
    return f'mutation M {{ updateVideo(id: "{video}", input: {{ title: "pwned" }}) {{ id }} }}'


# Ways to split a mutation document across operationName and query so that a naive join of
# the two reads the same for a harmless first request and the malicious second one.
SEPARATORS = ["|", "\n", "\x1f", " ", ""]


@pytest.mark.parametrize("separator", SEPARATORS, ids=repr)
async def test_a_remembered_parse_error_does_not_let_a_mutation_through_get(
    client: httpx.AsyncClient, services: Services, separator: str
) -> None:
    video = await victim(client, services)
    document = mutation(video) + " #"
    # First, anonymously: operationName carries the mutation, query is junk -> a parse error.
    primer = {"query": "x", "operationName": f"M{separator}{document}"}
    async with httpx.AsyncClient(
        transport=client._transport, base_url="http://testserver"
    ) as stranger:
        first = await stranger.get(f"/graphql?{urlencode(primer)}")
    assert first.status_code in (200, 400)
    assert "pwned" not in first.text
    # Then the victim's browser follows a link: same joined key, the mutation in `query`.
    attack = {"query": f"{document}{separator}x", "operationName": "M"}
    response = await client.get(
        f"/graphql?{urlencode(attack)}", headers={"accept": "application/json"}
    )
    title = await services.db.pool.fetchval("SELECT title FROM videos WHERE id = $1", video)
    assert title == "Mine", response.text
    # Where the second document is a whole mutation, GET refuses it as it refuses any.
    if separator in ("|", " ", ""):
        assert response.status_code == 405, response.text
    else:
        assert "updateVideo" not in response.text


async def test_a_get_with_a_session_cookie_runs_no_mutation_at_all(
    client: httpx.AsyncClient, services: Services
) -> None:
    video = await victim(client, services)
    for params in (
        {"query": mutation(video)},
        {"query": mutation(video), "operationName": "M"},
        # Two operations; the query one named, the mutation run by its own name.
        {"query": mutation(video) + " query Q { viewer { id } }", "operationName": "M"},
    ):
        response = await client.get(f"/graphql?{urlencode(params)}")
        assert response.status_code == 405, response.text
        assert response.headers["allow"] == "POST"
    title = await services.db.pool.fetchval("SELECT title FROM videos WHERE id = $1", video)
    assert title == "Mine"
