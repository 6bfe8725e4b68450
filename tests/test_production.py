"""STREAMIFY_ENVIRONMENT=production: development secrets refused at start, naming the variable
and never its value; GraphiQL, introspection and an open /metrics off; sessionless tokens
refused."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx

from streamify.infra.settings import Settings
from streamify.infra.tokens import issue_token
from streamify.services import Services
from tests.documents import sign_up
from tests.helpers import insert_user, token_for
from tests.servers import api_process


def _one_line_pem() -> str:
    """A fresh RSA key as an environment variable holds it: one line, newlines as \\n."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode().strip().replace("\n", "\\n")


STRONG = {
    "STREAMIFY_ENVIRONMENT": "production",
    "STREAMIFY_PLAYBACK_KEY_PAIR_ID": "K2JCJMDEHXQW5F",
    "STREAMIFY_PLAYBACK_PRIVATE_KEY": _one_line_pem(),
    "STREAMIFY_JWT_SECRET": "j" * 40,
    "STREAMIFY_S3_WEBHOOK_SECRET": "w" * 40,
    "STREAMIFY_S3_ACCESS_KEY_ID": "AKIAPRODUCTION",
    "STREAMIFY_S3_SECRET_ACCESS_KEY": "prod-secret-key-value",
    "STREAMIFY_CDN_SHARED_SECRET": "c" * 40,
    "STREAMIFY_SESSION_COOKIE_SECURE": "true",
}


def _serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMIFY_")}
    return subprocess.run(
        [sys.executable, "-m", "streamify", "serve", "--port", "1"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_refuses_development_secrets_naming_the_variable() -> None:
    refused = _serve({"STREAMIFY_ENVIRONMENT": "production"})
    assert refused.returncode == 2
    assert "STREAMIFY_JWT_SECRET still has a development default" in refused.stderr
    assert "STREAMIFY_S3_WEBHOOK_SECRET" in refused.stderr
    assert "dev-only" not in refused.stderr and "streamify-secret-key" not in refused.stderr
    assert "STREAMIFY_PLAYBACK_PRIVATE_KEY still has a development default" in refused.stderr
    assert "STREAMIFY_PLAYBACK_KEY_PAIR_ID still has a development default" in refused.stderr
    assert "PRIVATE KEY-----" not in refused.stderr

    not_a_key = _serve({**STRONG, "STREAMIFY_PLAYBACK_PRIVATE_KEY": "not-a-pem-secret"})
    assert not_a_key.returncode == 2
    assert "is not a PEM private key" in not_a_key.stderr
    assert "not-a-pem-secret" not in not_a_key.stderr + not_a_key.stdout

    short = _serve({**STRONG, "STREAMIFY_JWT_SECRET": "too-short-but-secret"})
    assert short.returncode == 2
    assert "STREAMIFY_JWT_SECRET must be at least 32 bytes long" in short.stderr
    assert "too-short-but-secret" not in short.stderr + short.stdout

    compose_default = _serve({**STRONG, "STREAMIFY_S3_WEBHOOK_SECRET": "change-me-" + "x" * 40})
    assert compose_default.returncode == 2
    assert "STREAMIFY_S3_WEBHOOK_SECRET still has a development default" in compose_default.stderr


async def test_production_closes_what_development_leaves_open(
    settings: Settings, services: Services
) -> None:
    production = settings.model_copy(update={"jwt_secret": STRONG["STREAMIFY_JWT_SECRET"]})
    user = await insert_user(services.db.pool)
    async with api_process(settings, **STRONG) as base, httpx.AsyncClient(base_url=base) as http:
        introspection = await http.post(
            "/graphql", json={"query": "{ __schema { types { name } } }"}
        )
        assert introspection.json()["errors"]
        assert introspection.json().get("data") is None
        # No GraphiQL page: the browser's GET is an ordinary GraphQL GET without a query.
        page = await http.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 406, page.text
        assert (await http.get("/metrics")).status_code == 404
        sessionless = token_for(production, user)
        viewer = await http.post(
            "/graphql",
            json={"query": "{ viewer { id } }"},
            headers={"authorization": f"Bearer {sessionless}"},
        )
        assert viewer.json()["data"]["viewer"] is None
        # A token of a session that does not exist is refused; a real log-in works.
        orphan = issue_token(
            user,
            session_id=uuid.uuid4(),
            kind="access",
            secret=production.jwt_secret,
            algorithm=production.jwt_algorithm,
            ttl_seconds=60,
        )
        refused = await http.post(
            "/graphql",
            json={"query": f'mutation {{ deleteVideo(id: "{uuid.uuid4()}") }}'},
            headers={"authorization": f"Bearer {orphan}"},
        )
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        account = await sign_up(http)
        me = await http.post(
            "/graphql",
            json={"query": "{ viewer { id } }"},
            headers={"authorization": f"Bearer {account['accessToken']}"},
        )
        assert me.json()["data"]["viewer"]["id"] == account["viewer"]["id"]
    metered = {**STRONG, "STREAMIFY_METRICS_TOKEN": "m" * 32}
    async with api_process(settings, **metered) as base, httpx.AsyncClient(base_url=base) as http:
        assert (await http.get("/metrics")).status_code == 401
        scraped = await http.get("/metrics", headers={"authorization": "Bearer " + "m" * 32})
        assert scraped.status_code == 200 and b"streamify_" in scraped.content


def test_production_refuses_unsafe_settings_naming_each() -> None:
    """Issue 22.8: an insecure cookie, a short metrics token, local CORS origins, a JWT
    algorithm outside the HMAC allow-list and a missing or short CDN secret."""
    cases = {
        "STREAMIFY_SESSION_COOKIE_SECURE": ("false", "must be true"),
        "STREAMIFY_METRICS_TOKEN": ("short-token", "at least 32 bytes"),
        "STREAMIFY_CORS_ALLOW_ORIGINS": (
            '["https://app.example.com", "http://localhost:5173"]',
            "local origins",
        ),
        "STREAMIFY_JWT_ALGORITHM": ("none", "must be one of HS256, HS384, HS512"),
        "STREAMIFY_CDN_SHARED_SECRET": ("cdn-secret", "at least 32 bytes"),
    }
    for variable, (value, said) in cases.items():
        refused = _serve({**STRONG, variable: value})
        assert refused.returncode == 2, variable
        assert f"{variable} {said}" in refused.stderr or (
            variable in refused.stderr and said in refused.stderr
        ), refused.stderr[-800:]
        assert value not in refused.stderr or value in ("false", "none"), variable
    missing = {k: v for k, v in STRONG.items() if k != "STREAMIFY_CDN_SHARED_SECRET"}
    refused = _serve(missing)
    assert "STREAMIFY_CDN_SHARED_SECRET still has a development default" in refused.stderr


def test_production_allows_no_cross_origin_callers_unless_named() -> None:
    production = Settings.model_validate(
        {k.removeprefix("STREAMIFY_").lower(): v for k, v in STRONG.items()}
    )
    assert production.cors_allow_origins == []
    named = production.model_copy(update={"cors_allow_origins": ["https://app.example.com"]})
    assert named.cors_allow_origins == ["https://app.example.com"]
