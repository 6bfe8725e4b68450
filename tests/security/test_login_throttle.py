"""Log-in throttling that cannot lock a victim out (issue 22.5). Before, eleven wrong
passwords a minute from anywhere kept the victim's account refusing every log-in, its own
owner's included. Now a wrong guess slows the address that made it (doubling waits), a flood
from many addresses slows only addresses new to the account (a short wait), and the email is
counted as PostgreSQL compares it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from streamify.app import create_app
from streamify.services import Services, open_services
from tests.documents import PASSWORD, sign_up
from tests.servers import with_state

# The cache tier, auth, rate limits and subscriptions promise the same on a Redis Cluster.
pytestmark = pytest.mark.both_redis

LOG_IN = "mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }"
SHORT_WAIT = 1


@asynccontextmanager
async def addresses(services: Services) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """Clients of one API, each from an address of the test's choosing."""
    settings = services.settings.model_copy(
        update={"login_short_wait_seconds": SHORT_WAIT, "login_failures_per_email": 20}
    )
    async with open_services(settings, background_jobs=False) as opened:
        app = with_state(create_app(settings), opened)
        clients: list[httpx.AsyncClient] = []

        def from_address(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            clients.append(client)
            return client

        try:
            yield from_address
        finally:
            for client in clients:
                await client.aclose()


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> tuple[str, Any]:
    """("ok", None), or the error's code and its retryAfterSeconds."""
    body = (
        await client.post(
            "/graphql", json={"query": LOG_IN, "variables": {"e": email, "p": password}}
        )
    ).json()
    if "errors" not in body:
        return "ok", None
    extensions = body["errors"][0]["extensions"]
    return extensions["code"], extensions.get("retryAfterSeconds")


async def test_one_address_guessing_waits_longer_and_longer(services: Services) -> None:
    async with addresses(services) as at:
        owner = at("10.1.0.1")
        email = f"grace-{id(owner)}@example.com"
        await sign_up(owner, email)
        guesser = at("10.1.0.2")
        tries = [await log_in(guesser, email, "wrong password!") for _ in range(5)]
        assert tries == [("UNAUTHENTICATED", None)] * 4 + [("RATE_LIMITED", 1)]
        await asyncio.sleep(1.1)
        assert await log_in(guesser, email, "wrong password!") == ("UNAUTHENTICATED", None)
        assert await log_in(guesser, email, "wrong password!") == ("RATE_LIMITED", 2)
        # The owner elsewhere is not slowed by it.
        assert await log_in(owner, email, PASSWORD) == ("ok", None)


async def test_a_flood_from_many_addresses_does_not_lock_the_owner_out(
    services: Services,
) -> None:
    async with addresses(services) as at:
        home = at("10.2.0.1")
        email = f"ada-{id(home)}@example.com"
        await sign_up(home, email)
        assert await log_in(home, email, PASSWORD) == ("ok", None)  # home is now known
        # 40 attackers, a few guesses each: far past the per-email ceiling.
        for n in range(40):
            attacker = at(f"198.51.100.{n + 1}")
            for _ in range(2):
                assert (await log_in(attacker, email, "wrong password!"))[0] in (
                    "UNAUTHENTICATED",
                    "RATE_LIMITED",
                )
        # From home, at once.
        assert await log_in(home, email, PASSWORD) == ("ok", None)
        # From a new place: a short wait, then in.
        travelling = at("203.0.113.7")
        assert await log_in(travelling, email, PASSWORD) == ("RATE_LIMITED", SHORT_WAIT)
        await asyncio.sleep(SHORT_WAIT + 0.1)
        assert await log_in(travelling, email, PASSWORD) == ("ok", None)
        # An attacker keeps getting one try per short wait at best, never more.
        attacker = at("198.51.100.1")
        first = await log_in(attacker, email, "wrong password!")
        second = await log_in(attacker, email, "wrong password!")
        assert "RATE_LIMITED" in (first[0], second[0])


async def test_case_variants_postgresql_folds_share_one_counter(services: Services) -> None:
    """PostgreSQL's lower('İ') is 'i' (Python's is 'i̇'): both spellings are one account in
    the database, so they must be one counter too."""
    async with addresses(services) as at:
        owner = at("10.3.0.1")
        email = f"ida{id(owner)}@example.com"
        await sign_up(owner, email)
        variant = "İ" + email[1:].upper()
        assert variant.lower() != email  # Python would count them apart
        assert await services.db.pool.fetchval("SELECT lower($1) = lower($2)", variant, email)
        guesser = at("10.3.0.2")
        for _ in range(4):
            assert await log_in(guesser, email, "wrong password!") == ("UNAUTHENTICATED", None)
        assert (await log_in(guesser, f"  {variant} ", "wrong password!"))[0] == "RATE_LIMITED"
