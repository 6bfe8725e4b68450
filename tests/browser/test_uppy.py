"""A stock Uppy uploader (AwsS3 plugin, companion mode) in headless Chromium uploads a file
through the API's /s3/ routes, authenticated by the session cookie logIn sets, with the
parts going straight from the browser to the S3 server."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright
from starlette.applications import Starlette
from starlette.responses import FileResponse, HTMLResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from streamify.app import create_app
from streamify.services import Services
from tests.browser.chromium import ARGS, CHROMIUM
from tests.documents import PASSWORD, sign_up
from tests.servers import serve_app, with_state

HARNESS = Path(__file__).parent / "uppy" / "dist" / "uppy-harness.js"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Uppy</title>
<script src="/__test__/uppy-harness.js"></script></head><body>uploader</body></html>"""
SIZE = 12 * 1024 * 1024  # three parts of Uppy's default 5 MiB


def expected_bytes(size: int) -> bytes:
    return bytes((i * 31 + 7) % 251 for i in range(size))


def page_and_api(api: ASGIApp | None) -> Starlette:
    """The test page, with the API beside it on one origin (the session cookie's) if given."""
    return Starlette(
        routes=[
            Route("/__test__/page", lambda _: HTMLResponse(PAGE)),
            Route("/__test__/uppy-harness.js", lambda _: FileResponse(HARNESS)),
            *([Mount("/", app=api)] if api is not None else []),
        ]
    )


async def test_stock_uppy_uploads_a_file_unchanged(services: Services) -> None:
    assert HARNESS.exists(), "run scripts/test.sh: it builds tests/browser/uppy"
    assert CHROMIUM, "run scripts/test.sh: it installs Chromium"
    app = page_and_api(with_state(create_app(services.settings), services))
    async with serve_app(app) as origin, async_playwright() as pw:
        import httpx

        async with httpx.AsyncClient(base_url=origin) as http:
            account = await sign_up(http)
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{origin}/__test__/page")
            result = await page.evaluate(
                "args => window.runUpload(args)",
                {"email": account["viewer"]["email"], "password": PASSWORD, "size": SIZE},
            )
        finally:
            await browser.close()
    assert result["failed"] == [] and result["successful"] == 1, result

    row = await services.db.pool.fetchrow(
        "SELECT u.status, u.completed_size_bytes, u.s3_key, v.status AS video_status"
        " FROM uploads u JOIN videos v ON v.id = u.video_id"
    )
    assert row is not None
    assert (row["status"], row["video_status"]) == ("COMPLETED", "UPLOADED")
    assert row["completed_size_bytes"] == SIZE
    stored = await services.storage.client.get_object(
        Bucket=services.storage.raw_bucket, Key=row["s3_key"]
    )
    async with stored["Body"] as body:
        assert await body.read() == expected_bytes(SIZE)


pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


async def test_stock_uppy_on_another_origin_uploads_with_a_bearer_token(
    services: Services,
) -> None:
    """The README's recipe for a browser app on its own origin: fetch wrapped to send the token."""
    async with serve_app(page_and_api(None)) as page_origin:
        # The app's origin is one the API allows (STREAMIFY_CORS_ALLOW_ORIGINS).
        allowing = services.settings.model_copy(update={"cors_allow_origins": [page_origin]})
        api = with_state(create_app(allowing), services)
        async with serve_app(api) as api_origin:
            result = await _upload_from(page_origin, api_origin)
    assert result["failed"] == [] and result["successful"] == 1, result
    row = await services.db.pool.fetchrow("SELECT status, completed_size_bytes FROM uploads")
    assert row is not None and (row["status"], row["completed_size_bytes"]) == ("COMPLETED", SIZE)


async def _upload_from(page_origin: str, api_origin: str) -> dict[str, object]:
    import httpx

    async with httpx.AsyncClient(base_url=api_origin) as http:
        account = await sign_up(http)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            tab = await browser.new_page()
            await tab.goto(f"{page_origin}/__test__/page")
            result = await tab.evaluate(
                "args => window.runUpload(args)",
                {"size": SIZE, "api": api_origin, "token": account["accessToken"]},
            )
        finally:
            await browser.close()
    found: dict[str, object] = result
    return found
