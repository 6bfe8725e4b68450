"""The upload lifecycle, shared by the GraphQL mutations and the Uppy routes under /s3/.
The API signs and tracks; the bytes go from the client straight to S3."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from uuid import UUID

from streamify.domain import (
    BadUserInput,
    Conflict,
    Forbidden,
    NotFound,
    QuotaExceeded,
    Unavailable,
    UploadStatus,
    VideoStatus,
    Visibility,
)
from streamify.infra.db import Connection
from streamify.infra.settings import Settings
from streamify.infra.sql import uploads as sql
from streamify.infra.sql.uploads import Upload
from streamify.infra.storage import (
    MAX_PART_BYTES,
    MAX_PARTS,
    MIN_PART_BYTES,
    StoredPart,
    error_code,
)
from streamify.names import source_key
from streamify.resolvers.context import Context
from streamify.resolvers.ids import parse_id
from streamify.resolvers.rate_limits import rate_limited
from streamify.resolvers.storage_call import storage_call

CONTENT_TYPE = re.compile(r"^video/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")
MAX_FILENAME = 255
MAX_TITLE = 200
MIB = 1024**2
# Signing is CPU on the event loop: one call signs this many parts at the most.
MAX_SIGNED_PER_CALL = 100


@dataclass(frozen=True, slots=True)
class SignedPart:
    part_number: int
    url: str
    expires_at: datetime


def plan_parts(
    size: int | None, *, requested: int | None, default: int, max_bytes: int
) -> tuple[int, int]:
    """(part size, part count) within S3's rules: parts of 5 MiB to 5 GiB, at most 10,000."""
    if size is not None and not 1 <= size <= max_bytes:
        raise BadUserInput(f"sizeBytes must be between 1 and {max_bytes} bytes.")
    if requested is not None:
        if not MIN_PART_BYTES <= requested <= MAX_PART_BYTES:
            raise BadUserInput(
                f"partSizeBytes must be between {MIN_PART_BYTES} and {MAX_PART_BYTES}."
            )
        part = requested
    else:
        part = default
        if size is not None:
            # Grow the part (in whole MiB) until the file fits in 10,000 parts.
            part = max(part, math.ceil(math.ceil(size / MAX_PARTS) / MIB) * MIB)
    if size is None:
        return part, MAX_PARTS
    count = max(1, math.ceil(size / part))
    if count > MAX_PARTS:
        raise BadUserInput(
            f"{size} bytes in parts of {part} would take more than {MAX_PARTS} parts."
        )
    return part, count


@rate_limited()
async def create_upload(
    ctx: Context,
    *,
    filename: str,
    content_type: str,
    size_bytes: int | None,
    title: str | None,
    description: str = "",
    part_size_bytes: int | None = None,
    visibility: Visibility = Visibility.PUBLIC,
) -> Upload:
    viewer = ctx.require_viewer()
    name = PurePosixPath(filename.replace("\\", "/")).name.strip()
    if not 1 <= len(name) <= MAX_FILENAME:
        raise BadUserInput(f"filename must be 1 to {MAX_FILENAME} characters.")
    if not CONTENT_TYPE.match(content_type):
        raise BadUserInput(f"contentType {content_type!r} is not a video type (video/*).")
    title = (title or PurePosixPath(name).stem or name).strip()[:MAX_TITLE]
    if len(description) > 5000:
        raise BadUserInput("description must be at most 5000 characters.")
    if size_bytes is None:
        # A part URL is bound to its exact length only when the total is known: without it,
        # each URL would take up to 5 GiB, 10,000 of them per upload.
        raise BadUserInput(
            "Declare the file's size (sizeBytes, or Uppy's metadata.size): every part URL is"
            " bound to its exact length, so an upload cannot grow past it."
        )
    settings = ctx.settings
    part_size, part_count = plan_parts(
        size_bytes,
        requested=part_size_bytes,
        default=settings.upload_default_part_bytes,
        max_bytes=settings.upload_max_bytes,
    )
    video_id = uuid.uuid4()
    key = source_key(video_id)
    async with storage_call():
        s3_upload_id = await ctx.storage.create_multipart(key, content_type=content_type)
    now = datetime.now(UTC)
    upload = Upload(
        id=uuid.uuid4(),
        video_id=video_id,
        owner_id=viewer.user_id,
        filename=name,
        content_type=content_type,
        size_bytes=size_bytes,
        part_size_bytes=part_size,
        part_count=part_count,
        s3_key=key,
        s3_upload_id=s3_upload_id,
        status=UploadStatus.PENDING,
        expires_at=now + timedelta(seconds=settings.upload_ttl_seconds),
        created_at=now,
        completed_size_bytes=None,
        failure_reason=None,
    )
    try:
        async with ctx.writes.transaction(memo=ctx.loaders) as tx:
            await within_quota(tx.conn, settings, viewer.user_id, adding=size_bytes)
            await tx.insert_with_upload(
                upload,
                bucket=ctx.storage.raw_bucket,
                title=title,
                description=description,
                visibility=visibility,
            )
    except BaseException:
        async with storage_call():
            await ctx.storage.abort(key, s3_upload_id)
        raise
    return upload


async def within_quota(
    conn: Connection, settings: Settings, owner_id: UUID, *, adding: int
) -> None:
    """Raise QuotaExceeded when `adding` more bytes would take the owner past a quota."""
    pending, stored = await sql.lock_owner_usage(conn, owner_id)
    limit = settings.upload_quota_pending_bytes
    if pending + adding > limit:
        raise QuotaExceeded(
            f"Uploads in progress may add up to {limit} bytes; {pending} are pending and this"
            f" one is {adding}. Finish or cancel one first.",
            limit="STREAMIFY_UPLOAD_QUOTA_PENDING_BYTES",
        )
    total = settings.storage_quota_bytes
    if total is not None and stored + pending + adding > total:
        raise QuotaExceeded(
            f"You may store {total} bytes of sources; {stored} are stored and {pending} pending.",
            limit="STREAMIFY_STORAGE_QUOTA_BYTES",
        )


async def owned_upload(ctx: Context, raw_id: str | UUID) -> Upload:
    viewer = ctx.require_viewer()
    upload_id = raw_id if isinstance(raw_id, UUID) else parse_id(raw_id, what="uploadId")
    upload = await ctx.loaders.upload_by_id.load(upload_id)
    if upload is None:
        raise NotFound("No such upload.")
    if upload.owner_id != viewer.user_id:
        raise Forbidden("Only the uploader may do this.")
    return upload


def _require_pending(upload: Upload) -> None:
    if upload.status is not UploadStatus.PENDING:
        raise Conflict(f"The upload is {upload.status.value}; it takes no more parts.")
    if upload.expires_at <= datetime.now(UTC):
        raise Conflict("The upload has expired.")


def _part_signing(settings: Settings) -> int:
    return settings.rate_limit_part_signing_per_minute


@rate_limited("sign-parts", _part_signing)
async def sign_parts(
    ctx: Context, raw_id: str | UUID, part_numbers: Sequence[int]
) -> list[SignedPart]:
    upload = await owned_upload(ctx, raw_id)
    _require_pending(upload)
    if upload.size_bytes is None:
        # Made before sizes were required: its URLs could carry any length. Start again.
        raise Conflict("This upload declared no size; cancel it and upload again.")
    pending, _ = await sql.owner_usage(ctx.db.pool, upload.owner_id)
    if pending > ctx.settings.upload_quota_pending_bytes:  # the quota was lowered meanwhile
        raise QuotaExceeded(
            f"Uploads in progress add up to {pending} bytes, past the quota; finish or cancel"
            " some first.",
            limit="STREAMIFY_UPLOAD_QUOTA_PENDING_BYTES",
        )
    if not part_numbers:
        raise BadUserInput("partNumbers must name at least one part.")
    if len(part_numbers) > MAX_SIGNED_PER_CALL:
        raise BadUserInput(f"At most {MAX_SIGNED_PER_CALL} parts may be signed at once.")
    limit = min(upload.part_count, MAX_PARTS)
    bad = [n for n in part_numbers if not 1 <= n <= limit]
    if bad:
        raise BadUserInput(f"Part numbers must be between 1 and {limit}; got {bad[0]}.")
    now = datetime.now(UTC)
    seconds = min(
        ctx.settings.upload_presign_ttl_seconds, int((upload.expires_at - now).total_seconds())
    )
    expires_at = now + timedelta(seconds=seconds)
    signed = []
    async with storage_call():
        for n in dict.fromkeys(part_numbers):
            url = await ctx.storage.presign_part(
                upload.s3_key,
                upload.s3_upload_id,
                n,
                expires=seconds,
                content_length=part_length(upload, n),
            )
            signed.append(SignedPart(part_number=n, url=url, expires_at=expires_at))
    return signed


def part_length(upload: Upload, part_number: int) -> int | None:
    """The exact size of a part of an upload of declared size: every part is part_size_bytes
    but the last, which holds the rest. None when the size was not declared (Uppy does not
    send it), so the URL cannot bind a length; completion still checks the total."""
    if upload.size_bytes is None:
        return None
    if part_number < upload.part_count:
        return upload.part_size_bytes
    return upload.size_bytes - (upload.part_count - 1) * upload.part_size_bytes


async def stored_parts(ctx: Context, upload: Upload) -> list[StoredPart]:
    """What S3 holds of a pending upload, so a client can resume where it stopped."""
    if upload.status is not UploadStatus.PENDING:
        return []
    async with storage_call():
        return await ctx.storage.list_parts(upload.s3_key, upload.s3_upload_id)


def _checked_parts(
    given: Sequence[tuple[int, str]], stored: Sequence[StoredPart], upload: Upload, max_bytes: int
) -> tuple[list[tuple[int, str]], int]:
    if not given:
        raise BadUserInput("parts must list every uploaded part.")
    numbers = [n for n, _ in given]
    if len(set(numbers)) != len(numbers):
        raise BadUserInput("parts lists a part number twice.")
    by_number = {p.part_number: p for p in stored}
    ordered = sorted((n, etag.strip().strip('"')) for n, etag in given)
    for n, etag in ordered:
        found = by_number.get(n)
        if found is None:
            raise BadUserInput(f"Part {n} was never uploaded.")
        if found.etag != etag:
            raise BadUserInput(f"Part {n}: the ETag does not match the uploaded part.")
    for n, _ in ordered[:-1]:
        if by_number[n].size_bytes < MIN_PART_BYTES:
            raise BadUserInput(f"Part {n} is smaller than 5 MiB and is not the last part.")
    total = sum(by_number[n].size_bytes for n, _ in ordered)
    if upload.size_bytes is not None and total != upload.size_bytes:
        raise BadUserInput(
            f"The parts add up to {total} bytes; the upload declared {upload.size_bytes}."
        )
    if total > max_bytes:
        raise BadUserInput(f"The upload is larger than the {max_bytes}-byte limit.")
    return ordered, total


async def _still_within_quota(
    conn: Connection, settings: Settings, upload: Upload, total: int
) -> None:
    """At completion: what S3 holds (its listed parts, equal to the declared size) fits the
    quota of stored sources, with this upload counted once."""
    pending, stored = await sql.lock_owner_usage(conn, upload.owner_id)
    limit = settings.storage_quota_bytes
    if limit is not None and stored + total + pending - (upload.size_bytes or 0) > limit:
        raise QuotaExceeded(
            f"You may store {limit} bytes of sources; this upload would take you past it.",
            limit="STREAMIFY_STORAGE_QUOTA_BYTES",
        )


@rate_limited()
async def complete_upload(
    ctx: Context, raw_id: str | UUID, parts: Sequence[tuple[int, str]]
) -> Upload:
    upload = await owned_upload(ctx, raw_id)
    async with ctx.writes.transaction(memo=ctx.loaders) as tx:
        # The row lock makes a second, concurrent completion wait and then see COMPLETED.
        locked = await sql.lock_upload(tx.conn, upload.id)
        if locked is None:
            raise NotFound("No such upload.")
        if locked.status is UploadStatus.COMPLETED:
            raise Conflict("The upload is already completed.")
        _require_pending(locked)
        async with storage_call():
            stored = await ctx.storage.list_parts(locked.s3_key, locked.s3_upload_id)
        ordered, total = _checked_parts(parts, stored, locked, ctx.settings.upload_max_bytes)
        await _still_within_quota(tx.conn, ctx.settings, locked, total)
        try:
            async with storage_call():
                await ctx.storage.complete(locked.s3_key, locked.s3_upload_id, ordered)
        except Unavailable as exc:
            if error_code(exc.__cause__ or exc) in (
                "InvalidPart",
                "InvalidPartOrder",
                "EntityTooSmall",
            ):
                raise BadUserInput("S3 refused the parts as listed.") from exc
            raise
        await tx.finish_upload(
            locked, UploadStatus.COMPLETED, VideoStatus.UPLOADED, completed_size=total
        )
    return replace(locked, status=UploadStatus.COMPLETED, completed_size_bytes=total)


@rate_limited()
async def abort_upload(ctx: Context, raw_id: str | UUID) -> Upload:
    upload = await owned_upload(ctx, raw_id)
    async with ctx.writes.transaction(memo=ctx.loaders) as tx:
        locked = await sql.lock_upload(tx.conn, upload.id)
        if locked is None:
            raise NotFound("No such upload.")
        if locked.status is not UploadStatus.PENDING:
            raise Conflict(f"The upload is {locked.status.value}; there is nothing to abort.")
        async with storage_call():
            await ctx.storage.abort(locked.s3_key, locked.s3_upload_id)
        reason = "The upload was cancelled."
        await tx.finish_upload(locked, UploadStatus.ABORTED, VideoStatus.FAILED, reason=reason)
    return replace(locked, status=UploadStatus.ABORTED, failure_reason=reason)
