"""Upload -> playable -> READY through a running system, the way a user meets it: sign up,
upload a clip through the API's presigned multipart upload, complete it, then watch the video
until it is playable and until it is READY. Times count from completeUpload's answer.

    streamify dev                       # in another terminal (or any running system)
    python -m bench.pipeline [--api http://127.0.0.1:8000] [--seconds 60]

The clip is 1920x1080 at 30 fps with film-like grain and AAC audio (cached in bench/results/).
Prints the times and their ratio to the clip's duration, and the worker's own account of where
the time went (its log line, from the dev state folder when it is there)."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from streamify.devtools.clips import synthetic_clip

RESULTS = Path(__file__).resolve().parent / "results"
CREATE = """mutation($input: CreateUploadInput!) {
  createUpload(input: $input) { id partSizeBytes partCount video { id } }
}"""
SIGN = """mutation($id: ID!, $parts: [Int!]!) {
  signUploadParts(uploadId: $id, partNumbers: $parts) { partNumber url }
}"""
COMPLETE = """mutation($id: ID!, $parts: [CompletedPartInput!]!) {
  completeUpload(uploadId: $id, parts: $parts) { id status }
}"""
SIGN_UP = """mutation($email: String!, $password: String!, $name: String!) {
  signUp(email: $email, password: $password, displayName: $name) { accessToken }
}"""
WATCH = """query($id: ID!) { video(id: $id) {
  status playable failureReason manifest { url } renditions { height } } }"""


def grain_clip(seconds: int) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"grain-{seconds}s-1080p.mp4"
    if not path.exists():
        synthetic_clip(path, size="1920x1080", seconds=seconds, grain=True)
    return path


async def gql(http: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str) -> Any:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(body["errors"])
    return body["data"]


async def upload(http: httpx.AsyncClient, token: str, data: bytes) -> tuple[str, float]:
    """(video id, when completeUpload answered)."""
    part = 16 * 1024 * 1024
    created = (
        await gql(
            http,
            CREATE,
            {
                "input": {
                    "filename": "grain.mp4",
                    "contentType": "video/mp4",
                    "sizeBytes": len(data),
                    "partSizeBytes": part,
                    "title": "Pipeline benchmark",
                }
            },
            token,
        )
    )["createUpload"]
    numbers = list(range(1, created["partCount"] + 1))
    signed = (await gql(http, SIGN, {"id": created["id"], "parts": numbers}, token))[
        "signUploadParts"
    ]
    size = created["partSizeBytes"]

    async def put(entry: dict[str, Any]) -> dict[str, Any]:
        n = entry["partNumber"]
        async with httpx.AsyncClient(timeout=120) as s3:
            sent = await s3.put(entry["url"], content=data[(n - 1) * size : n * size])
        sent.raise_for_status()
        return {"partNumber": n, "etag": sent.headers["etag"].strip('"')}

    parts = await asyncio.gather(*(put(e) for e in signed))
    await gql(http, COMPLETE, {"id": created["id"], "parts": parts}, token)
    return str(created["video"]["id"]), time.monotonic()


async def run(api: str, seconds: int, state: Path) -> dict[str, Any]:
    data = grain_clip(seconds).read_bytes()
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        signed_up = await gql(
            http,
            SIGN_UP,
            {
                "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
                "password": "correct horse battery staple",
                "name": "Bench",
            },
            "",
        )
        token = signed_up["signUp"]["accessToken"]
        video_id, completed = await upload(http, token, data)
        playable_at = ready_at = None
        deadline = completed + 20 * seconds
        while ready_at is None and time.monotonic() < deadline:
            video = (await gql(http, WATCH, {"id": video_id}, token))["video"]
            now = time.monotonic() - completed
            if video["status"] == "FAILED":
                raise RuntimeError(video["failureReason"])
            if video["playable"] and playable_at is None:
                playable_at = now
            if video["status"] == "READY":
                ready_at = now
                rungs = [r["height"] for r in video["renditions"]]
            await asyncio.sleep(0.1)
    if ready_at is None or playable_at is None:
        raise RuntimeError("the video did not become READY in time")
    worker_log = state / "worker.log"
    said = None
    for _ in range(50):  # the flow logs its summary just after READY
        if worker_log.exists():
            found = re.findall(rf"video {video_id} ready in .*", worker_log.read_text())
            said = found[-1] if found else None
        if said is not None:
            break
        await asyncio.sleep(0.1)
    return {
        "clip": f"{seconds} s 1920x1080 30 fps, grain, AAC",
        "playable_s": round(playable_at, 1),
        "playable_ratio": round(playable_at / seconds, 3),
        "ready_s": round(ready_at, 1),
        "ready_ratio": round(ready_at / seconds, 3),
        "rungs": rungs,
        "worker": said,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--state", type=Path, default=Path(".streamify"))
    args = parser.parse_args()
    result = asyncio.run(run(args.api, args.seconds, args.state))
    print(json.dumps(result, indent=2))
    (RESULTS / "pipeline.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
