"""What a newcomer tripped on in the watch page (issue 36), in Chromium against the whole
system: the player keeps the viewer's captions and quality when its source is replaced (a
caption added, a visibility change, signed URLs renewed before they expire); a success
message does not outlive its moment; a signed-out owner of a private video is offered the
way in. Screenshots in test-artifacts/web-app/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

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


async def add_caption(page: Page, tmp_path: Path, language: str, label: str) -> None:
    caption = tmp_path / f"{language}.vtt"
    caption.write_text(f"WEBVTT\n\n00:00:00.000 --> 00:00:20.000\n{label} words\n")
    await page.get_by_label("Caption file").set_input_files(str(caption))
    await page.get_by_label("Language").fill(language)
    await page.get_by_label("Label").fill(label)
    await page.get_by_role("button", name="Add caption").click()
    await expect(page.locator("#captions-editor")).to_contain_text(f"Added: {label} ({language}).")


async def still_chosen(page: Page, sources_before: int, sources: list[str]) -> None:
    """The player was given a new source, and plays it with the viewer's choices."""
    for _ in range(100):
        if len(sources) > sources_before:
            break
        await page.wait_for_timeout(100)
    assert len(sources) > sources_before, "the player's source was not replaced"
    player = page.locator(".player")
    await expect(player).to_have_attribute("data-captions", "en", timeout=15_000)
    await expect(page.locator("#captions")).to_have_value("0")
    await expect(page.locator("#quality option:checked")).to_contain_text("240p")
    await expect(player).to_have_attribute("data-level-height", "240", timeout=15_000)


async def test_the_player_keeps_choices_and_a_signed_out_owner_is_offered_log_in(
    settings: Settings, local_s3: SessionS3, tmp_path: Path
) -> None:
    # Signed URLs of 70 s: the page renews them about 5 s after it loads.
    tuned = settings.model_copy(update={"playback_url_ttl_seconds": 70})
    async with whole_system(tuned, local_s3, None, tmp_path) as stack, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        problems = watch_for_problems(page)
        await sign_up(page, stack.origin, "choices@example.com")
        pool = stack.services.db.pool
        owner = await pool.fetchval("SELECT id FROM users WHERE email = $1", "choices@example.com")
        stream = await encode_stream(tmp_path / "src", size="640x360", seconds=20)
        assert len(stream.ladder) >= 2
        video = await insert_video(
            pool, owner, title="Chosen", visibility="PRIVATE", renditions=(360, 240)
        )
        await pool.execute(
            "UPDATE videos SET duration_seconds = $2 WHERE id = $1", video, stream.info.duration
        )
        storage = stack.services.storage
        for path in sorted(stream.hls.rglob("*")):
            if path.is_file() and path.suffix in CONTENT_TYPES:
                key = f"{media_prefix(video, signed=True)}hls/{path.relative_to(stream.hls)}"
                await storage.client.put_object(
                    Bucket=storage.media_bucket,
                    Key=key,
                    Body=path.read_bytes(),
                    ContentType=CONTENT_TYPES[path.suffix],
                )
        sources: list[str] = []
        page.on(
            "request",
            lambda r: sources.append(r.url) if "/master.m3u8" in r.url else None,
        )
        await page.goto(f"{stack.origin}/videos/{video}")
        await expect(page.locator(".player")).to_be_visible()

        # A caption added: the master is read again, and the viewer picks English and 240p.
        await add_caption(page, tmp_path, "en", "English")
        menu = page.locator("#captions")
        await expect(menu.locator("option")).to_have_text(
            ["Captions off", "English"], timeout=30_000
        )
        await menu.select_option(label="English")
        lowest = page.locator("#quality option", has_text="240p")
        await expect(lowest).to_have_count(1, timeout=15_000)
        await page.locator("#quality").select_option(value=await lowest.get_attribute("value"))
        await expect(page.locator(".player")).to_have_attribute(
            "data-level-height", "240", timeout=15_000
        )

        # Another caption: a new source, the same choices.
        before = len(sources)
        await add_caption(page, tmp_path, "fr", "Français")
        await still_chosen(page, before, sources)

        # A visibility change moves the media: new URLs, the same choices. The caption's
        # "Added" message is gone at the next save.
        before = len(sources)
        await page.get_by_label("Visibility").select_option("UNLISTED")
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("#captions-editor .success")).to_have_count(0)
        await still_chosen(page, before, sources)

        # The signed URLs are renewed before they expire: the same choices again.
        before = len(sources)
        await still_chosen(page, before, sources)
        await shoot(page, "22-choices-kept")

        # Signed out, the owner of a PRIVATE video is told what anyone is told, and offered
        # the way in, back to the video.
        await page.get_by_label("Visibility").select_option("PRIVATE")
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("#edit-visibility")).to_have_value("PRIVATE")
        await page.get_by_role("button", name="Log out").click()
        await expect(page).to_have_url(f"{stack.origin}/login")
        await page.goto(f"{stack.origin}/videos/{video}")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Video not found")
        await shoot(page, "23-private-signed-out")
        await page.get_by_role("link", name="Log in", exact=True).last.click()
        await page.get_by_label("Email").fill("choices@example.com")
        await page.get_by_label("Password").fill("correct horse battery")
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(f"{stack.origin}/videos/{video}")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Chosen")
    assert problems.found() == [], problems.found()
