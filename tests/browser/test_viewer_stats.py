"""The viewer side in the web app (issue 35), in Chromium against the whole system: a viewer
plays a video, the player's beacons (start with its startup time, heartbeats, the rendition,
an end through sendBeacon when the page is hidden) are counted, and the owner's statistics
card shows the view, the watch time and the playback quality; the feed's cards and the
Trending tab show the count. Screenshots in test-artifacts/web-app/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from streamify.infra.settings import Settings
from streamify.names import media_prefix
from streamify.pipelines.transcode.flow import CONTENT_TYPES
from tests.browser.problems import watch_for_problems
from tests.browser.test_web_app import chromium, shoot, sign_up, whole_system
from tests.helpers import insert_video
from tests.servers import SessionS3
from tests.streams import encode_stream

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(300),
    pytest.mark.slow,
]

# A person's browser: headless Chromium names itself HeadlessChrome, which the bot list drops.
BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


async def test_a_played_video_shows_its_view_and_watch_time_in_the_owners_stats_card(
    settings: Settings, local_s3: SessionS3, tmp_path: Path
) -> None:
    tuned = settings.model_copy(
        update={"stats_flush_seconds": 0.5, "stats_max_staleness_seconds": 1.0}
    )
    async with whole_system(tuned, local_s3, None, tmp_path) as stack, chromium() as browser:
        owner_page = await browser.new_page(viewport={"width": 1280, "height": 900})
        problems = watch_for_problems(owner_page)
        await sign_up(owner_page, stack.origin, "stats-owner@example.com")
        pool = stack.services.db.pool
        owner = await pool.fetchval(
            "SELECT id FROM users WHERE email = $1", "stats-owner@example.com"
        )
        stream = await encode_stream(tmp_path / "src", size="640x360", seconds=16)
        video = await insert_video(pool, owner, title="Counted clip")
        await pool.execute(
            "UPDATE videos SET duration_seconds = $2 WHERE id = $1", video, stream.info.duration
        )
        storage = stack.services.storage
        for path in sorted(stream.hls.rglob("*")):
            if path.is_file() and path.suffix in CONTENT_TYPES:
                await storage.client.put_object(
                    Bucket=storage.media_bucket,
                    Key=f"{media_prefix(video)}hls/{path.relative_to(stream.hls).as_posix()}",
                    Body=path.read_bytes(),
                    ContentType=CONTENT_TYPES[path.suffix],
                )

        # A viewer, signed out, in a browser of their own.
        viewer_context = await browser.new_context(user_agent=BROWSER)
        viewer = await viewer_context.new_page()
        viewer_problems = watch_for_problems(viewer)
        sent: list[str] = []
        viewer.on(
            "request",
            lambda r: sent.append(r.post_data or "") if r.url.endswith("/beacons") else None,
        )
        await viewer.goto(f"{stack.origin}/videos/{video}")
        await expect(viewer.locator(".details .views")).to_have_text("0 views")
        await viewer.get_by_role("button", name="Play").click()
        # Polled from here: the app's CSP allows no eval, which wait_for_function's uses.
        for _ in range(600):
            if await viewer.locator("video").evaluate("v => v.currentTime") > 11.5:
                break
            await viewer.wait_for_timeout(100)
        await viewer.get_by_role("button", name="Pause").click()
        # Leaving the page sends the end through sendBeacon.
        await viewer.locator("video").evaluate(
            "v => { Object.defineProperty(document, 'visibilityState', {value: 'hidden'});"
            " document.dispatchEvent(new Event('visibilitychange')) }"
        )
        await viewer.wait_for_timeout(500)
        kinds = [
            part for body in sent for part in ("start", "heartbeat", "end") if f'"{part}"' in body
        ]
        assert {"start", "heartbeat", "end"} <= set(kinds), sent

        await owner_page.goto(f"{stack.origin}/videos/{video}")
        card = owner_page.locator("#video-stats")
        await expect(card.locator("[data-stat='views']")).to_have_text("1", timeout=20_000)
        await expect(card.locator("[data-stat='unique-viewers']")).to_have_text("1")
        watch = await card.locator("[data-stat='watch-time']").text_content()
        assert watch is not None and watch.endswith(" s") and 10 <= int(watch.split()[0]) <= 14, (
            watch
        )
        startup = await card.locator("[data-stat='startup-p50']").text_content()
        assert startup is not None and startup.endswith(" ms"), startup
        assert (await card.locator("[data-stat='renditions']").text_content() or "").endswith("%")
        bars = card.locator(".views-chart .bar")
        await expect(bars).to_have_count(48)
        assert await bars.last.get_attribute("data-views") == "1"
        await card.scroll_into_view_if_needed()
        await shoot(owner_page, "20-owner-stats-card")

        # The feed's card and the Trending tab say it too.
        await viewer.goto(f"{stack.origin}/trending")
        trending = viewer.locator(".video-card")
        await expect(trending).to_have_count(1, timeout=20_000)
        await expect(trending.locator(".views")).to_have_text("1 view")
        await expect(viewer.get_by_role("link", name="Trending")).to_have_attribute(
            "aria-current", "page"
        )
        await shoot(viewer, "21-trending")
        await viewer_context.close()
    assert problems.found() == [], problems.found()
    assert viewer_problems.found() == [], viewer_problems.found()
