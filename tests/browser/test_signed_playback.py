"""A PRIVATE video plays in hls.js (headless Chromium, no other network) through its owner's
signed URL and the CDN as dev and compose run it, and seeks; the same URL fails once expired,
and with its signature removed or altered."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from playwright.async_api import Browser, async_playwright
from starlette.applications import Starlette
from starlette.responses import FileResponse, HTMLResponse
from starlette.routing import Route

from streamify.names import DASH_MANIFEST, dash_key, media_prefix
from streamify.pipelines.transcode.flow import CONTENT_TYPES
from tests.helpers import gql, insert_video
from tests.hls_conformance import check_stream
from tests.servers import CdnStack, serve_app
from tests.streams import encode_stream

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PLAYER = Path(__file__).parent / "uppy" / "dist" / "player.js"
DASH_PLAYER = PLAYER.with_name("dash-player.js")
PAGE = (
    "<!doctype html><html><body><script src='/player.js'></script>"
    "<script src='/dash-player.js'></script></body></html>"
)
PLAYBACK = "query($id: ID!) { video(id: $id) { manifest { url expiresAt dashUrl } } }"


async def _publish_private_stream(stack: CdnStack, tmp_path: Path) -> UUID:
    """A 20-second clip encoded by the real chunked ladder code (chunks joined at 6 and 12 s),
    published in the signed space."""
    hls = (await encode_stream(tmp_path, size="640x360", seconds=20)).hls
    assert check_stream(hls) == []
    video_id = await insert_video(stack.services.db.pool, stack.owner, visibility="PRIVATE")
    await stack.services.db.pool.execute(
        "UPDATE manifests SET dash_path = $2 WHERE video_id = $1", video_id, dash_key(video_id)
    )
    storage = stack.services.storage
    folder = media_prefix(video_id, signed=True) + "hls/"
    for path in sorted(hls.rglob("*")):
        if path.is_file() and path.suffix in CONTENT_TYPES:
            kind = CONTENT_TYPES[path.suffix]
            await storage.client.put_object(
                Bucket=storage.media_bucket,
                Key=folder + path.relative_to(hls).as_posix(),
                Body=path.read_bytes(),
                ContentType=kind,
            )
    return video_id


@pytest.fixture
async def browser() -> AsyncIterator[tuple[Browser, str]]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium and PLAYER.exists() and DASH_PLAYER.exists(), "run scripts/test.sh first"
    app = Starlette(
        routes=[
            Route("/", lambda _: HTMLResponse(PAGE)),
            Route("/player.js", lambda _: FileResponse(PLAYER)),
            Route("/dash-player.js", lambda _: FileResponse(DASH_PLAYER)),
        ]
    )
    async with serve_app(app) as origin, async_playwright() as pw:
        launched = await pw.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield launched, origin
        finally:
            await launched.close()


async def _play(
    browser: tuple[Browser, str], url: str, *, player: str = "playHls", **options: Any
) -> dict[str, Any]:
    launched, origin = browser
    tab = await launched.new_page()
    off_machine: list[str] = []

    async def only_loopback(route: Any) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            await route.continue_()
        else:
            off_machine.append(route.request.url)
            await route.abort()

    await tab.route("**/*", only_loopback)
    try:
        await tab.goto(origin)
        played: dict[str, Any] = await tab.evaluate(
            f"([url, options]) => window.{player}(url, options)", [url, options]
        )
    finally:
        await tab.close()
    assert off_machine == []
    return played


async def test_a_private_video_plays_and_seeks_only_through_its_signed_url(
    cdn_stack: CdnStack, browser: tuple[Browser, str], tmp_path: Path
) -> None:
    stack = cdn_stack
    video_id = await _publish_private_stream(stack, tmp_path)
    found = await gql(stack.api, PLAYBACK, {"id": str(video_id)}, token=stack.token)
    url = found["data"]["video"]["manifest"]["url"]
    assert url.startswith(f"{stack.cdn}/signed/{video_id}/hls/master.m3u8?Policy=")

    # Plays, seeks to just before a chunk join (both rungs' chunks meet at 12 s) and plays
    # across it.
    played = await _play(browser, url, seconds=1.0, seekTo=11.0, playFor=1.5)
    assert played["currentTime"] >= 1.0 and played["levels"] == 2
    assert played["afterSeek"] >= 12.5
    # Seeks to a join itself (a segment's start where two chunks meet) and plays on.
    assert (await _play(browser, url, seconds=0.5, seekTo=12.0))["afterSeek"] >= 12.5

    unsigned = url.split("?")[0]
    signature = url.split("Signature=")[1].split("&")[0]
    altered = url.replace(signature, signature[:-6] + ("A" if signature[-6] != "A" else "B") * 6)
    for refused in (unsigned, altered):
        with pytest.raises(Exception, match="manifestLoadError 403"):
            await _play(browser, refused, timeoutMs=20000)

    # A URL that plays now and fails once it has expired (signed here with an 8-second life).
    resource = f"{stack.cdn}/{media_prefix(video_id, signed=True)}*"
    expires_at = int(time.time()) + 8
    # Signed for the video's current access generation, as the API signs (older is revoked).
    generation = await stack.services.db.pool.fetchval(
        "SELECT access_generation FROM videos WHERE id = $1", video_id
    )
    short = stack.services.playback.signer.sign(resource, expires_at, not_before=generation)
    short_url = f"{unsigned}?{short.query}"
    assert (await _play(browser, short_url, seconds=0.5))["currentTime"] >= 0.5
    await asyncio.sleep(max(0.0, expires_at - time.time()) + 0.5)
    with pytest.raises(Exception, match="manifestLoadError 403"):
        await _play(browser, short_url, timeoutMs=20000)


async def test_a_private_video_plays_in_dash_js_from_the_same_segments(
    cdn_stack: CdnStack, browser: tuple[Browser, str], tmp_path: Path
) -> None:
    """dash.js plays the MPD (video and audio) through its signed URL; unsigned, it is refused."""
    stack = cdn_stack
    video_id = await _publish_private_stream(stack, tmp_path)
    found = await gql(stack.api, PLAYBACK, {"id": str(video_id)}, token=stack.token)
    manifest = found["data"]["video"]["manifest"]
    url = manifest["dashUrl"]
    assert url.startswith(f"{stack.cdn}/signed/{video_id}/hls/{DASH_MANIFEST}?Policy=")
    # Signed alike: the same signature as the HLS master's.
    assert url.split("?", 1)[1] == manifest["url"].split("?", 1)[1]

    played = await _play(browser, url, player="playDash", seconds=2.0)
    assert played["currentTime"] >= 2.0
    assert played["videoRepresentations"] == 2 and played["audioTracks"] == 1

    with pytest.raises(Exception, match=r"dash\.js"):
        await _play(browser, url.split("?")[0], player="playDash", timeoutMs=20000)


CAPTION = """WEBVTT

00:00:00.000 --> 00:00:04.000
Hello from the captions

00:00:04.000 --> 00:00:20.000
<i>Still</i> captioned
"""
ADD_CAPTION = (
    """mutation($input: AddCaptionInput!) { addCaption(input: $input) { language url } }"""
)


async def test_an_english_caption_shows_in_hls_js_and_dash_js(
    cdn_stack: CdnStack, browser: tuple[Browser, str], tmp_path: Path
) -> None:
    """A caption added to a PRIVATE, READY video: hls.js is offered an English subtitles track
    by the master and shows its cues; dash.js plays the MPD with video, audio and an English
    text track whose cues it shows; all through the signed URLs."""
    stack = cdn_stack
    video_id = await _publish_private_stream(stack, tmp_path)
    caption = {"videoId": str(video_id), "language": "en", "label": "English", "content": CAPTION}
    added = await gql(stack.api, ADD_CAPTION, {"input": caption}, token=stack.token)
    assert added["data"]["addCaption"]["language"] == "en", added
    found = await gql(stack.api, PLAYBACK, {"id": str(video_id)}, token=stack.token)
    manifest = found["data"]["video"]["manifest"]

    played = await _play(browser, manifest["url"], seconds=1.0, subtitles="en")
    assert played["subtitleTracks"] == [{"lang": "en", "name": "English"}]
    assert "Hello from the captions" in played["cueTexts"]
    assert played["levels"] == 2

    dashed = await _play(browser, manifest["dashUrl"], player="playDash", seconds=1.0, text="en")
    assert dashed["textTracks"] == ["en"] and dashed["audioTracks"] == 1
    assert dashed["videoRepresentations"] == 2
    assert "Hello from the captions" in dashed["cueTexts"]
