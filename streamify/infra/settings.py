"""The one reader of the environment: every setting has the prefix STREAMIFY_."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STREAMIFY_", env_file=".env", extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/streamify"
    redis_url: str = "redis://127.0.0.1:6379/0"
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
    cache_l1_ttl_seconds: float = 2.0
    cache_l1_max_entries: int = 100_000
    cache_single_flight: bool = True
    cache_redis_enabled: bool = True
    redis_timeout_seconds: float = 0.5
    # After a Redis failure the tier skips Redis for this long before trying again.
    redis_breaker_cooldown_seconds: float = 2.0
    # How many requests may fall through to PostgreSQL at once while Redis is down.
    db_fallback_concurrency: int = 8

    graphql_max_page_size: int = 100
    graphql_default_page_size: int = 20

    # HS256 secret for bearer tokens; the accounts issue adds issuing and refresh.
    jwt_secret: str = "dev-only-insecure-secret-change-me-in-production"  # noqa: S105
    jwt_algorithm: str = "HS256"

    cdn_base_url: str = "http://127.0.0.1:8000/media"

    host: str = "127.0.0.1"
    port: int = 8000
    state_dir: str = ".streamify"
