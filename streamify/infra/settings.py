"""The one reader of the environment: every setting has the prefix STREAMIFY_."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-insecure-secret-change-me-in-production"  # noqa: S105
DEV_WEBHOOK_SECRET = "dev-only-webhook-secret"  # noqa: S105
DEV_S3_ACCESS_KEY_ID = "streamify"
DEV_S3_SECRET_ACCESS_KEY = "streamify-secret-key"  # noqa: S105
MIN_SECRET_BYTES = 32
DEV_PLAYBACK_KEY_PAIR_ID = "dev-only-playback-key"
DEV_CDN_SECRET = "dev-only-cdn-secret"  # noqa: S105
# HMAC algorithms a token may be signed with; anything else (none, RS*, ...) is refused.
JWT_ALGORITHMS = ("HS256", "HS384", "HS512")
# A key pair for development and the tests only, shipped in the package; production refuses it.
DEV_PLAYBACK_PRIVATE_KEY = (Path(__file__).parent / "dev_playback_key.pem").read_text()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STREAMIFY_", env_file=".env", extra="ignore")

    # production: refuses development secrets; GraphiQL, introspection and an open /metrics
    # are off unless enabled; tokens must belong to a session.
    environment: Literal["development", "production"] = "development"
    # None: on in development, off in production.
    graphiql_enabled: bool | None = None
    introspection_enabled: bool | None = None
    # /metrics needs `Authorization: Bearer <token>` when set; in production without one it is
    # not served at all (scrape it through a token, or not from the public port).
    metrics_token: str | None = None

    database_url: str = "postgresql://postgres@127.0.0.1:5432/streamify"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # cluster: `redis_url` names any seed node of a Redis Cluster (database 0 only); the tier
    # groups each batch by node and publishes on sharded pub/sub (Redis 7 or later).
    redis_mode: Literal["single", "cluster"] = "single"
    # API processes `streamify serve` starts on one port (the Dockerfile's default command).
    workers: int = Field(default=1, ge=1)
    db_pool_min_size: int = 2
    db_pool_max_size: int = 10

    # Cache tier. TTLs in seconds; jitter is the +/- fraction applied to every Redis TTL.
    cache_key_prefix: str = "sf:"
    cache_ttl_seconds: float = 300.0
    cache_negative_ttl_seconds: float = 30.0
    cache_tombstone_ttl_seconds: float = 10.0
    cache_list_ttl_seconds: float = 30.0
    cache_ttl_jitter: float = Field(default=0.1, ge=0.0, lt=1.0)
    cache_l1_enabled: bool = True
    # Writes drop L1 entries in every process through the broadcast; this TTL only bounds how
    # long a process that missed a broadcast (while reconnecting) could serve an old row.
    cache_l1_ttl_seconds: float = 10.0
    cache_l1_max_entries: int = 100_000
    cache_single_flight: bool = True
    cache_redis_enabled: bool = True
    redis_timeout_seconds: float = 0.5
    # After a Redis failure the tier skips Redis for this long before trying again.
    redis_breaker_cooldown_seconds: float = 2.0
    # How many requests may fall through to PostgreSQL at once while Redis is down.
    db_fallback_concurrency: int = 8

    # Automatic persisted queries (sha256 -> document, kept in Redis this long).
    persisted_query_ttl_seconds: int = 7 * 24 * 3600
    # Larger documents run but are not stored; only valid documents are stored at all.
    persisted_query_max_bytes: int = 16 * 1024
    # All persisted documents together, in Redis; the oldest go first to make room.
    persisted_query_store_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)
    # New documents one client address may register a minute (RATE_LIMITED beyond).
    rate_limit_persisted_queries_per_minute: int = 60
    # Whole-response cache for anonymous persisted GET queries, revalidated against the
    # versions of every entity the response was built from.
    response_cache_enabled: bool = True
    # Bytes the whole-response cache may hold in each process (bodies and what they depend on).
    response_cache_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    # Bytes each per-document cache of a process may hold (parsed documents and their verdicts,
    # compiled operations, operation types), each keyed by a digest, never the text.
    graphql_document_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)
    graphql_max_page_size: int = 100
    graphql_default_page_size: int = 20
    # Queries and mutations run on the compiled path (streamify.execution); what it does not
    # support falls back to Strawberry. Off: everything runs on Strawberry.
    graphql_compiled_execution: bool = True

    # HS256 secret of access tokens and session cookies: set a long random one in production.
    jwt_secret: str = DEV_JWT_SECRET
    jwt_algorithm: str = "HS256"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    session_cookie_name: str = "sf_session"
    # Send the session cookie over HTTPS only; turn on wherever the API is served over TLS.
    session_cookie_secure: bool = False
    password_min_length: int = 10

    # Abuse limits, per minute. Counted in Redis; when Redis is down they are not enforced.
    rate_limit_login_per_minute: int = 10
    # Wrong passwords one address may send for one email before each further one doubles its
    # wait; past `login_failures_per_email` failures in 15 minutes (from anywhere), an address
    # that never logged in to that account waits `login_short_wait_seconds` between tries.
    login_free_failures: int = Field(default=3, ge=1)
    login_failures_per_email: int = Field(default=20, ge=1)
    login_short_wait_seconds: int = Field(default=10, ge=1)
    rate_limit_mutations_per_minute: int = 120
    # Signing upload parts has its own allowance: Uppy signs one part per request.
    rate_limit_part_signing_per_minute: int = 1200
    max_request_body_bytes: int = 1024 * 1024
    graphql_max_depth: int = 12
    graphql_max_aliases: int = 15
    graphql_max_tokens: int = 2000
    # Any string argument (literal or variable); fields have tighter limits of their own.
    graphql_max_string_length: int = 10_000
    # Processing subscriptions one user (or, anonymous, one address) may hold at once, across
    # every API process (leases in Redis; each process alone while Redis is down).
    subscriptions_per_subscriber: int = 20
    # A processing subscription with no event for this long reads the video's row again (an
    # event lost by a failed PUBLISH must not leave a subscriber waiting forever).
    subscription_recheck_seconds: float = Field(default=10.0, gt=0)
    # How often a websocket checks that its session still stands (logged out: closed 4403;
    # token expired: closed 4401).
    websocket_session_check_seconds: float = 15.0
    # Fields an operation may resolve, lists counted at their `first:` size (a 100-video page
    # with owners and renditions is about 2,600).
    graphql_max_complexity: int = 10_000

    # The CDN in front of the media bucket, at its root: PUBLIC media under /videos/ unsigned,
    # everyone else's under /signed/ with CloudFront-style signed URLs (see docs/media.md).
    cdn_base_url: str = "http://127.0.0.1:8080"
    # What the CDN sends in `X-CDN-Secret` when it asks the API (/cdn/...) about a request;
    # anyone else gets a bare 403. `streamify dev` makes a random one for its nginx.
    cdn_shared_secret: str = DEV_CDN_SECRET
    # The port of `streamify dev`'s CDN (nginx, with the compose CDN's configuration).
    local_cdn_port: int = 8080
    # The port of `streamify dev`'s Prefect server and UI, or the next free one after it.
    local_prefect_port: int = 4200
    # Signed playback of PRIVATE and UNLISTED videos: the CloudFront public key's id (of the
    # trusted key group) and its private key (PEM text). URLs stay valid this long (at least
    # half of it from when they are handed out).
    playback_key_pair_id: str = DEV_PLAYBACK_KEY_PAIR_ID
    playback_private_key: str = DEV_PLAYBACK_PRIVATE_KEY
    playback_url_ttl_seconds: int = Field(default=3600, ge=60)
    # With CloudFront in front of the media bucket: its distribution, whose cached copies of a
    # video's files are invalidated when the video is hidden, made public or deleted.
    cloudfront_distribution_id: str | None = None
    cloudfront_endpoint_url: str | None = None

    # Object storage. No endpoint means AWS itself; `streamify dev` and the tests start a
    # local S3-compatible server when none is configured.
    s3_endpoint_url: str | None = None
    # Where browsers reach S3, when not where the API does (compose: MinIO on the compose
    # network, proxied for browsers by the edge on the app's own origin). Presigned upload
    # URLs are signed for it.
    s3_public_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str = DEV_S3_ACCESS_KEY_ID
    s3_secret_access_key: str = DEV_S3_SECRET_ACCESS_KEY
    s3_raw_bucket: str = "streamify-raw"
    s3_media_bucket: str = "streamify-media"
    # The S3 port `streamify dev` gives its local S3 server (SeaweedFS), kept across restarts
    # so stored media URLs stay valid.
    local_s3_port: int = 8333
    # SQS queue that receives the raw bucket's ObjectCreated notifications (polled when set).
    s3_events_queue_url: str | None = None
    # SQS endpoint; defaults to the S3 endpoint (one local server serves both).
    sqs_endpoint_url: str | None = None
    # Shared secret of POST /hooks/s3 (MinIO webhook auth_token, or ?token= for SNS).
    s3_webhook_secret: str = DEV_WEBHOOK_SECRET
    # SNS SubscriptionConfirmation URLs are fetched only from hosts ending with this.
    sns_confirm_host_suffix: str = ".amazonaws.com"

    # Prefect API that runs the transcoding flow; without it, uploads are recorded and wait.
    prefect_api_url: str | None = None
    # A running transcode refreshes its heartbeat at least this often; a PROCESSING video
    # without one (its worker died) is started again, at most processing_max_attempts times.
    processing_heartbeat_seconds: float = 60.0
    processing_max_attempts: int = 3
    # A video UPLOADED this long without a run (orchestration was down) is started again.
    processing_start_grace_seconds: float = 300
    # What a source may be; beyond any limit it ends FAILED with a reason naming the limit.
    media_max_duration_seconds: float = 4 * 3600
    media_max_width: int = 7680
    media_max_height: int = 4320
    media_max_fps: float = 120
    # Each ffmpeg step may take this many times the source's duration (at least the minimum).
    media_step_seconds_per_source_second: float = 4.0
    media_min_step_seconds: float = 120
    # Chunked encoding (streamify encoder). A chunk running longer than factor x the time its
    # group's chunks took so far (or, before any finished, the step limit), and at least the
    # minimum, is given up as lost with its encoder and submitted again.
    transcode_chunk_deadline_factor: float = Field(default=3.0, gt=1)
    transcode_chunk_min_deadline_seconds: float = Field(default=30.0, gt=0)
    # A chunk no encoder has started after this long hands the video back for a later run.
    transcode_encoder_wait_seconds: float = Field(default=900.0, gt=0)
    # Transcoding runs one `streamify worker` process holds at once (each mostly waits on its
    # chunks).
    worker_flow_runs: int = Field(default=4, ge=1)
    # How often `streamify worker` asks Prefect for runs to start: half of it is an upload's
    # average wait before its run starts (one light query each time).
    worker_poll_seconds: float = Field(default=0.5, ge=0.1)
    # Fair transcoding: one user's videos encoding at once (the rest wait, PROCESSING, step
    # "queued"), a Prefect global concurrency limit per user.
    transcode_user_concurrency: int = Field(default=2, ge=1)
    # Chunks of one video submitted and not yet done: 0 is twice the encoders Prefect knows of
    # (each runs one and holds the next), so a video uses every encoder, while another
    # user's chunks queue behind a bounded number of them.
    transcode_chunks_in_flight: int = Field(default=0, ge=0)
    # Per encoder process: chunks at once, and ffmpeg threads each (0: ffmpeg decides).
    encoder_concurrency: int = Field(default=1, ge=1)
    encoder_threads: int = Field(default=0, ge=0)
    # Chunks at once on one machine, over all its encoders (a Prefect global concurrency
    # limit per host); None: its CPU count.
    encoder_host_slots: int | None = Field(default=None, ge=1)

    upload_max_bytes: int = 20 * 1024**3
    # Per user: bytes in uploads not yet complete (each counted at its declared size, which
    # its part URLs are bound to), and all source bytes stored (None: no limit).
    upload_quota_pending_bytes: int = Field(default=20 * 1024**3, ge=1)
    # Captions per video (one per language, 512 KiB each at most).
    caption_max_per_video: int = Field(default=20, ge=1, le=200)

    # Viewing statistics (POST /beacons, docs/architecture.md "Counting what viewers do").
    # Counted deltas move from Redis to PostgreSQL this often, by every API process in turn.
    stats_flush_seconds: float = Field(default=5.0, gt=0)
    # How stale `Video.stats` may be: its own cache, and any kept response that shows it.
    stats_max_staleness_seconds: float = Field(default=5.0, gt=0)
    # A session's start counts a view once per video until it has been idle this long.
    stats_view_window_seconds: int = Field(default=1800, ge=60)
    # Counter shards: a viral video's counters are spread over this many Redis slots.
    stats_shards: int = Field(default=16, ge=1, le=256)
    # Trending: views decayed with this half-life.
    trending_half_life_hours: float = Field(default=24.0, gt=0)
    # Beacon events one session may send a minute, and one address (an IPv6 /64) a second
    # in each API process.
    beacon_events_per_session_per_minute: int = Field(default=120, ge=1)
    beacon_events_per_address_per_second: int = Field(default=200, ge=1)
    storage_quota_bytes: int | None = Field(default=None, ge=1)
    upload_default_part_bytes: int = 8 * 1024**2
    upload_ttl_seconds: int = 24 * 3600
    upload_presign_ttl_seconds: int = 3600
    upload_sweep_interval_seconds: float = 60.0

    # Browser origins allowed to call the API (GraphQL and the Uppy routes); the web app at /
    # is the API's own origin and needs none. In production the default is none at all.
    cors_allow_origins: list[str] = [
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://127.0.0.1:5173",
        "http://localhost:5173",
    ]

    host: str = "127.0.0.1"
    port: int = 8000
    # Addresses of the proxies (load balancers) whose X-Forwarded-For / X-Forwarded-Proto the
    # API believes, comma-separated (uvicorn's forwarded_allow_ips; "*" trusts every peer):
    # per-address limits count the client they name, not the proxy.
    forwarded_allow_ips: str = "127.0.0.1"
    # One JSON line per request on stdout (method, path without its query string, status, ms,
    # bytes, request id, client), buffered and written off the request path.
    access_log: bool = True
    state_dir: str = ".streamify"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def graphiql_on(self) -> bool:
        return (
            self.graphiql_enabled if self.graphiql_enabled is not None else not self.is_production
        )

    @property
    def introspection_on(self) -> bool:
        if self.introspection_enabled is not None:
            return self.introspection_enabled
        return not self.is_production

    @field_validator("playback_private_key")
    @classmethod
    def _pem_from_one_line(cls, value: str) -> str:
        # An environment variable holds one line: accept the PEM with its newlines as \n.
        pem = value.replace("\\n", "\n").strip() + "\n"
        from cryptography.hazmat.primitives import serialization

        try:
            serialization.load_pem_private_key(pem.encode(), password=None)
        except (ValueError, TypeError):
            raise ValueError("is not a PEM private key without a passphrase") from None
        return pem

    @field_validator("metrics_token")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Self:
        if self.is_production and "cors_allow_origins" not in self.model_fields_set:
            self.cors_allow_origins = []
        if self.is_production:
            problems = production_problems(self)
            if problems:
                raise ValueError(" ".join(problems))
        return self


def _looks_like_a_default(value: str) -> bool:
    return value.startswith("change-me") or "dev-only" in value


def production_problems(settings: Settings) -> list[str]:
    """What keeps these settings from running in production, naming each variable (never its
    value)."""
    problems = []
    secrets = {
        "STREAMIFY_JWT_SECRET": (settings.jwt_secret, DEV_JWT_SECRET, MIN_SECRET_BYTES),
        "STREAMIFY_S3_WEBHOOK_SECRET": (
            settings.s3_webhook_secret,
            DEV_WEBHOOK_SECRET,
            MIN_SECRET_BYTES,
        ),
        "STREAMIFY_S3_ACCESS_KEY_ID": (settings.s3_access_key_id, DEV_S3_ACCESS_KEY_ID, 1),
        "STREAMIFY_S3_SECRET_ACCESS_KEY": (
            settings.s3_secret_access_key,
            DEV_S3_SECRET_ACCESS_KEY,
            1,
        ),
    }
    secrets["STREAMIFY_CDN_SHARED_SECRET"] = (
        settings.cdn_shared_secret,
        DEV_CDN_SECRET,
        MIN_SECRET_BYTES,
    )
    for variable, (value, default, min_bytes) in secrets.items():
        if value == default or _looks_like_a_default(value):
            problems.append(f"{variable} still has a development default: set your own.")
        elif len(value.encode()) < min_bytes:
            problems.append(f"{variable} must be at least {min_bytes} bytes long.")
    if settings.playback_private_key.strip() == DEV_PLAYBACK_PRIVATE_KEY.strip():
        problems.append(
            "STREAMIFY_PLAYBACK_PRIVATE_KEY still has a development default: set your own."
        )
    if _looks_like_a_default(settings.playback_key_pair_id):
        problems.append(
            "STREAMIFY_PLAYBACK_KEY_PAIR_ID still has a development default: set your own."
        )
    if not settings.session_cookie_secure:
        problems.append(
            "STREAMIFY_SESSION_COOKIE_SECURE must be true: the session cookie goes over HTTPS only."
        )
    if (
        settings.metrics_token is not None
        and len(settings.metrics_token.encode()) < MIN_SECRET_BYTES
    ):
        problems.append(f"STREAMIFY_METRICS_TOKEN must be at least {MIN_SECRET_BYTES} bytes long.")
    local = [o for o in settings.cors_allow_origins if _is_local_origin(o)]
    if local:
        problems.append(
            "STREAMIFY_CORS_ALLOW_ORIGINS names local origins (localhost, loopback or *):"
            " list your sites' origins only."
        )
    if settings.jwt_algorithm not in JWT_ALGORITHMS:
        problems.append(f"STREAMIFY_JWT_ALGORITHM must be one of {', '.join(JWT_ALGORITHMS)}.")
    return problems


def _is_local_origin(origin: str) -> bool:
    if origin.strip() == "*":
        return True
    host = (urlsplit(origin).hostname or "").lower()
    return host in ("localhost", "0.0.0.0", "::1") or host.startswith("127.")  # noqa: S104
