"""The web app's contract with the API, without a browser: its operations are the ones the
schema accepts (and persists), its schema file is the live schema, and the API serves it at
every path the app routes. tests/browser/test_web_app.py drives it end to end."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import httpx
from graphql import OperationDefinitionNode, parse, print_ast, separate_operations, validate

from streamify.infra.settings import Settings
from streamify.schema import build_schema
from streamify.web.web_app import INDEX

APP = Path(__file__).resolve().parents[1] / "frontend" / "app"
OPERATIONS = APP / "src" / "operations.graphql"


def test_the_apps_schema_file_is_the_live_schema() -> None:
    live = build_schema(Settings()).as_str()
    assert (APP / "schema.graphql").read_text().strip() == live.strip(), (
        "the schema changed: run `.venv/bin/streamify schema > frontend/app/schema.graphql`"
        " and rebuild the app (scripts/system-deps.sh app)"
    )


def test_every_operation_validates_against_the_live_schema() -> None:
    schema = build_schema(Settings())
    document = parse(OPERATIONS.read_text())
    assert validate(schema._schema, document) == []
    names = {
        d.name.value
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode) and d.name
    }
    assert {"Feed", "MyVideos", "Watch", "VideoProcessing", "UpdateVideo", "LogIn"} <= names


async def test_queries_are_persisted_over_get_within_the_budget(client: httpx.AsyncClient) -> None:
    """What the client does: the hash alone first, then the document once when asked."""
    document = parse(OPERATIONS.read_text())
    variables = {
        "Feed": {"first": 24},
        "MyVideos": {"ownerId": "00000000-0000-0000-0000-000000000000", "first": 24},
        "Watch": {"id": "00000000-0000-0000-0000-000000000000"},
        "UploadedVideo": {"uploadId": "00000000-0000-0000-0000-000000000000"},
    }
    for name, single in separate_operations(document).items():
        operation = next(d for d in single.definitions if isinstance(d, OperationDefinitionNode))
        if operation.operation.value != "query":
            continue
        text = print_ast(single)
        digest = hashlib.sha256(text.encode()).hexdigest()
        params = {
            "operationName": name,
            "variables": json.dumps(variables.get(name, {})),
            "extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}}),
        }
        first = (await client.get("/graphql", params=params)).json()
        assert first["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND", name
        stored = await client.get("/graphql", params={**params, "query": text})
        codes = [e.get("extensions", {}).get("code") for e in stored.json().get("errors", [])]
        assert not any(c and (c.startswith("QUERY_") or c.startswith("GRAPHQL_")) for c in codes), (
            name,
            codes,
        )
        again = (await client.get("/graphql", params=params)).json()
        assert again.get("data") == stored.json().get("data"), name


async def test_the_app_is_served_at_each_of_its_paths(client: httpx.AsyncClient) -> None:
    assert INDEX.is_file(), "run scripts/test.sh: it builds frontend/app"
    pages = [
        "/",
        "/login",
        "/signup",
        "/library",
        "/upload",
        "/videos/abc",
        "/videos/abc/processing",
    ]
    for path in pages:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-cache"
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
        assert '<main id="main"' in response.text
    assert (await client.get("/nowhere")).status_code == 404
    assert (await client.get("/videos/abc/elsewhere")).status_code == 404

    html = (await client.get("/")).text
    bundles = re.findall(r'(?:src|href)="(/app/main-[A-Z0-9]+\.(?:js|css))"', html)
    assert len(bundles) == 2, html
    for bundle in bundles:
        asset = await client.get(bundle)
        assert asset.status_code == 200 and len(asset.content) > 1000
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    # Nothing the page loads comes from elsewhere: no absolute URL in the page itself.
    assert "http://" not in html and "https://" not in html
