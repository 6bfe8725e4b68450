"""Captions end to end, through the API served over HTTP and the media CDN (nginx) in front of
the session's S3: added to a READY video, its master lists an English subtitles rendition
and its MPD a text adaptation set at once, signed like the rest of a PRIVATE video's media;
replaced, removed, refused when broken or not the caller's."""

from __future__ import annotations

import re
import shutil
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from streamify.infra.storage import list_keys
from streamify.infra.subtitle_tracks import MPD_NAMESPACE
from streamify.names import dash_key, media_prefix
from tests.helpers import gql, insert_user, insert_video, token_for
from tests.hls_conformance import attributes, check_stream
from tests.servers import CdnStack as Stack
from tests.streams import LocalStream, encode_stream


@pytest.fixture
def stack(cdn_stack: Stack) -> Stack:
    return cdn_stack


ADD = """mutation($input: AddCaptionInput!) {
  addCaption(input: $input) { language label url } }"""
REMOVE = "mutation($id: ID!, $lang: String!) { removeCaption(videoId: $id, language: $lang) }"
VIDEO = """query($id: ID!) { video(id: $id) {
  manifest { url dashUrl } captions { language label url } } }"""
SRT = """1
00:00:00,500 --> 00:00:03,000
Hello <font color="red">there</font>

2
00:00:03,500 --> 00:00:06,000
<script>alert(1)</script>General Kenobi
"""


async def _published(stack: Stack, tmp: Path, visibility: str) -> tuple[uuid.UUID, LocalStream]:
    """A READY video whose published stream is a real one (CMAF, audio, I-frames, MPD)."""
    stream = await encode_stream(tmp, size="320x180", seconds=9)
    pool = stack.services.db.pool
    video_id = await insert_video(pool, stack.owner, visibility=visibility)
    await pool.execute(
        "UPDATE videos SET duration_seconds = $2 WHERE id = $1", video_id, stream.info.duration
    )
    await pool.execute(
        "UPDATE manifests SET dash_path = $2 WHERE video_id = $1", video_id, dash_key(video_id)
    )
    storage = stack.services.storage
    folder = media_prefix(video_id, signed=visibility != "PUBLIC")
    for path in stream.hls.rglob("*"):
        if path.is_file() and path.suffix in (".m3u8", ".mpd", ".mp4", ".m4s"):
            key = f"{folder}hls/{path.relative_to(stream.hls)}"
            await storage.client.put_object(
                Bucket=storage.media_bucket, Key=key, Body=path.read_bytes()
            )
    return video_id, stream


async def _add(stack: Stack, video_id: uuid.UUID, **fields: str) -> dict[str, Any]:
    token = fields.pop("token", stack.token)
    caption = {"videoId": str(video_id), "language": "en", "label": "English", "content": SRT}
    caption.update(fields)
    return await gql(stack.api, ADD, {"input": caption}, token=token)


async def _download(http: httpx.AsyncClient, master_url: str, into: Path) -> None:
    """The stream as a player reads it from the CDN, master down, into a folder."""
    query = master_url.split("?", 1)[1] if "?" in master_url else ""

    async def get(relative: str) -> bytes:
        """`relative` as a playlist names it (a signed one's URIs carry the signature)."""
        url = urljoin(master_url, relative)
        got = await http.get(url if "?" in url or not query else f"{url}?{query}")
        assert got.status_code == 200, (relative, got.status_code)
        path = into / relative.split("?", 1)[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        # Saved as published (without the signature), for the conformance checker.
        path.write_bytes(
            re.sub(rb'\?[^"\s]*', b"", got.content) if path.suffix == ".m3u8" else got.content
        )
        return got.content

    master = (await get("master.m3u8")).decode()
    playlists = [x for x in master.splitlines() if x and not x.startswith("#")]
    playlists += [attributes(x)["URI"] for x in master.splitlines() if 'URI="' in x]
    for playlist in playlists:
        text = (await get(playlist)).decode()
        folder = playlist.rsplit("/", 1)[0]
        names = {x for x in text.splitlines() if x and not x.startswith("#")}
        names |= {attributes(x)["URI"] for x in text.splitlines() if 'URI="' in x}
        for name in names:
            await get(f"{folder}/{name}")


async def test_a_caption_joins_a_private_ready_videos_master_and_mpd_at_once(
    stack: Stack, tmp_path: Path
) -> None:
    video_id, _ = await _published(stack, tmp_path / "src", "PRIVATE")
    added = await _add(stack, video_id)
    assert "errors" not in added, added
    caption = added["data"]["addCaption"]
    assert (caption["language"], caption["label"]) == ("en", "English")
    assert caption["url"].startswith(f"{stack.cdn}/signed/{video_id}/hls/captions/en.vtt?Policy=")

    found = (await gql(stack.api, VIDEO, {"id": str(video_id)}, token=stack.token))["data"]
    assert found["video"]["captions"] == [caption]  # no stale cached video
    async with httpx.AsyncClient() as http:
        master_url = found["video"]["manifest"]["url"]
        master = (await http.get(master_url)).text
        subs = [x for x in master.splitlines() if x.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")]
        assert len(subs) == 1 and 'LANGUAGE="en"' in subs[0] and 'NAME="English"' in subs[0]
        assert "#EXT-X-MEDIA:TYPE=AUDIO" in master and "#EXT-X-I-FRAME-STREAM-INF" in master
        # The whole stream as a player reads it, checked against the authoring rules.
        shutil.rmtree(tmp_path / "got", ignore_errors=True)
        await _download(http, master_url, tmp_path / "got")
        assert check_stream(tmp_path / "got") == []
        segments = sorted((tmp_path / "got" / "captions" / "en").glob("*.vtt"))
        assert "Hello there" in segments[0].read_text()
        # The whole file, sanitised: WebVTT, no markup but WebVTT's own.
        whole = await http.get(caption["url"])
        assert whole.status_code == 200 and whole.headers["content-type"].startswith("text/vtt")
        assert whole.text.startswith("WEBVTT\n")
        assert "General Kenobi" in whole.text and "<script" not in whole.text
        assert "<font" not in whole.text
        # Unsigned, the captions are refused like every other file of a PRIVATE video.
        for path in ("captions/en.vtt", "captions/en/index.m3u8", "captions/en/00000.vtt"):
            refused = await http.get(f"{stack.cdn}/signed/{video_id}/hls/{path}")
            assert refused.status_code == 403, path
        # DASH: a text adaptation set whose WebVTT file is signed like the segments.
        mpd_url = found["video"]["manifest"]["dashUrl"]
        mpd = ET.fromstring((await http.get(mpd_url)).text)
        ns = f"{{{MPD_NAMESPACE}}}"
        [text] = [a for a in mpd.iter(f"{ns}AdaptationSet") if a.get("contentType") == "text"]
        assert text.get("lang") == "en" and text.findtext(f"{ns}Label") == "English"
        base = text.findtext(f"{ns}Representation/{ns}BaseURL") or ""
        assert "Signature=" in base
        assert (await http.get(urljoin(mpd_url, base))).text == whole.text


async def test_a_second_caption_in_a_language_replaces_the_first_and_removal_unpublishes_it(
    stack: Stack, tmp_path: Path
) -> None:
    video_id, _ = await _published(stack, tmp_path / "src", "PUBLIC")
    anonymous = """query($id: ID!) { video(id: $id) { captions { language label } } }"""

    async def seen() -> list[dict[str, str]]:
        # GET: the response cache answers it, and must not answer the old captions.
        got = await stack.api.get(
            "/graphql", params={"query": anonymous, "variables": f'{{"id": "{video_id}"}}'}
        )
        assert got.status_code == 200, got.text
        return got.json()["data"]["video"]["captions"]  # type: ignore[no-any-return]

    assert await seen() == []
    assert "errors" not in await _add(stack, video_id)
    assert await seen() == [{"language": "en", "label": "English"}]
    again = await _add(stack, video_id, language="EN", label="English (CC)")
    assert again["data"]["addCaption"]["language"] == "en"
    assert await seen() == [{"language": "en", "label": "English (CC)"}]
    async with httpx.AsyncClient() as http:
        master_url = f"{stack.cdn}/videos/{video_id}/hls/master.m3u8"
        master = (await http.get(master_url, headers={"cache-control": "no-cache"})).text
        assert master.count("TYPE=SUBTITLES") == 1 and 'NAME="English (CC)"' in master

        removed = await gql(
            stack.api, REMOVE, {"id": str(video_id), "lang": "en"}, token=stack.token
        )
        assert removed["data"]["removeCaption"] is True
        assert await seen() == []
        keys = await list_keys(
            stack.services.storage.client,
            stack.services.storage.media_bucket,
            f"{media_prefix(video_id)}hls/captions",
        )
        assert keys == []
        stored = await stack.services.storage.read_media(f"{media_prefix(video_id)}hls/master.m3u8")
        assert stored is not None and b"SUBTITLES" not in stored
        stored_mpd = await stack.services.storage.read_media(dash_key(video_id))
        assert stored_mpd is not None and b'contentType="text"' not in stored_mpd
    none_left = await gql(stack.api, REMOVE, {"id": str(video_id), "lang": "en"}, token=stack.token)
    assert none_left["data"]["removeCaption"] is False


@pytest.mark.parametrize(
    ("fields", "code", "says"),
    [
        (
            {"content": "WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nx\n"},
            "BAD_USER_INPUT",
            "caption line 3",
        ),
        (
            {"content": "WEBVTT\n\n00:00:30.000 --> 00:00:31.000\nlate\n"},
            "BAD_USER_INPUT",
            "after the video ends",
        ),
        ({"language": "english"}, "BAD_USER_INPUT", "BCP 47"),
        ({"label": 'Say "hi"'}, "BAD_USER_INPUT", "double quotes"),
        ({"label": "English\n#EXT-X-ENDLIST"}, "BAD_USER_INPUT", "control characters"),
        ({"language": 'en",URI="evil.m3u8'}, "BAD_USER_INPUT", "BCP 47"),
        ({"content": "\u00e9" * (300 * 1024)}, "BAD_USER_INPUT", "512 KiB"),
        ({"content": "x" * (600 * 1024)}, "BAD_USER_INPUT", "at most 524288 characters"),
    ],
)
async def test_bad_captions_are_refused_and_change_nothing(
    stack: Stack, fields: dict[str, str], code: str, says: str
) -> None:
    video_id = await insert_video(stack.services.db.pool, stack.owner)
    refused = await _add(stack, video_id, **fields)
    [error] = refused["errors"]
    assert error["extensions"]["code"] == code and says in error["message"], error
    count = await stack.services.db.pool.fetchval("SELECT count(*) FROM captions")
    assert count == 0


async def test_only_the_owner_changes_captions_and_labels_stay_unique(stack: Stack) -> None:
    video_id = await insert_video(stack.services.db.pool, stack.owner)
    stranger = token_for(stack.services.settings, await insert_user(stack.services.db.pool))
    refused = await _add(stack, video_id, token=stranger)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    removal = await gql(stack.api, REMOVE, {"id": str(video_id), "lang": "en"}, token=stranger)
    assert removal["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await _add(stack, video_id, token="")
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # Its master is not in the bucket: the caption is stored (the flow publishes its files
    # with the stream), and a second one may not take the same name.
    assert "errors" not in await _add(stack, video_id)
    same_label = await _add(stack, video_id, language="fr")
    assert "another caption" in same_label["errors"][0]["message"]
    found = (await gql(stack.api, VIDEO, {"id": str(video_id)}, token=stack.token))["data"]
    [caption] = found["video"]["captions"]
    assert (caption["language"], caption["label"]) == ("en", "English")
    unpublished = await insert_video(stack.services.db.pool, stack.owner, status="PROCESSING")
    assert "errors" not in await _add(stack, unpublished)
    found = (await gql(stack.api, VIDEO, {"id": str(unpublished)}, token=stack.token))["data"]
    assert found["video"]["captions"] == [{"language": "en", "label": "English", "url": None}]


async def test_a_video_holds_at_most_its_quota_of_captions_and_a_replacement_fits(
    stack: Stack,
) -> None:
    from streamify.domain import QuotaExceeded
    from streamify.writes.captions import CaptionWrites, prepared_caption

    video_id = await insert_video(stack.services.db.pool, stack.owner)
    writes = CaptionWrites(stack.services.writes, stack.services.storage, max_per_video=2)
    cues = prepared_caption(SRT, language="en", duration=None)
    for language in ("en", "fr"):
        await writes.put(video_id, language=language, label=language.upper(), caption=cues)
    with pytest.raises(QuotaExceeded) as refused:
        await writes.put(video_id, language="de", label="DE", caption=cues)
    assert refused.value.extensions["limit"] == "STREAMIFY_CAPTION_MAX_PER_VIDEO"
    await writes.put(video_id, language="en", label="English", caption=cues)  # replaces
    stored = await stack.services.db.pool.fetch(
        "SELECT language, label FROM captions WHERE video_id = $1 ORDER BY language", video_id
    )
    assert [tuple(r) for r in stored] == [("en", "English"), ("fr", "FR")]


SEPARATORS = ["\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\u00a0"]


async def test_a_label_cannot_add_a_line_to_the_master_through_add_caption(stack: Stack) -> None:
    """Issue 34.3: U+2028 and friends passed the label check, and `splitlines()` broke the
    master on them, giving the owner a variant line of their choosing."""
    video_id = await insert_video(stack.services.db.pool, stack.owner)
    for sep in SEPARATORS:
        label = f"English{sep}#EXT-X-STREAM-INF:BANDWIDTH=1{sep}https://evil.example/x.m3u8"
        refused = await _add(stack, video_id, label=label)
        assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", repr(sep)
    stored = await stack.services.db.pool.fetchval(
        "SELECT count(*) FROM captions WHERE video_id = $1", video_id
    )
    assert stored == 0


async def test_the_signed_master_keeps_an_odd_character_inside_its_attribute(
    stack: Stack, tmp_path: Path
) -> None:
    """A master stored with such a label (before the check existed) is served by the
    signed-file route with every separator still inside the NAME attribute."""
    video_id, _ = await _published(stack, tmp_path / "src", "PRIVATE")
    key = f"{media_prefix(video_id, signed=True)}hls/master.m3u8"
    storage = stack.services.storage
    master = (await storage.read_media(key) or b"").decode()
    name = "".join(f"A{sep}#EXT-X-STREAM-INF:BANDWIDTH=1{sep}evil.m3u8" for sep in SEPARATORS)
    injected = master.replace(
        "#EXT-X-STREAM-INF:",
        f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="{name}",LANGUAGE="en",'
        'URI="captions/en/index.m3u8"\n#EXT-X-STREAM-INF:',
        1,
    )
    await storage.client.put_object(Bucket=storage.media_bucket, Key=key, Body=injected.encode())
    found = (await gql(stack.api, VIDEO, {"id": str(video_id)}, token=stack.token))["data"]
    async with httpx.AsyncClient() as http:
        served = (await http.get(found["video"]["manifest"]["url"])).text
    lines = served.split("\n")
    assert len(lines) == len(injected.split("\n"))
    variants = [x for x in lines if x.startswith("#EXT-X-STREAM-INF")]
    assert len(variants) == master.count("#EXT-X-STREAM-INF")
    assert not any(x.startswith("evil.m3u8") for x in served.replace("\r", "\n").split("\n"))


async def test_overlapping_cues_on_a_published_video_stay_a_few_copies_of_the_caption(
    stack: Stack, tmp_path: Path
) -> None:
    """Issue 34.2: 10,000 cues spanning the whole video were copied into every segment.
    Through addCaption now: ends clamped to the video, each cue in at most 1 + MAX_REPEATS
    segments, the files uploaded after the row's commit."""
    from streamify.infra.webvtt import MAX_REPEATS, SEGMENT_HEADER

    video_id, stream = await _published(stack, tmp_path / "src", "PUBLIC")
    content = "WEBVTT\n\n" + "00:00:00.000 --> 99:00:00.000\nx\n\n" * 10_000
    added = await _add(stack, video_id, content=content)
    assert "errors" not in added, added
    storage = stack.services.storage
    prefix = f"{media_prefix(video_id)}hls/captions/en/"
    keys = await list_keys(storage.client, storage.media_bucket, prefix)
    segments = [k for k in keys if k.endswith(".vtt")]
    assert len(segments) == int(-(-stream.info.duration // 6))
    whole = await storage.read_media(f"{media_prefix(video_id)}hls/captions/en.vtt")
    assert whole is not None and b"99:00:00.000" not in whole
    total = 0
    for segment in segments:
        total += len(await storage.read_media(segment) or b"")
    header = len(f"WEBVTT\n{SEGMENT_HEADER}\n")
    assert total <= (1 + MAX_REPEATS) * len(whole) + len(segments) * header
