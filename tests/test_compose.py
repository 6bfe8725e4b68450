"""docker-compose.yml cannot run here (no Docker engine); keep it consistent with the code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from streamify.infra.settings import Settings

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


def test_compose_services_and_settings_match_the_code() -> None:
    spec: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert {"postgres", "redis", "minio", "prefect-server", "api", "worker", "cdn"} <= set(services)
    known = {f"STREAMIFY_{name.upper()}" for name in Settings.model_fields}
    for name, service in services.items():
        for key in service.get("environment") or {}:
            if key.startswith("STREAMIFY_"):
                assert key in known, f"{name}: {key} is not a setting"
    assert services["worker"]["command"] == ["streamify", "worker"]
    assert services["api"]["environment"]["STREAMIFY_PREFECT_API_URL"].endswith(":4200/api")
    webhook = services["minio"]["environment"]["MINIO_NOTIFY_WEBHOOK_ENDPOINT_PRIMARY"]
    assert webhook.endswith("/hooks/s3")


def test_compose_runs_in_production_with_required_secrets_and_two_public_ports() -> None:
    text = COMPOSE.read_text()
    spec: dict[str, Any] = yaml.safe_load(text)
    services = spec["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"api", "cdn"}
    env = services["api"]["environment"]
    assert env["STREAMIFY_ENVIRONMENT"] == "production"
    for secret in (
        "STREAMIFY_JWT_SECRET",
        "STREAMIFY_S3_WEBHOOK_SECRET",
        "STREAMIFY_S3_ACCESS_KEY_ID",
        "STREAMIFY_S3_SECRET_ACCESS_KEY",
    ):
        assert env[secret].startswith("${" + secret + ":?"), secret
    assert "change-me" not in text and "streamify-secret-key" not in text
    assert services["worker"]["environment"] == env
