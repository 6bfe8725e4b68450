"""Issue 24's acceptance through a running system, as a user meets it: upload a 12 s 1280x720
clip with audio, wait for READY, add an English caption, and time how soon the master a
player loads (`manifest.url`, as handed out) lists it. Then check what the master and the
MPD offer: an audio group, the English subtitles group, one I-frame playlist per video rung
(its first byte range answers 206 from a `moof`), `EXT-X-MAP` in every variant, and the
MPD's English text adaptation set.

    streamify dev                       # in another terminal (or any running system)
    python -m bench.captions [--api http://127.0.0.1:8000] [--visibility PRIVATE]"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urljoin

import httpx

from bench.pipeline import RESULTS, SIGN_UP, gql, upload
from streamify.devtools.clips import synthetic_clip

WATCH = """query($id: ID!) { video(id: $id) {
  status failureReason manifest { url dashUrl } renditions { height } } }"""
ADD = """mutation($input: AddCaptionInput!) { addCaption(input: $input) { language url } }"""
HIDE = """mutation($id: ID!, $v: Visibility!) { updateVideo(id: $id, input: {visibility: $v}) {
  id } }"""
SRT = "1\n00:00:00,500 --> 00:00:04,000\nHello from the captions\n"
MPD = "{urn:mpeg:dash:schema:mpd:2011}"


def attributes(line: str) -> dict[str, str]:
    pairs = [p.split("=", 1) for p in line.split(":", 1)[1].split(",") if "=" in p]
    return {k: v.strip('"') for k, v in pairs}


async def iframe_range_starts_with_moof(
    http: httpx.AsyncClient, master_url: str, line: str
) -> bool:
    uri = line.split('URI="')[1].split('"', maxsplit=1)[0]
    playlist_url = urljoin(master_url, uri)
    lines = (await http.get(playlist_url)).text.splitlines()
    at = next(i for i, x in enumerate(lines) if x.startswith("#EXT-X-BYTERANGE:"))
    length, offset = (int(n) for n in lines[at].split(":")[1].split("@"))
    got = await http.get(
        urljoin(playlist_url, lines[at + 1]),
        headers={"Range": f"bytes={offset}-{offset + length - 1}"},
    )
    return got.status_code == 206 and got.content[4:8] == b"moof"


async def run(api: str, visibility: str) -> dict[str, Any]:
    clip = RESULTS / "captions-12s-720p.mp4"
    RESULTS.mkdir(exist_ok=True)
    if not clip.exists():
        synthetic_clip(clip, size="1280x720", seconds=12)
    async with httpx.AsyncClient(base_url=api, timeout=60) as http, httpx.AsyncClient() as cdn:
        email = f"captions-{uuid.uuid4().hex[:8]}@example.com"
        signed_up = await gql(
            http, SIGN_UP, {"email": email, "password": "correct horse battery", "name": "C"}, ""
        )
        token = signed_up["signUp"]["accessToken"]
        video_id, completed = await upload(http, token, clip.read_bytes())
        await gql(http, HIDE, {"id": video_id, "v": visibility}, token)
        while True:
            video = (await gql(http, WATCH, {"id": video_id}, token))["video"]
            if video["status"] == "FAILED":
                raise RuntimeError(video["failureReason"])
            if video["status"] == "READY":
                break
            await asyncio.sleep(0.2)
        ready = time.monotonic() - completed
        master_url = video["manifest"]["url"]
        before = (await cdn.get(master_url)).text  # a player that loaded it before
        caption = {"videoId": video_id, "language": "en", "label": "English", "content": SRT}
        asked = time.monotonic()
        added = (await gql(http, ADD, {"input": caption}, token))["addCaption"]
        answered = time.monotonic() - asked
        while True:
            master = (await cdn.get(master_url)).text
            if 'LANGUAGE="en"' in master:
                break
            await asyncio.sleep(0.05)
        listed = time.monotonic() - asked
        lines = master.splitlines()
        variants = [lines[i + 1] for i, x in enumerate(lines) if x.startswith("#EXT-X-STREAM-INF")]
        iframes = [x for x in lines if x.startswith("#EXT-X-I-FRAME-STREAM-INF")]
        maps = ["#EXT-X-MAP" in (await cdn.get(urljoin(master_url, uri))).text for uri in variants]
        mpd = ET.fromstring((await cdn.get(video["manifest"]["dashUrl"])).text)
        texts = [a.get("lang") for a in mpd.iter(f"{MPD}AdaptationSet")]
        unsigned = (await cdn.get(added["url"].split("?")[0])).status_code
        moof = await iframe_range_starts_with_moof(cdn, master_url, iframes[0])
        return {
            "clip": "12 s 1280x720 30 fps, AAC",
            "visibility": visibility,
            "ready_s": round(ready, 1),
            "master_before_caption_has_subtitles": "TYPE=SUBTITLES" in before,
            "addCaption_answered_s": round(answered, 3),
            "master_lists_caption_after_s": round(listed, 3),
            "audio_group": any(x.startswith("#EXT-X-MEDIA:TYPE=AUDIO") for x in lines),
            "subtitles": [
                attributes(x) for x in lines if x.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")
            ],
            "video_rungs": len(variants),
            "iframe_playlists": len(iframes),
            "iframe_range_206_moof": moof,
            "variants_with_ext_x_map": sum(maps),
            "mpd_adaptation_set_langs": texts,
            "caption_unsigned_status": unsigned,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--visibility", default="PRIVATE")
    args = parser.parse_args()
    result = asyncio.run(run(args.api, args.visibility))
    print(json.dumps(result, indent=2))
    (RESULTS / "captions.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
