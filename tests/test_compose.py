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
    expected = {"postgres", "redis", "minio", "prefect-server", "api", "worker", "encoder", "cdn"}
    assert expected <= set(services)
    known = {f"STREAMIFY_{name.upper()}" for name in Settings.model_fields}
    for name, service in services.items():
        for key in service.get("environment") or {}:
            if key.startswith("STREAMIFY_"):
                assert key in known, f"{name}: {key} is not a setting"
    assert services["worker"]["command"] == ["streamify", "worker"]
    assert services["encoder"]["command"] == ["streamify", "encoder"]
    assert services["encoder"]["environment"] == services["worker"]["environment"]
    assert services["api"]["environment"]["STREAMIFY_PREFECT_API_URL"].endswith(":4200/api")
    webhook = services["minio"]["environment"]["MINIO_NOTIFY_WEBHOOK_ENDPOINT_PRIMARY"]
    assert webhook.endswith("/hooks/s3")


def test_compose_runs_in_production_with_required_secrets_and_two_public_ports() -> None:
    text = COMPOSE.read_text()
    spec: dict[str, Any] = yaml.safe_load(text)
    services = spec["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"edge", "cdn"}
    env = services["api"]["environment"]
    assert env["STREAMIFY_ENVIRONMENT"] == "production"
    for secret in (
        "STREAMIFY_JWT_SECRET",
        "STREAMIFY_S3_WEBHOOK_SECRET",
        "STREAMIFY_S3_ACCESS_KEY_ID",
        "STREAMIFY_S3_SECRET_ACCESS_KEY",
        "STREAMIFY_PLAYBACK_KEY_PAIR_ID",
        "STREAMIFY_PLAYBACK_PRIVATE_KEY",
        "STREAMIFY_CDN_SHARED_SECRET",
    ):
        assert env[secret].startswith("${" + secret + ":?"), secret
    # nginx sends the API the same secret it was given.
    assert services["cdn"]["environment"]["CDN_SECRET"] == env["STREAMIFY_CDN_SHARED_SECRET"]
    assert env["STREAMIFY_SESSION_COOKIE_SECURE"] == "true"
    assert "change-me" not in text and "streamify-secret-key" not in text
    assert services["worker"]["environment"] == env


def test_the_compose_cdn_runs_the_configuration_the_tests_run() -> None:
    """tests/infra/test_cdn.py runs deploy/nginx/cdn.conf.template in front of the API and the
    S3 server; compose hands nginx the same file and fills in the same placeholders."""
    from streamify.devtools.cdn import PLACEHOLDER, TEMPLATE

    spec: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    cdn = spec["services"]["cdn"]
    mounted = {v.split(":")[0]: v.split(":")[1] for v in cdn["volumes"]}
    source = (COMPOSE.parent / "deploy/nginx/cdn.conf.template").resolve()
    assert source == TEMPLATE and str(mounted["./deploy/nginx/cdn.conf.template"]).startswith(
        "/etc/nginx/templates/"
    )
    assert set(PLACEHOLDER.findall(TEMPLATE.read_text())) == set(cdn["environment"])
    assert cdn["environment"]["CDN_API"].split(":")[0] in spec["services"]
    assert cdn["environment"]["CDN_S3"] == "minio:9000"
    setup = " ".join(spec["services"]["minio-setup"]["command"])
    assert "anonymous set none" in setup and "download" not in setup


def test_browsers_reach_the_api_replicas_and_uploads_through_the_edge() -> None:
    """The edge (tests/infra/test_edge.py runs its template with real nginx) fronts every API
    replica, and part URLs are signed for the origin browsers use, which MinIO's CORS and the
    API's own allow."""
    import ipaddress

    from streamify.devtools.edge import PLACEHOLDER, TEMPLATE

    spec: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    edge, api = services["edge"], services["api"]
    mounted = {v.split(":")[0]: v.split(":")[1] for v in edge["volumes"]}
    assert (COMPOSE.parent / "deploy/nginx/edge.conf.template").resolve() == TEMPLATE
    assert mounted["./deploy/nginx/edge.conf.template"].startswith("/etc/nginx/templates/")
    assert set(PLACEHOLDER.findall(TEMPLATE.read_text())) == set(edge["environment"])
    host, port = edge["environment"]["EDGE_API"].split(":")
    assert host == "api" and port == "8000" and api["deploy"]["replicas"] >= 2
    assert "ports" not in api
    assert edge["environment"]["EDGE_S3"] == "minio:9000"
    setup = " ".join(services["minio-setup"]["command"])
    raw = edge["environment"]["EDGE_RAW_BUCKET"]
    assert raw == Settings().s3_raw_bucket and f"local/{raw}" in setup
    public = "${PUBLIC_URL:-http://localhost:8000}"
    assert edge["ports"] == ["8000:80"]
    env = api["environment"]
    assert env["STREAMIFY_S3_PUBLIC_ENDPOINT_URL"] == public
    assert env["STREAMIFY_CORS_ALLOW_ORIGINS"] == f'["{public}"]'
    assert services["minio"]["environment"]["MINIO_API_CORS_ALLOW_ORIGIN"] == public
    # The API believes forwarding headers from the edge's own fixed address and nothing else
    # of the network (its gateway is where a host's TLS terminator connects from).
    subnet = ipaddress.ip_network(spec["networks"]["default"]["ipam"]["config"][0]["subnet"])
    edge_address = ipaddress.ip_address(edge["networks"]["default"]["ipv4_address"])
    trusted = [
        ipaddress.ip_network(x.strip()) for x in env["STREAMIFY_FORWARDED_ALLOW_IPS"].split(",")
    ]
    assert trusted == [ipaddress.ip_network(f"{edge_address}/32")]
    assert edge_address in subnet and edge_address != next(subnet.hosts())
    assert env["STREAMIFY_WORKERS"] == "${STREAMIFY_WORKERS:-1}"


def test_the_image_serves_as_many_processes_as_streamify_workers_says() -> None:
    dockerfile = (COMPOSE.parent / "Dockerfile").read_text()
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD"))
    assert "--workers" not in cmd and '"serve"' in cmd  # `serve` reads STREAMIFY_WORKERS


def test_compose_redis_is_bounded_and_its_flags_run_on_redis_7() -> None:
    """Its command, run by the redis-server the tests use: the flags are real and take."""
    import subprocess
    import time

    import redis

    from streamify.devtools.local import free_port, redis_binary

    command = yaml.safe_load(COMPOSE.read_text())["services"]["redis"]["command"]
    assert command[0] == "redis-server"
    flags = dict(zip(command[1::2], command[2::2], strict=True))
    assert flags["--maxmemory-policy"] == "volatile-lru" and flags["--maxmemory"] == "1gb"
    port = free_port()
    proc = subprocess.Popen([redis_binary(), *command[1:], "--port", str(port)])
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert client.config_get("maxmemory") == {"maxmemory": str(1024**3)}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-lru"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
