"""POST /hooks/s3: S3 event notifications pushed to us — a MinIO webhook (secret in the
Authorization header) or an SNS HTTP subscription (secret as ?token=, since SNS sets no
headers; its SubscriptionConfirmation is confirmed by fetching SubscribeURL)."""

from __future__ import annotations

import hmac
import json
import logging
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from streamify.domain import BadUserInput, Unauthenticated
from streamify.infra.db import DATABASE_DOWN_ERRORS
from streamify.pipelines.triggers.event_intake import (
    BadEvent,
    EventIntake,
    StoredObject,
    object_records,
)
from streamify.resolvers.outages import outage_of
from streamify.web.context import services_of
from streamify.web.errors import error_response

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


def _presented_secret(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip()
    return header.strip() or request.query_params.get("token", "")


async def s3_hook(request: Request) -> Response:
    services = services_of(request)
    settings = services.settings
    if not hmac.compare_digest(
        _presented_secret(request).encode(), settings.s3_webhook_secret.encode()
    ):
        return error_response(Unauthenticated("The webhook secret is missing or wrong."))
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return error_response(BadUserInput("The event body is too large."))
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error_response(BadUserInput("The body is not JSON."))
    if isinstance(body, dict) and body.get("Type") == "SubscriptionConfirmation":
        return await _confirm_sns(body, settings.sns_confirm_host_suffix)
    try:
        records = object_records(body)
    except BadEvent as exc:
        return error_response(BadUserInput(f"Not an S3 event notification: {exc}"))
    return await _take(services.intake, records)


async def _take(intake: EventIntake, records: list[StoredObject]) -> Response:
    try:
        started = await intake.handle(records)
    except DATABASE_DOWN_ERRORS as exc:
        # The sender retries (MinIO queues events, SNS redelivers): nothing is lost.
        outage = outage_of(exc)
        assert outage is not None
        return error_response(outage)
    return JSONResponse({"received": len(records), "started": started})


async def _confirm_sns(body: dict[str, object], host_suffix: str) -> Response:
    url = body.get("SubscribeURL")
    parts = urlsplit(url) if isinstance(url, str) else None
    # Only ever fetch SNS's own confirmation endpoint, never a URL of the sender's choosing.
    if (
        parts is None
        or parts.scheme not in ("https", "http")
        or not (parts.hostname or "").endswith(host_suffix)
    ):
        return error_response(BadUserInput("SubscribeURL is not an SNS endpoint."))
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            confirmed = await client.get(str(url))
        except httpx.HTTPError:
            confirmed = None
    if confirmed is None or confirmed.status_code != 200:
        return JSONResponse(
            {"error": {"code": "UNAVAILABLE", "message": "SNS confirmation failed."}},
            status_code=502,
        )
    log.info("confirmed SNS subscription %s", body.get("TopicArn"))
    return JSONResponse({"confirmed": True})
