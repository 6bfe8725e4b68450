"""Issue 34's acceptance through a running system: hostile captions sent with `addCaption` as
any signed-in user can (`createUpload` makes a video they own, unpublished), each timed,
while `/healthz` is polled every 10 ms on another connection; the slowest health answer
during each caption says how long the API process stood still.

    streamify dev                       # in another terminal (or any running system)
    python -m bench.hostile_captions [--api http://127.0.0.1:8000] [--kib 512]

`--kib` sets each caption's size (512 KiB is the limit; an API that backtracks needs
minutes to hours there, so measure one with 16 or 32)."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from bench.pipeline import CREATE, RESULTS, SIGN_UP

ADD = """mutation($input: AddCaptionInput!) { addCaption(input: $input) { language } }"""
HEAD = "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n"


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda size: (HEAD + unit * size)[:size]


SHAPES: dict[str, Callable[[int], str]] = {
    # A letter after the blanks: cue lines are stripped at their end.
    "<v then spaces, no >": lambda size: (HEAD + "<v" + " " * size)[: size - 1] + "x",
    "<v then tabs and spaces": lambda size: (HEAD + "<v" + " \t" * size)[: size - 1] + "x",
    "{\\ repeated, no }": _repeat("{\\"),
    "< repeated": _repeat("<"),
    "& repeated": _repeat("&"),
    "<c.a.a.a…, no >": lambda size: (HEAD + "<c" + ".a" * size)[:size],
    "<b> repeated": _repeat("<b>"),
    "10,000 cues 0 → 99 h": lambda size: (
        "WEBVTT\n\n" + "00:00:00.000 --> 99:00:00.000\nx\n\n" * 10_000
    )[:size],
}


async def _health(api: str, stop: asyncio.Event, worst: list[float]) -> None:
    async with httpx.AsyncClient(base_url=api, timeout=3600) as http:
        while not stop.is_set():
            asked = time.perf_counter()
            await http.get("/healthz")
            worst[0] = max(worst[0], time.perf_counter() - asked)
            await asyncio.sleep(0.01)


async def run(api: str, kib: int) -> list[dict[str, Any]]:
    rows = []
    async with httpx.AsyncClient(base_url=api, timeout=3600) as http:
        email = f"hostile-{uuid.uuid4().hex[:8]}@example.com"
        password = "correct horse battery"
        signed = await http.post(
            "/graphql",
            json={
                "query": SIGN_UP,
                "variables": {"email": email, "password": password, "name": "H"},
            },
        )
        auth = {"Authorization": f"Bearer {signed.json()['data']['signUp']['accessToken']}"}
        for name, make in SHAPES.items():
            upload = {"filename": "x.mp4", "contentType": "video/mp4", "sizeBytes": 1 << 20}
            created = await http.post(
                "/graphql", json={"query": CREATE, "variables": {"input": upload}}, headers=auth
            )
            video_id = created.json()["data"]["createUpload"]["video"]["id"]
            content = make(kib * 1024)
            caption = {"videoId": video_id, "language": "en", "label": "E", "content": content}
            stop, worst = asyncio.Event(), [0.0]
            polling = asyncio.create_task(_health(api, stop, worst))
            await asyncio.sleep(0.05)
            asked = time.perf_counter()
            answer = await http.post(
                "/graphql", json={"query": ADD, "variables": {"input": caption}}, headers=auth
            )
            took = time.perf_counter() - asked
            stop.set()
            await polling
            body = answer.json()
            outcome = (
                "accepted"
                if not body.get("errors")
                else "refused: " + body["errors"][0]["message"][:70]
            )
            row = {
                "shape": name,
                "bytes": len(content.encode()),
                "add_caption_ms": round(took * 1000, 1),
                "worst_healthz_ms": round(worst[0] * 1000, 1),
                "outcome": outcome,
            }
            print(json.dumps(row, ensure_ascii=False), flush=True)
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--kib", type=int, default=512)
    args = parser.parse_args()
    rows = asyncio.run(run(args.api, args.kib))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"hostile-captions-{args.kib}k.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
