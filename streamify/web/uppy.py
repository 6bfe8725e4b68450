"""The routes Uppy's AwsS3 plugin calls in companion mode (`endpoint` pointed at this API),
on the same code path as the GraphQL upload mutations. `uploadId` is our upload's id and
`key` its S3 key, which every call must repeat correctly. Rate limits are the resolvers': a refused
call answers 429 with Retry-After."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streamify.domain import BadUserInput, StreamifyError, Visibility
from streamify.infra.db import DATABASE_DOWN_ERRORS
from streamify.infra.sql.uploads import Upload
from streamify.infra.storage import MAX_PARTS, MIN_PART_BYTES
from streamify.resolvers import uploads
from streamify.resolvers.context import Context
from streamify.resolvers.outages import outage_of
from streamify.web.context import context_for
from streamify.web.errors import error_response

Handler = Callable[[Request, Context], Awaitable[Response]]


def _handles_errors(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, await context_for(request))
        except StreamifyError as exc:
            return error_response(exc)
        except DATABASE_DOWN_ERRORS as exc:
            outage = outage_of(exc)
            assert outage is not None
            return error_response(outage)

    return endpoint


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadUserInput("The body is not JSON.") from None
    if not isinstance(body, dict):
        raise BadUserInput("The body must be a JSON object.")
    return body


async def _upload_for(request: Request, ctx: Context) -> Upload:
    upload = await uploads.owned_upload(ctx, request.path_params["upload_id"])
    if request.query_params.get("key") != upload.s3_key:
        raise BadUserInput("key does not belong to this upload.")
    return upload


def _int(value: Any, what: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadUserInput(f"{what} must be an integer.") from None


def _visibility(value: Any) -> Visibility:
    if value is None or value == "":
        return Visibility.PUBLIC
    try:
        return Visibility(value)
    except ValueError:
        names = ", ".join(v.value for v in Visibility)
        raise BadUserInput(f"metadata.visibility must be one of {names}.") from None


def uppy_part_size(size: int) -> int:
    """The part size stock Uppy (AwsS3, no getChunkSize) cuts a file of `size` bytes into."""
    return max(MIN_PART_BYTES, math.ceil(size / MAX_PARTS))


async def create(request: Request, ctx: Context) -> Response:
    body = await _json(request)
    raw_metadata = body.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    filename = body.get("filename") or metadata.get("name")
    content_type = body.get("type") or metadata.get("type")
    if not isinstance(filename, str) or not isinstance(content_type, str):
        raise BadUserInput("filename and type are required strings.")
    size = _int(metadata.get("size"), "metadata.size")
    upload = await uploads.create_upload(
        ctx,
        filename=filename,
        content_type=content_type,
        size_bytes=size,
        # Uppy cuts parts by its own rule; a part URL signs that exact length.
        part_size_bytes=uppy_part_size(size) if size is not None else None,
        title=metadata.get("title") if isinstance(metadata.get("title"), str) else None,
        description=str(metadata.get("description") or ""),
        visibility=_visibility(metadata.get("visibility")),
    )
    return JSONResponse({"key": upload.s3_key, "uploadId": str(upload.id)})


async def sign_part(request: Request, ctx: Context) -> Response:
    upload = await _upload_for(request, ctx)
    number = _int(request.path_params["part_number"], "partNumber")
    [signed] = await uploads.sign_parts(ctx, upload.id, [number or 0])
    return JSONResponse({"url": signed.url, "expires": int(signed.expires_at.timestamp())})


async def list_parts(request: Request, ctx: Context) -> Response:
    upload = await _upload_for(request, ctx)
    parts = await uploads.stored_parts(ctx, upload)
    return JSONResponse(
        [{"PartNumber": p.part_number, "ETag": p.etag, "Size": p.size_bytes} for p in parts]
    )


async def complete(request: Request, ctx: Context) -> Response:
    upload = await _upload_for(request, ctx)
    body = await _json(request)
    raw_parts = body.get("parts")
    if not isinstance(raw_parts, list):
        raise BadUserInput("parts must be a list of {PartNumber, ETag}.")
    parts = []
    for part in raw_parts:
        if not isinstance(part, dict) or not isinstance(part.get("ETag"), str):
            raise BadUserInput("each part needs PartNumber and ETag.")
        parts.append((_int(part.get("PartNumber"), "PartNumber") or 0, part["ETag"]))
    done = await uploads.complete_upload(ctx, upload.id, parts)
    location = f"{ctx.storage.raw_bucket}/{done.s3_key}"
    return JSONResponse(
        {"location": location, "key": done.s3_key, "bucket": ctx.storage.raw_bucket}
    )


async def abort(request: Request, ctx: Context) -> Response:
    upload = await _upload_for(request, ctx)
    await uploads.abort_upload(ctx, upload.id)
    return JSONResponse({})


routes = [
    Route("/s3/multipart", _handles_errors(create), methods=["POST"]),
    Route("/s3/multipart/{upload_id}/{part_number}", _handles_errors(sign_part), methods=["GET"]),
    Route("/s3/multipart/{upload_id}", _handles_errors(list_parts), methods=["GET"]),
    Route("/s3/multipart/{upload_id}/complete", _handles_errors(complete), methods=["POST"]),
    Route("/s3/multipart/{upload_id}", _handles_errors(abort), methods=["DELETE"]),
]
