"""The reference web app end to end, in Debian's Chromium driven by Playwright, against the
whole system: the API serving the app, the local S3 (SeaweedFS) and its upload events, the
Prefect worker transcoding with ffmpeg, the nginx CDN in front of the media. A person signs
up, uploads a real clip through the Uppy Dashboard, watches the processing reach READY, plays
it, switches quality, seeks with the storyboard and logs out; a file that is not a video ends
FAILED with its reason on screen; a feed of portrait, square and wide posters frames them all
alike. No page logs a console error or fails a request. Screenshots of each page land in
test-artifacts/web-app/."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, Page, Route, async_playwright, expect

from streamify.app import create_app
from streamify.devtools.cdn import local_cdn
from streamify.devtools.clips import synthetic_clip
from streamify.devtools.local import free_port
from streamify.infra.settings import Settings
from streamify.names import poster_key
from streamify.pipelines.triggers.processing_starter import prefect_starter
from streamify.services import Services, open_services
from streamify.web.web_app import INDEX
from tests.browser.chromium import ARGS as CHROMIUM_ARGS
from tests.browser.chromium import CHROMIUM
from tests.browser.problems import watch_for_problems
from tests.helpers import insert_user, insert_video
from tests.servers import SessionS3, forwarded, serve_app, with_state

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(420),
    pytest.mark.slow,
]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web-app"
# Playback starts without a user gesture: the test clicks Play, but hls.js may call play().
ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
PASSWORD = "correct horse battery"


@dataclass
class Stack:
    origin: str
    services: Services


@contextlib.asynccontextmanager
async def whole_system(
    settings: Settings, local_s3: SessionS3, prefect_url: str | None, tmp_path: Path
) -> AsyncIterator[Stack]:
    """What `streamify dev` runs, in this test: the API (with the app), upload events, the
    worker (its fixture; without a Prefect URL, uploads wait in UPLOADED), and the CDN the
    media URLs point at."""
    assert INDEX.is_file(), "run scripts/test.sh: it builds frontend/app"
    assert CHROMIUM, "run scripts/test.sh: it installs Chromium"
    s3 = settings.s3_endpoint_url
    assert s3 is not None
    cdn_port = free_port()
    settings = settings.model_copy(update={"cdn_base_url": f"http://127.0.0.1:{cdn_port}"})
    async with (
        open_services(
            settings, start_processing=prefect_starter(prefect_url) if prefect_url else None
        ) as services,
        serve_app(with_state(create_app(settings), services)) as origin,
        forwarded(local_s3, settings, origin),
    ):
        with local_cdn(
            tmp_path / "cdn",
            port=cdn_port,
            api=urlsplit(origin).netloc,
            s3=urlsplit(s3).netloc,
            secret=settings.cdn_shared_secret,
        ):
            yield Stack(origin, services)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def offsite_requests_fail(page: Page, origin: str, cdn: str, s3: str) -> list[str]:
    """Nothing may come from the internet: every other host is refused and recorded."""
    allowed = {urlsplit(u).netloc for u in (origin, cdn, s3)}
    offsite: list[str] = []

    async def guard(route: Route) -> None:
        host = urlsplit(route.request.url).netloc
        if route.request.url.startswith(("data:", "blob:")) or host in allowed:
            await route.continue_()
        else:
            offsite.append(route.request.url)
            await route.abort()

    await page.route("**/*", guard)
    return offsite


async def assert_accessible_basics(page: Page, *, loaded: bool) -> None:
    """Every form control has a label. On a page load the first Tab lands on the skip link;
    after a navigation inside the app, focus is on the new content."""
    if loaded:
        # The app renders after its first request: check the page once it is there.
        await page.locator("main input[name=email]").wait_for()
    unlabelled = await page.evaluate(
        """() => [...document.querySelectorAll('main input:not([type=hidden]):not([type=file]),'
             + ' main select, main textarea')]
            .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label'))
            .map((el) => el.outerHTML)"""
    )
    assert unlabelled == []
    if not loaded:
        assert await page.evaluate("document.activeElement.id") == "main"
        return
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip-link"
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.name") == "email"


async def header_height(page: Page) -> float:
    return float(
        await page.locator("#site-header").evaluate("el => el.getBoundingClientRect().height")
    )


async def sign_up(page: Page, origin: str, email: str) -> None:
    await page.goto(f"{origin}/signup")
    await assert_accessible_basics(page, loaded=True)
    signed_out = await header_height(page)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Display name").fill("Ada")
    await page.get_by_label("Password").fill(PASSWORD)
    await shoot(page, "01-sign-up")
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url(f"{origin}/library")
    await expect(page.get_by_role("navigation", name="Main")).to_contain_text("Ada")
    # Signing in changes the header's links, not its height.
    assert await header_height(page) == signed_out


async def upload_through_the_dashboard(
    page: Page, origin: str, path: Path, title: str, visibility: str
) -> str:
    await page.get_by_role("navigation").get_by_role("link", name="Upload").click()
    await expect(page).to_have_url(f"{origin}/upload")
    await assert_accessible_basics(page, loaded=False)
    await page.get_by_label("Title").fill(title)
    await page.get_by_label("Description").fill("Filmed on a synthetic afternoon.")
    await page.get_by_label("Visibility").select_option(visibility)
    await page.locator("input.uppy-Dashboard-input[type=file]").first.set_input_files(str(path))
    await expect(page.locator(".uppy-Dashboard-Item")).to_have_count(1)
    await shoot(page, f"02-upload-{path.stem}")
    # The Upload button shows without scrolling on a 1280 x 860 screen.
    button = page.locator(".uppy-StatusBar-actionBtn--upload")
    assert await button.evaluate(
        "el => window.scrollY === 0 && el.getBoundingClientRect().bottom <= window.innerHeight"
    )
    await button.click()
    await page.wait_for_url(f"{origin}/videos/*/processing", timeout=60_000)
    return page.url.removeprefix(f"{origin}/videos/").removesuffix("/processing")


async def record_progress(page: Page) -> None:
    """Keeps every value the processing page's progress bar shows in window.progressShown."""
    await page.wait_for_selector("#processing-progress", state="attached")
    await page.evaluate(
        """() => {
          const bar = document.getElementById('processing-progress')
          window.progressShown = [bar.value]
          new MutationObserver(() => window.progressShown.push(bar.value))
            .observe(bar, { attributes: true, attributeFilter: ['value'] })
        }"""
    )


async def test_sign_up_upload_watch_process_play_and_log_out(
    worker: None,
    prefect_url: str,
    settings: Settings,
    local_s3: SessionS3,
    tmp_path: Path,
) -> None:
    clip = synthetic_clip(tmp_path / "holiday.mp4", size="854x480", seconds=12)
    started = time.monotonic()
    async with (
        whole_system(settings, local_s3, prefect_url, tmp_path) as stack,
        chromium() as browser,
    ):
        origin, db = stack.origin, stack.services.db.pool
        cdn = stack.services.settings.cdn_base_url
        page = await browser.new_page(viewport={"width": 1280, "height": 860})
        offsite = await offsite_requests_fail(page, origin, cdn, str(settings.s3_endpoint_url))
        # Console errors include what the page's Content-Security-Policy blocked.
        problems = watch_for_problems(page)
        await sign_up(page, origin, "ada@example.com")

        # PRIVATE: every media URL the page uses is signed, through the CDN.
        video_id = await upload_through_the_dashboard(
            page, origin, clip, "Holiday in the hills", "PRIVATE"
        )
        main = page.locator("main")
        await record_progress(page)
        await expect(main).to_have_attribute("data-status", "PROCESSING", timeout=120_000)
        await expect(page.locator("#processing-progress")).to_be_visible()
        # Mid-encode the status line speaks as the step list does, and "Uploaded" is done.
        status_line = page.locator("#processing-status")
        # Playable before READY: "Watch now" while the rest of the ladder encodes.
        await expect(main).to_have_attribute("data-playable-offered", "true", timeout=120_000)
        await expect(page.locator('.steps li[data-step="uploaded"]')).to_have_class("done")
        await shoot(page, "03-processing-playable")
        await expect(main).to_have_attribute("data-status", "READY", timeout=180_000)
        await expect(status_line).to_have_text("Ready")
        assert await page.locator("#processing-progress").evaluate("el => el.value") == 1
        steps = await page.locator(".steps li.done").count()
        assert steps == 7, steps
        shown = await page.evaluate("window.progressShown")
        assert shown == sorted(shown) and len(set(shown)) > 3, shown  # never backwards
        await shoot(page, "03-processing-ready")
        row = await db.fetchrow(
            "SELECT status, visibility, title FROM videos WHERE id = $1::uuid", video_id
        )
        assert row is not None and dict(row) == {
            "status": "READY",
            "visibility": "PRIVATE",
            "title": "Holiday in the hills",
        }
        processed = time.monotonic()

        # Watch: hls.js plays the signed master playlist; currentTime advances.
        await page.get_by_role("link", name="Watch it").click()
        await expect(page).to_have_url(f"{origin}/videos/{video_id}")
        player = page.locator(".player")
        video = page.locator(".player video")
        await expect(player).not_to_have_attribute("data-level-height", "", timeout=30_000)
        await page.get_by_role("button", name="Play").click()
        await page.wait_for_function(
            "() => document.querySelector('.player video').currentTime > 1.5", timeout=30_000
        )
        assert await player.get_attribute("data-error") is None
        poster = await video.get_attribute("poster")
        assert poster and poster.startswith(cdn) and "Signature=" in poster
        await shoot(page, "04-watch-playing")

        # Quality: the menu lists the renditions; picking one switches hls.js to it.
        options = await page.locator("#quality option").all_text_contents()
        assert options[0].startswith("Auto") and [o.split("p")[0] for o in options[1:]] == [
            "480",
            "360",
            "240",
        ], options
        current = await player.get_attribute("data-level-height")
        target = "240" if current != "240" else "480"
        await page.get_by_label("Quality").select_option(
            label=next(o for o in options if o.startswith(target + "p"))
        )
        await expect(player).to_have_attribute("data-level-height", target, timeout=30_000)
        await page.wait_for_function(
            "() => { const v = document.querySelector('.player video');"
            " return !v.paused && v.currentTime > 0 }"
        )

        # Seek with the storyboard: hovering the seek bar shows the tile for that time,
        # clicking there seeks to it.
        await expect(player).not_to_have_attribute("data-storyboard-tiles", "0")
        seek = page.get_by_role("slider", name="Seek")
        box = await seek.bounding_box()
        assert box is not None
        x, y = box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2
        await page.mouse.move(x, y)
        preview = page.locator(".storyboard-preview")
        await expect(preview).to_be_visible()
        hovered = float(await preview.get_attribute("data-time") or "nan")
        assert 7.5 < hovered < 10.5, hovered
        tile = await preview.locator(".tile").evaluate("el => getComputedStyle(el).backgroundImage")
        tile_url = tile.removeprefix('url("').removesuffix('")')
        assert tile_url.startswith(cdn) and "Signature=" in tile_url, tile
        assert await page.evaluate(
            "url => new Promise((ok) => { const i = new Image();"
            " i.onload = () => ok(i.naturalWidth > 0); i.onerror = () => ok(false); i.src = url })",
            tile_url,
        )
        await shoot(page, "05-watch-storyboard")
        await page.mouse.click(x, y)
        await page.wait_for_function(
            "at => Math.abs(document.querySelector('.player video').currentTime - at) < 1.5",
            arg=hovered,
            timeout=15_000,
        )

        # The owner edits the metadata; the editor's heading sits at the top of its card.
        heading_gap = await page.locator("#edit-heading").evaluate(
            "el => el.getBoundingClientRect().top - el.parentElement.getBoundingClientRect().top"
        )
        assert heading_gap < 30, heading_gap  # the card's padding, no margin on top of it
        await page.get_by_label("Title").fill("Holiday, edited")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Holiday, edited")
        assert await db.fetchval("SELECT title FROM videos WHERE id = $1::uuid", video_id) == (
            "Holiday, edited"
        )

        # Captions: a broken file is refused naming its line; an SRT file joins the player's
        # captions menu, and picking it shows its cues over the video.
        broken = tmp_path / "broken.vtt"
        broken.write_text("WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nBackwards\n")
        captions_form = page.locator("#captions-editor")
        await page.get_by_label("Caption file").set_input_files(str(broken))
        await page.get_by_label("Language").fill("en")
        await page.get_by_label("Label").fill("English")
        await page.get_by_role("button", name="Add caption").click()
        await expect(captions_form.get_by_role("alert")).to_contain_text("caption line 3")
        srt = tmp_path / "holiday.en.srt"
        srt.write_text(
            "1\n00:00:00,000 --> 00:00:12,000\nWelcome to the <b>hills</b>\n", encoding="utf-8"
        )
        await page.get_by_label("Caption file").set_input_files(str(srt))
        await page.get_by_label("Language").fill("en")
        await page.get_by_label("Label").fill("English")
        await page.get_by_role("button", name="Add caption").click()
        await expect(captions_form).to_contain_text("Added: English (en).")
        await expect(captions_form.locator('li[data-language="en"]')).to_contain_text("English")
        menu = page.get_by_role("combobox", name="Captions", exact=True)
        await expect(menu.locator("option")).to_have_text(
            ["Captions off", "English"], timeout=30_000
        )
        await menu.select_option(label="English")
        await expect(player).to_have_attribute("data-captions", "en", timeout=15_000)
        await page.wait_for_function(
            "() => Array.from(document.querySelector('.player video').textTracks).some("
            "t => t.language === 'en' && t.mode === 'showing' && t.cues && Array.from(t.cues)"
            ".some(c => c.text.includes('Welcome to the')))",
            timeout=30_000,
        )
        await shoot(page, "05b-watch-captions")

        # My videos lists it, READY, with its poster and duration; at phone width too.
        await page.get_by_role("navigation").get_by_role("link", name="My videos").click()
        card = page.locator(f'[data-video-id="{video_id}"]')
        await expect(card).to_have_attribute("data-status", "READY")
        await expect(card.locator(".duration")).to_have_text("0:12")
        await expect(card.locator(".badge")).to_have_text(["Ready", "Private"])
        await expect(page.locator(".list-status")).to_have_text("1 video")
        await shoot(page, "06-my-videos")
        await page.set_viewport_size({"width": 390, "height": 844})
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await shoot(page, "07-my-videos-phone")
        await page.goto(f"{origin}/videos/{video_id}")
        await expect(page.locator(".player")).to_be_visible()
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await shoot(page, "08-watch-phone")
        await page.set_viewport_size({"width": 1280, "height": 860})

        # Log out: the session ends, the PRIVATE video is no one's to see.
        await page.get_by_role("button", name="Log out").click()
        await expect(page).to_have_url(f"{origin}/login")
        await expect(page.get_by_role("navigation", name="Main")).to_contain_text("Log in")
        await page.goto(f"{origin}/videos/{video_id}")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Video not found")
        await shoot(page, "09-logged-out")
        assert offsite == []
        assert problems.found() == [], problems.found()
    timings = ARTIFACTS / "timings.txt"
    whole = time.monotonic() - started
    timings.write_text(f"upload to READY: {processed - started:.1f} s; whole test: {whole:.1f} s\n")


async def test_a_file_that_is_not_a_video_ends_failed_with_its_reason_on_screen(
    worker: None,
    prefect_url: str,
    settings: Settings,
    local_s3: SessionS3,
    tmp_path: Path,
) -> None:
    # Named and typed as a video (the Dashboard and the API take it), but it is text.
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 200)
    async with (
        whole_system(settings, local_s3, prefect_url, tmp_path) as stack,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1280, "height": 860})
        problems = watch_for_problems(page)
        await sign_up(page, stack.origin, "bob@example.com")
        video_id = await upload_through_the_dashboard(page, stack.origin, fake, "Notes", "PUBLIC")
        await expect(page.locator("main")).to_have_attribute(
            "data-status", "FAILED", timeout=120_000
        )
        reason = await stack.services.db.pool.fetchval(
            "SELECT failure_reason FROM videos WHERE id = $1::uuid", video_id
        )
        assert reason
        await expect(page.locator("#failure-reason")).to_have_text(reason)
        await expect(page.get_by_role("alert")).to_contain_text("Processing failed")
        await shoot(page, "10-processing-failed")
        await page.get_by_role("navigation").get_by_role("link", name="My videos").click()
        card = page.locator(f'[data-video-id="{video_id}"]')
        await expect(card).to_have_attribute("data-status", "FAILED")
        await expect(card.locator(".failure")).to_have_text(reason)
        await expect(card.locator(".badge")).to_have_text(["Failed"])
    assert problems.found() == [], problems.found()


def part_of(url: str) -> str | None:
    """The part number of a presigned part PUT."""
    return parse_qs(urlsplit(url).query).get("partNumber", [None])[0]


async def test_an_upload_pauses_resumes_and_resumes_after_a_reload(
    services: Services, tmp_path: Path
) -> None:
    """Two parts: the first lands, the second is held back at the network; the person pauses,
    resumes, then reloads the page mid-upload. Golden Retriever brings the file back and the
    upload finishes without sending the first part again."""
    size = 9 * 1024 * 1024 + 512 * 1024  # two parts of 5 MiB and the rest; kept by IndexedDB
    source = tmp_path / "long-take.mp4"
    source.write_bytes(bytes((i * 31 + 7) % 251 for i in range(size)))
    assert INDEX.is_file() and CHROMIUM and services.settings.s3_endpoint_url
    s3 = urlsplit(services.settings.s3_endpoint_url).netloc
    puts: dict[str, int] = {}
    hold_second_part = True

    async def count_parts(route: Route) -> None:
        request = route.request
        if urlsplit(request.url).netloc != s3 or request.method != "PUT":
            await route.continue_()
            return
        part = part_of(request.url) or "none"
        if part == "2" and hold_second_part:
            await route.abort("connectionreset")  # Uppy retries it, until the network lets it
            return
        puts[part] = puts.get(part, 0) + 1
        await route.continue_()

    app = with_state(create_app(services.settings), services)
    async with serve_app(app) as origin, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 860})
        await page.route("**/*", count_parts)
        landed: set[str] = set()
        page.on(
            "requestfinished",
            lambda r: landed.add(r.url) if r.method == "PUT" and part_of(r.url) == "1" else None,
        )
        await sign_up(page, origin, "cy@example.com")
        await page.get_by_role("navigation").get_by_role("link", name="Upload").click()
        await page.get_by_label("Title").fill("A long take")
        dashboard_input = page.locator("input.uppy-Dashboard-input[type=file]").first
        await dashboard_input.set_input_files(str(source))
        await page.locator(".uppy-StatusBar-actionBtn--upload").click()
        deadline = time.monotonic() + 30
        while not landed and time.monotonic() < deadline:
            await page.wait_for_timeout(100)
        assert landed and puts.get("1") == 1, puts

        toggle = page.locator("[data-cy=togglePauseResume]")
        await toggle.click()
        await expect(toggle).to_have_attribute("aria-label", "Resume")
        await shoot(page, "11-upload-paused")
        await toggle.click()
        await expect(toggle).to_have_attribute("aria-label", "Pause")

        # A reload mid-upload: the file comes back from IndexedDB.
        await page.wait_for_timeout(500)  # Golden Retriever saves its state on a throttle
        await page.reload()
        await expect(page.locator(".uppy-Dashboard-Item")).to_have_count(1, timeout=15_000)
        await shoot(page, "12-upload-restored")
        hold_second_part = False
        await expect(page.get_by_text("You can now resume the upload.")).to_be_visible()
        await page.locator(".uppy-StatusBar-actionBtn--upload").click()
        await page.wait_for_url(f"{origin}/videos/*/processing", timeout=60_000)

        # No worker here: the video waits in UPLOADED, and the page says so in words.
        await expect(page.locator("main")).to_have_attribute("data-status", "UPLOADED")
        await expect(page.locator("#processing-status")).to_have_text(
            "Uploaded: waiting to be processed"
        )
        await expect(page.locator('.steps li[data-step="uploaded"]')).to_have_class("done")
        assert await page.locator("#processing-progress").evaluate("el => el.value") > 0

    row = await services.db.pool.fetchrow(
        "SELECT u.status, u.completed_size_bytes, v.title FROM uploads u"
        " JOIN videos v ON v.id = u.video_id"
    )
    assert row is not None and tuple(row) == ("COMPLETED", size, "A long take")
    assert puts == {"1": 1, "2": 1}, puts  # nothing sent twice


POSTER_SHAPES = [
    "1920x1080",
    "1080x1920",
    "1080x1080",
    "1280x720",
    "720x1280",
    "800x800",
    "1920x800",
    "480x640",
]


async def test_the_feed_frames_portrait_square_and_wide_posters_alike(
    settings: Settings, local_s3: SessionS3, tmp_path: Path
) -> None:
    async with (
        whole_system(settings, local_s3, None, tmp_path) as stack,
        chromium() as browser,
    ):
        db, storage = stack.services.db.pool, stack.services.storage
        owner = await insert_user(db, "Dee")
        for n, shape in enumerate(reversed(POSTER_SHAPES)):  # the feed shows the newest first
            poster = tmp_path / f"poster-{n}.jpg"
            subprocess.run(
                [
                    "ffmpeg",
                    "-v",
                    "error",
                    "-f",
                    "lavfi",
                    "-i",
                    f"testsrc=size={shape}:rate=1",
                    "-frames:v",
                    "1",
                    "-y",
                    str(poster),
                ],
                check=True,
            )
            video = await insert_video(db, owner, title=f"A {shape} clip")
            key = poster_key(video)
            await db.execute(
                "UPDATE manifests SET thumbnail_path = $2 WHERE video_id = $1", video, key
            )
            await storage.client.put_object(
                Bucket=stack.services.settings.s3_media_bucket,
                Key=key,
                Body=poster.read_bytes(),
                ContentType="image/jpeg",
            )
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        problems = watch_for_problems(page)
        for width, height, name in ((1280, 900, "13-feed"), (390, 844, "14-feed-phone")):
            await page.set_viewport_size({"width": width, "height": height})
            await page.goto(f"{stack.origin}/")
            cards = page.locator(".video-card")
            await expect(cards).to_have_count(len(POSTER_SHAPES))
            await page.wait_for_function(
                "n => [...document.querySelectorAll('.poster img')]"
                ".filter((i) => i.complete && i.naturalWidth > 0).length >= n",
                arg=len(POSTER_SHAPES),
            )
            heights = await page.locator(".poster img").evaluate_all(
                "imgs => imgs.map((i) => Math.round(i.getBoundingClientRect().height * 10) / 10)"
            )
            assert len(set(heights)) == 1, heights
            cards_in_view = await cards.evaluate_all(
                "els => els.map((e) => Math.round(e.getBoundingClientRect().height))"
            )
            assert len(set(cards_in_view)) == 1, cards_in_view
            fit = await page.locator(".poster img").first.evaluate(
                "i => getComputedStyle(i).objectFit"
            )
            assert fit == "contain"
            assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")
            await shoot(page, name)
    assert problems.found() == [], problems.found()
