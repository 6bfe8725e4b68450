"""GraphiQL at /graphql in headless Chromium with every request off this machine blocked: the
page renders from the package's own assets, loads the schema by introspection (the Docs pane
shows Query and its fields, the editor offers completions), runs a query over HTTP and a
subscription over graphql-transport-ws, with an Authorization header from its headers editor,
and logs no console error and no failed request."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Page, Route, async_playwright

from streamify.app import create_app
from streamify.services import Services
from streamify.web.graphiql import assets_built
from tests.browser.problems import watch_for_problems
from tests.documents import sign_up
from tests.helpers import insert_video
from tests.servers import serve_app, with_state

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "graphiql"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


async def run_in_graphiql(page: Page, query: str, *, until: str) -> str:
    """Type `query` into the editor, press run, and read the response once it shows `until`."""
    await page.evaluate(
        "(query) => document.querySelector('.graphiql-query-editor .CodeMirror')"
        ".CodeMirror.setValue(query)",
        query,
    )
    # GraphiQL reads the operation's name from the editor after a short debounce; a run
    # pressed before that would send the previous document's operationName.
    await page.wait_for_timeout(500)
    await page.click(".graphiql-execute-button")
    await page.wait_for_function(
        "(text) => document.querySelector('.graphiql-response')?.innerText.includes(text)",
        arg=until,
        timeout=30_000,
    )
    return await page.inner_text(".graphiql-response")


async def test_graphiql_works_with_no_network(services: Services) -> None:
    assert assets_built(), "run scripts/test.sh: it builds frontend/graphiql"
    assert CHROMIUM, "run scripts/test.sh: it installs Chromium"
    app = with_state(create_app(services.settings), services)
    async with serve_app(app) as origin, async_playwright() as pw:
        async with httpx.AsyncClient(base_url=origin) as http:
            account = await sign_up(http)
        token = account["accessToken"]
        video = await insert_video(services.db.pool, account["viewer"]["id"], title="Seen")
        here = urlsplit(origin).netloc
        blocked: list[str] = []

        async def only_this_machine(route: Route) -> None:
            if urlsplit(route.request.url).netloc == here:
                await route.continue_()
            else:
                blocked.append(route.request.url)
                await route.abort()

        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await browser.new_context()
            await context.route("**/*", only_this_machine)
            # What a person types into the headers editor; GraphiQL keeps it in localStorage.
            headers = json.dumps({"Authorization": f"Bearer {token}"})
            await context.add_init_script(
                f"localStorage.setItem('graphiql:headers', {json.dumps(headers)})"
            )
            page = await context.new_page()
            problems = watch_for_problems(page)
            await page.goto(f"{origin}/graphql", wait_until="networkidle")
            await page.wait_for_selector(".graphiql-container", timeout=30_000)

            # The schema loaded: the Docs pane names Query and lists its fields.
            await page.click("button[aria-label='Show Documentation Explorer']")
            docs = page.locator(".graphiql-doc-explorer")
            await docs.get_by_text("Query", exact=True).click(timeout=30_000)
            await docs.locator(".graphiql-doc-explorer-field-name", has_text="videos").wait_for()
            fields = await docs.locator(".graphiql-doc-explorer-field-name").all_inner_texts()
            await shoot(page, "graphiql-docs")

            # Typing in the editor offers the schema's fields.
            await page.click(".graphiql-query-editor .CodeMirror")
            await page.keyboard.press("Control+A")
            await page.keyboard.press("Delete")
            await page.keyboard.type("{ vi")
            await page.wait_for_selector(".CodeMirror-hints", timeout=15_000)
            offered = await page.locator(".CodeMirror-hints .CodeMirror-hint").all_inner_texts()

            query = f'query Mine {{ viewer {{ displayName }} video(id: "{video}") {{ title }} }}'
            shown = await run_in_graphiql(page, query, until="Seen")

            follow = (
                f'subscription Follow {{ videoProcessing(videoId: "{video}") {{ status step }} }}'
            )
            followed = await run_in_graphiql(page, follow, until="current")
        finally:
            await browser.close()
    assert {"video", "videos", "viewer"} <= set(fields), fields
    assert {"video", "videos", "viewer"} <= set(offered), offered
    assert '"displayName": "Ada"' in shown and '"title": "Seen"' in shown, shown
    assert '"status": "READY"' in followed and '"step": "current"' in followed, followed
    assert problems.found() == [], problems.found()
    assert blocked == [], blocked


async def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
