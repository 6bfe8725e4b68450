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


async def test_two_hundred_addresses_of_one_ipv6_network_get_the_wait_of_one(
    services: Services,
) -> None:
    """Issue 34.6: every log-in limit was keyed by the full address, and one /64 holds 2^64
    of them; now they are one subject, so 200 of them guess as one address does."""
    async with addresses(services) as at:
        owner = at("2001:db8:aaaa:1::1")
        email = f"hedy-{id(owner)}@example.com"
        await sign_up(owner, email)
        answers = [
            (await log_in(at(f"2001:db8:bbbb:2:{n:x}:{n * 7:x}::{n + 1:x}"), email, "wrong!!"))[0]
            for n in range(200)
        ]
        # One address: three free failures, a fourth that starts the doubling wait, then waits.
        assert answers.count("UNAUTHENTICATED") == 4
        assert answers.count("RATE_LIMITED") == 196
        # The owner, in another network, is not slowed by it.
        assert await log_in(owner, email, PASSWORD) == ("ok", None)


async def test_past_the_ceiling_new_addresses_together_get_one_turn_per_short_wait(
    services: Services,
) -> None:
    """Before, each new address past the per-email ceiling got a guess every short wait, so
    N addresses made N guesses; now the account takes one guess per short wait from all of
    them, while a known address still passes at once."""
    async with addresses(services) as at:
        home = at("192.0.2.1")
        email = f"joan-{id(home)}@example.com"
        await sign_up(home, email)
        assert await log_in(home, email, PASSWORD) == ("ok", None)
        for n in range(12):  # past the ceiling of 20 failures, from 12 addresses
            client = at(f"198.51.100.{n + 1}")
            for _ in range(2):
                await log_in(client, email, "wrong password!")
        crowd = [at(f"203.0.113.{n + 1}") for n in range(30)]
        for client in crowd:  # each new address's first try waits
            assert (await log_in(client, email, "wrong password!"))[0] == "RATE_LIMITED"
        await asyncio.sleep(SHORT_WAIT + 0.1)
        turns = [(await log_in(client, email, "wrong password!"))[0] for client in crowd]
        assert turns.count("UNAUTHENTICATED") == 1, turns
        assert await log_in(home, email, PASSWORD) == ("ok", None)


def test_limits_count_an_ipv6_client_by_its_network() -> None:
    from streamify.infra.client_address import limit_subject

    assert limit_subject("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert limit_subject("2001:db8:1:2::1") == limit_subject("2001:db8:1:2:ffff::9")
    assert limit_subject("2001:db8:1:3::1") != limit_subject("2001:db8:1:2::1")
    assert limit_subject("::ffff:198.51.100.7") == "198.51.100.7"
    assert limit_subject("198.51.100.7") == "198.51.100.7"
    assert limit_subject("testclient") == "testclient"
