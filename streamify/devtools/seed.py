"""Demo data: users, READY videos with renditions and manifests, written with COPY."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from streamify.infra.sql.bulk import insert_demo_rows
from streamify.infra.sql.demo import DemoMedia
from streamify.names import hls_key, master_key, poster_key

WORDS = [
    "sunset",
    "drone",
    "tour",
    "city",
    "night",
    "lapse",
    "cooking",
    "ramen",
    "guitar",
    "cover",
    "cat",
    "kitten",
    "surf",
    "wave",
    "mountain",
    "hike",
    "review",
    "unboxing",
    "speedrun",
    "tutorial",
    "python",
    "jazz",
    "piano",
    "street",
    "food",
    "rain",
    "train",
    "journey",
    "aurora",
    "snow",
    "garden",
    "bread",
    "bike",
    "repair",
    "chess",
    "opening",
    "coffee",
    "art",
]

LADDER = (
    (1080, 1920, 5_000_000),
    (720, 1280, 2_800_000),
    (480, 854, 1_400_000),
    (360, 640, 800_000),
    (240, 426, 400_000),
)
CODECS = "avc1.640028,mp4a.40.2"
NO_MEDIA = "Seeded for benchmarks: its media does not exist."


def _title(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5))).capitalize()


async def seed(
    pool: asyncpg.Pool,
    *,
    videos: int,
    users: int | None = None,
    rng: random.Random | None = None,
    media: Sequence[DemoMedia] = (),
) -> tuple[int, int]:
    """Insert `videos` demo videos spread over `users` owners; returns (users, videos).

    With `media`, each video plays one of those processed clips. Without it (benchmarks) the
    videos point at media that does not exist, and their description says so."""
    rng = rng or random.Random()  # noqa: S311 - demo data, not secrets
    user_count = users or max(1, videos // 20)
    now = datetime.now(UTC)
    user_ids = [uuid.uuid4() for _ in range(user_count)]
    run = uuid.uuid4().hex[:8]
    user_rows = [
        (uid, f"demo-{run}-{i}@example.com", f"Demo creator {i}", now)
        for i, uid in enumerate(user_ids)
    ]
    video_rows: list[tuple[object, ...]] = []
    rendition_rows: list[tuple[object, ...]] = []
    manifest_rows: list[tuple[object, ...]] = []

    for i in range(videos):
        vid = uuid.uuid4()
        created = now - timedelta(seconds=i * 7 + rng.random())
        shared = media[i % len(media)] if media else None
        video_rows.append(
            (
                vid,
                rng.choice(user_ids),
                _title(rng),
                "Demo video: plays a demo clip." if shared else NO_MEDIA,
                rng.sample(WORDS, 3),
                "PUBLIC",
                "READY",
                shared.duration_seconds if shared else round(rng.uniform(5, 900), 2),
                created,
                created,
            )
        )
        if shared is not None:
            rendition_rows += [
                (vid, r.height, r.width, r.bitrate, r.codecs, r.playlist_path)
                for r in shared.renditions
            ]
            manifest_rows.append(
                (vid, shared.master_path, shared.thumbnail_path, shared.dash_path, created)
            )
            continue
        for height, width, bitrate in LADDER[rng.randint(0, 2) :]:
            rendition_rows.append(
                (vid, height, width, bitrate, CODECS, hls_key(vid, f"{height}p/index.m3u8"))
            )
        # Placeholder media (no files): no DASH manifest to name.
        manifest_rows.append((vid, master_key(vid), poster_key(vid), None, created))
    await insert_demo_rows(
        pool, users=user_rows, videos=video_rows, renditions=rendition_rows, manifests=manifest_rows
    )
    return user_count, videos
