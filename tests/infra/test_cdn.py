"""The media CDN as dev and compose run it: nginx with deploy/nginx/cdn.conf.template, in front
of the local S3 (which allows no anonymous access) and asking the API about every request.

PUBLIC media play from plain URLs; PRIVATE and UNLISTED media only with a valid signature,
before its expiry, for that video's folder; visibility changes and deletions take effect at
once, the CDN's cached copies included."""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qsl, urljoin

import httpx
import pytest

from streamify.infra.storage import list_keys
from streamify.names import dash_key, media_prefix, upload_prefix
from streamify.pipelines.transcode import dash
from tests.helpers import gql, insert_video
from tests.servers import CdnStack as Stack
from tests.streams import encode_stream

MASTER = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=1280x720\n720p/index.m3u8\n"
MEDIA = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\nseg_000.ts\n#EXT-X-ENDLIST\n"
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:04.000\nstoryboard.jpg#xywh=0,0,160,90\n"
FILES = {
    "hls/master.m3u8": MASTER.encode(),
    "hls/720p/index.m3u8": MEDIA.encode(),
    "hls/720p/seg_000.ts": b"segment bytes",
    "thumbs/poster.jpg": b"poster bytes",
    "thumbs/storyboard.jpg": b"sprite bytes",
    "thumbs/storyboard.vtt": VTT.encode(),
}
PLAYBACK = """query($id: ID!) { video(id: $id) {
  visibility manifest { url expiresAt } thumbnailUrl storyboard { imageUrl vttUrl } } }"""
UPDATE = """mutation($id: ID!, $v: Visibility!) {
  updateVideo(id: $id, input: {visibility: $v}) { id visibility } }"""
DELETE = "mutation($id: ID!) { deleteVideo(id: $id) }"


@pytest.fixture
def stack(cdn_stack: Stack) -> Stack:
    return cdn_stack


async def _video(stack: Stack, visibility: str) -> uuid.UUID:
    """A READY video whose stream is published where its visibility puts it."""
    pool = stack.services.db.pool
    video_id = await insert_video(pool, stack.owner, visibility=visibility)
    await pool.execute(
        "UPDATE manifests SET thumbnail_path = $2 WHERE video_id = $1",
        video_id,
        f"videos/{video_id}/thumbs/poster.jpg",
    )
    storage = stack.services.storage
    folder = media_prefix(video_id, signed=visibility != "PUBLIC")
    for name, body in FILES.items():
        await storage.client.put_object(Bucket=storage.media_bucket, Key=folder + name, Body=body)
    return video_id


async def _urls(stack: Stack, video_id: uuid.UUID, *, token: str | None) -> dict[str, str]:
    found = (await gql(stack.api, PLAYBACK, {"id": str(video_id)}, token=token))["data"]["video"]
    assert found is not None
    return {
        "master": found["manifest"]["url"],
        "poster": found["thumbnailUrl"],
        "sprite": found["storyboard"]["imageUrl"],
        "vtt": found["storyboard"]["vttUrl"],
        "expires": found["manifest"]["expiresAt"],
    }


async def _objects(stack: Stack, prefix: str, bucket: str | None = None) -> list[str]:
    storage = stack.services.storage
    return await list_keys(storage.client, bucket or storage.media_bucket, prefix)


def _unsigned(url: str) -> str:
    return url.split("?", maxsplit=1)[0]


async def _plays_through(http: httpx.AsyncClient, master_url: str) -> None:
    """Every file a player fetches, following the playlists' URIs as hls.js resolves them."""
    master = await http.get(master_url)
    assert master.status_code == 200, master.text
    assert master.headers["access-control-allow-origin"] == "*"
    variant = urljoin(master_url, next(line for line in master.text.splitlines() if "720p" in line))
    media = await http.get(variant)
    assert media.status_code == 200
    segment = urljoin(variant, next(line for line in media.text.splitlines() if ".ts" in line))
    got = await http.get(segment)
    assert got.status_code == 200 and got.content == b"segment bytes"


async def test_private_media_play_only_with_their_signature(stack: Stack) -> None:
    video_id = await _video(stack, "PRIVATE")
    assert (await gql(stack.api, PLAYBACK, {"id": str(video_id)}))["data"]["video"] is None
    urls = await _urls(stack, video_id, token=stack.token)
    signed_root = f"{stack.cdn}/signed/{video_id}/"
    assert all(
        urls[k].startswith(signed_root) and "Signature=" in urls[k] for k in urls if k != "expires"
    )
    assert urls["expires"] is not None
    async with httpx.AsyncClient() as http:
        await _plays_through(http, urls["master"])
        master = (await http.get(urls["master"])).text
        assert "720p/index.m3u8?Policy=" in master and "Key-Pair-Id=" in master
        assert (await http.get(urls["poster"])).content == b"poster bytes"
        assert (await http.get(urls["sprite"])).content == b"sprite bytes"
        vtt = (await http.get(urls["vtt"])).text
        assert "storyboard.jpg?Policy=" in vtt and "#xywh=0,0,160,90" in vtt
        sprite_from_vtt = urljoin(urls["vtt"], vtt.splitlines()[-1].split("#")[0])
        assert (await http.get(sprite_from_vtt)).content == b"sprite bytes"

        # Without the signature, with it altered, for another folder, or on the unsigned path:
        # refused by the CDN.
        segment = f"{signed_root}hls/720p/seg_000.ts"
        query = urls["master"].split("?", 1)[1]
        params = dict(parse_qsl(query))
        altered = query.replace(params["Signature"][:8], "AAAAAAAA")
        refused = [
            _unsigned(urls["master"]),
            segment,
            _unsigned(urls["poster"]),
            f"{segment}?{altered}",
            f"{_unsigned(urls['master'])}?{altered}",
            f"{stack.cdn}/videos/{video_id}/hls/master.m3u8",
            f"{stack.cdn}/videos/{video_id}/hls/720p/seg_000.ts",
        ]
        for url in refused:
            assert (await http.get(url)).status_code == 403, url
        other = await _video(stack, "PRIVATE")
        other_urls = await _urls(stack, other, token=stack.token)
        other_query = other_urls["master"].split("?", 1)[1]
        assert (await http.get(f"{segment}?{other_query}")).status_code == 403
        # No listing, no other files, and the bucket itself lets no anonymous caller in.
        assert (await http.get(f"{stack.cdn}/")).status_code == 403
        assert (await http.get(f"{stack.cdn}/signed/")).status_code == 403
        assert (await http.get(f"{stack.cdn}/signed/{video_id}/")).status_code == 403
        assert (await http.get(f"{stack.cdn}/?list-type=2")).status_code == 403
        s3 = stack.services.settings.s3_endpoint_url
        bucket = stack.services.storage.media_bucket
        assert (await http.get(f"{s3}/{bucket}")).status_code == 403
        assert (
            await http.get(f"{s3}/{bucket}/{media_prefix(video_id, signed=True)}hls/master.m3u8")
        ).status_code == 403
        # A signature past its expiry.
        playback = stack.services.playback
        resource = f"{stack.cdn}/{media_prefix(video_id, signed=True)}*"
        generation = await stack.services.db.pool.fetchval(
            "SELECT access_generation FROM videos WHERE id = $1", video_id
        )
        # Refused for its expiry alone: signed for the video's current access generation.
        expired = playback.signer.sign(resource, int(time.time()) - 1, not_before=generation).query
        assert (await http.get(f"{segment}?{expired}")).status_code == 403
        assert (await http.get(f"{_unsigned(urls['master'])}?{expired}")).status_code == 403
        # The API's own playlist route checks the same.
        direct = await stack.api.get(
            f"/cdn/signed/{video_id}/hls/master.m3u8?{altered}",
            headers={"x-cdn-secret": stack.services.settings.cdn_shared_secret},
        )
        assert direct.status_code == 403
    # The CDN's log has every request, and not one signature (a signed URL is a credential).
    logged = (Path(stack.cdn_folder) / "access.log").read_text()
    assert f"/signed/{video_id}/hls/720p/seg_000.ts" in logged
    assert "Signature" not in logged and "Policy" not in logged


async def test_unlisted_media_are_signed_for_anyone_with_the_id(stack: Stack) -> None:
    video_id = await _video(stack, "UNLISTED")
    urls = await _urls(stack, video_id, token=None)
    assert "Signature=" in urls["master"]
    async with httpx.AsyncClient() as http:
        await _plays_through(http, urls["master"])
        assert (await http.get(_unsigned(urls["master"]))).status_code == 403
    # An answer carrying signed URLs expires: the response cache keeps none of it.
    query = {"query": PLAYBACK, "variables": f'{{"id":"{video_id}"}}'}
    first = await stack.api.get("/graphql", params=query)
    assert "no-store" in first.headers["cache-control"]


async def test_public_media_are_unsigned_and_cached(stack: Stack) -> None:
    video_id = await _video(stack, "PUBLIC")
    urls = await _urls(stack, video_id, token=None)
    assert urls["master"] == f"{stack.cdn}/videos/{video_id}/hls/master.m3u8"
    assert urls["expires"] is None
    async with httpx.AsyncClient() as http:
        await _plays_through(http, urls["master"])
        segment = f"{stack.cdn}/videos/{video_id}/hls/720p/seg_000.ts"
        await http.get(segment)
        assert (await http.get(segment)).headers["x-cache"] == "HIT"


async def _real_stream(stack: Stack, tmp: Path, visibility: str) -> uuid.UUID:
    """A READY video whose published stream is a real one (one rung, CMAF, I-frames)."""
    hls = (await encode_stream(tmp, size="320x180", seconds=9, audio=False)).hls
    video_id = await insert_video(stack.services.db.pool, stack.owner, visibility=visibility)
    await stack.services.db.pool.execute(
        "UPDATE manifests SET dash_path = $2 WHERE video_id = $1", video_id, dash_key(video_id)
    )
    storage = stack.services.storage
    folder = media_prefix(video_id, signed=visibility != "PUBLIC")
    for path in hls.rglob("*"):
        if path.is_file() and path.suffix in (".m3u8", ".mpd", ".mp4", ".m4s"):
            key = f"{folder}hls/{path.relative_to(hls)}"
            await storage.client.put_object(
                Bucket=storage.media_bucket, Key=key, Body=path.read_bytes()
            )
    return video_id


async def _master_url(stack: Stack, video_id: uuid.UUID, field: str = "url") -> str:
    query = "query($id: ID!) { video(id: $id) { manifest { url dashUrl } } }"
    found = await gql(stack.api, query, {"id": str(video_id)}, token=stack.token)
    url: str = found["data"]["video"]["manifest"][field]
    return url


async def _first_iframe(http: httpx.AsyncClient, master_url: str) -> tuple[str, str]:
    """The I-frame playlist's URL, as a player resolves it from the master, and the Range
    header of its first entry."""
    master = await http.get(master_url)
    assert master.status_code == 200
    line = next(x for x in master.text.splitlines() if x.startswith("#EXT-X-I-FRAME-STREAM-INF"))
    playlist_url = urljoin(master_url, line.split('URI="')[1].split('"')[0])
    playlist = await http.get(playlist_url)
    assert playlist.status_code == 200
    lines = playlist.text.splitlines()
    assert "#EXT-X-I-FRAMES-ONLY" in lines
    at = next(i for i, x in enumerate(lines) if x.startswith("#EXT-X-BYTERANGE:"))
    length, offset = (int(n) for n in lines[at].split(":")[1].split("@"))
    segment_url = urljoin(playlist_url, lines[at + 1])
    return segment_url, f"bytes={offset}-{offset + length - 1}"


async def test_iframe_ranges_answer_206_from_the_moof_and_private_ones_need_a_signature(
    stack: Stack, tmp_path: Path
) -> None:
    public = await _real_stream(stack, tmp_path / "public", "PUBLIC")
    private = await _real_stream(stack, tmp_path / "private", "PRIVATE")
    async with httpx.AsyncClient() as http:
        for video_id in (public, private):
            segment_url, byte_range = await _first_iframe(http, await _master_url(stack, video_id))
            for _ in range(2):  # from the origin, then from the CDN's cache
                got = await http.get(segment_url, headers={"Range": byte_range})
                assert got.status_code == 206, got.status_code
                start, end = (int(n) for n in byte_range.split("=")[1].split("-"))
                assert len(got.content) == end - start + 1 and got.content[4:8] == b"moof"
                assert got.headers["content-range"].startswith(f"bytes {start}-{end}/")
        # PRIVATE: the I-frame playlist and its ranges only with the signature.
        master_url = await _master_url(stack, private)
        assert "iframes.m3u8?Policy=" in (await http.get(master_url)).text
        segment_url, byte_range = await _first_iframe(http, master_url)
        assert "Signature=" in segment_url
        for unsigned in (_unsigned(segment_url), _unsigned(segment_url).replace("seg_", "x")):
            refused = await http.get(unsigned, headers={"Range": byte_range})
            assert refused.status_code == 403
        rung = segment_url.split("/hls/")[1].split("/")[0]
        playlist = f"{stack.cdn}/signed/{private}/hls/{rung}/iframes.m3u8"
        assert (await http.get(playlist)).status_code == 403


async def test_a_private_dash_manifest_is_served_signed_and_refused_unsigned(
    stack: Stack, tmp_path: Path
) -> None:
    private = await _real_stream(stack, tmp_path / "private", "PRIVATE")
    public = await _real_stream(stack, tmp_path / "public", "PUBLIC")
    async with httpx.AsyncClient() as http:
        url = await _master_url(stack, private, "dashUrl")
        assert url.startswith(f"{stack.cdn}/signed/{private}/hls/manifest.mpd?Policy=")
        got = await http.get(url)
        assert got.status_code == 200
        assert got.headers["content-type"].startswith("application/dash+xml")
        [template] = ET.fromstring(got.text).iter(f"{{{dash.NAMESPACE}}}SegmentTemplate")
        query = url.split("?", 1)[1]
        init = urljoin(url, str(template.get("initialization")))
        assert init.endswith(f"/init.mp4?{query}")
        assert (await http.get(init)).status_code == 200
        first = urljoin(url, str(template.get("media")).replace("$Number%05d$", "00000"))
        assert (await http.get(first)).content[4:8] in (b"styp", b"sidx", b"moof")
        for refused in (_unsigned(url), _unsigned(init), _unsigned(first)):
            assert (await http.get(refused)).status_code == 403, refused
        # PUBLIC: unsigned, from the bucket through the CDN like the master.
        plain = await _master_url(stack, public, "dashUrl")
        assert plain == f"{stack.cdn}/videos/{public}/hls/manifest.mpd"
        assert (await http.get(plain)).status_code == 200


async def test_hiding_a_video_revokes_its_unsigned_urls_at_once(stack: Stack) -> None:
    video_id = await _video(stack, "PUBLIC")
    segment = f"{stack.cdn}/videos/{video_id}/hls/720p/seg_000.ts"
    async with httpx.AsyncClient() as http:
        await http.get(segment)
        assert (await http.get(segment)).headers["x-cache"] == "HIT"  # in the CDN's cache
        hidden = await gql(
            stack.api, UPDATE, {"id": str(video_id), "v": "PRIVATE"}, token=stack.token
        )
        assert hidden["data"]["updateVideo"]["visibility"] == "PRIVATE"
        assert (await http.get(segment)).status_code == 403  # cached, and still refused
        assert await _objects(stack, media_prefix(video_id)) == []
        moved = await _objects(stack, media_prefix(video_id, signed=True))
        assert len(moved) == len(FILES)
        urls = await _urls(stack, video_id, token=stack.token)
        await _plays_through(http, urls["master"])

        # Public again: the signed URLs stop, the plain ones work again.
        await gql(stack.api, UPDATE, {"id": str(video_id), "v": "PUBLIC"}, token=stack.token)
        assert (await http.get(urls["master"])).status_code == 403
        assert await _objects(stack, media_prefix(video_id, signed=True)) == []
        await _plays_through(http, (await _urls(stack, video_id, token=None))["master"])


async def test_deleting_a_video_removes_its_media_and_the_cdn_serves_none_of_it(
    stack: Stack,
) -> None:
    public, private = await _video(stack, "PUBLIC"), await _video(stack, "PRIVATE")
    async with httpx.AsyncClient() as http:
        served = []
        for video_id in (public, private):
            urls = await _urls(stack, video_id, token=stack.token)
            await _plays_through(http, urls["master"])
            served += [urls["master"], urls["poster"], urls["vtt"]]
        segment = f"{stack.cdn}/videos/{public}/hls/720p/seg_000.ts"
        await http.get(segment)
        assert (await http.get(segment)).headers["x-cache"] == "HIT"
        served.append(segment)
        for video_id in (public, private):
            deleted = await gql(stack.api, DELETE, {"id": str(video_id)}, token=stack.token)
            assert deleted["data"]["deleteVideo"] == str(video_id)
        for url in served:
            assert (await http.get(url)).status_code in (403, 404), url
    raw = stack.services.storage.raw_bucket
    for video_id in (public, private):
        for signed in (False, True):
            assert await _objects(stack, media_prefix(video_id, signed=signed)) == []
        assert await _objects(stack, upload_prefix(video_id), raw) == []


async def test_the_local_cdn_starts_from_a_relative_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`streamify dev` keeps its state in `.streamify` (relative) by default."""
    from streamify.devtools.cdn import local_cdn
    from streamify.devtools.local import free_port

    monkeypatch.chdir(tmp_path)
    with local_cdn(
        Path(".streamify/cdn"),
        port=free_port(),
        api="127.0.0.1:9",
        s3="127.0.0.1:9",
        secret="not-asked",
    ) as cdn:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{cdn}/")).status_code == 403
    assert (tmp_path / ".streamify/cdn/nginx.conf").is_file()
