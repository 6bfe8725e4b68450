"""What the video fields and mutations do: validate, authorize, read through loaders, write."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from streamify.domain import (
    BadUserInput,
    Conflict,
    Forbidden,
    NotFound,
    Rendition,
    User,
    Video,
    VideoPatch,
    VideoRenditions,
    VideoStatus,
    Visibility,
)
from streamify.infra.redis_client import REDIS_DOWN_ERRORS
from streamify.infra.sql import events as event_sql
from streamify.infra.sql import uploads as upload_sql
from streamify.infra.sql import videos as sql
from streamify.infra.storage import STORAGE_ERRORS
from streamify.loaders.video_pages import PageQuery
from streamify.names import source_key
from streamify.resolvers.context import Context
from streamify.resolvers.ids import decode_cursor, encode_cursor, parse_id
from streamify.resolvers.playback import needs_signature
from streamify.resolvers.rate_limits import rate_limited
from streamify.resolvers.storage_call import storage_call

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_TAGS = 20
MAX_TAG = 40


def can_view(ctx: Context, video: Video, *, by_id: bool) -> bool:
    """Owners see their videos in every state. Others see only playable ones (READY, or
    PROCESSING with its first rungs published): PUBLIC anywhere, UNLISTED only by id, PRIVATE
    never. (Listings of others hold READY videos only: see `video_page`.)"""
    return can_view_as(ctx.viewer.user_id if ctx.viewer else None, video, by_id=by_id)


def can_view_as(viewer_id: UUID | None, video: Video, *, by_id: bool) -> bool:
    """`can_view` for a caller known by id alone (None: anonymous)."""
    if viewer_id is not None and viewer_id == video.owner_id:
        return True
    if not video.playable:
        return False
    if video.visibility is Visibility.PUBLIC:
        return True
    return by_id and video.visibility is Visibility.UNLISTED


async def video_by_id(ctx: Context, raw_id: str) -> Video | None:
    video = await ctx.loaders.video_by_id.load(parse_id(raw_id, what="id"))
    # Checked after the cache read: the cache holds rows, never per-viewer answers.
    if video is None or not can_view(ctx, video, by_id=True):
        return None
    return video


@dataclass(frozen=True, slots=True)
class Listing:
    """Which videos a list holds for this caller."""

    limit: int
    owner_id: UUID | None
    status: VideoStatus | None
    visibilities: tuple[Visibility, ...]
    empty: bool = False


def listing_of(
    ctx: Context, *, first: int | None, owner_id: str | None, status: VideoStatus | None
) -> Listing:
    settings = ctx.settings
    limit = settings.graphql_default_page_size if first is None else first
    if not 1 <= limit <= settings.graphql_max_page_size:
        raise BadUserInput(f"first must be between 1 and {settings.graphql_max_page_size}.")
    owner = parse_id(owner_id, what="ownerId") if owner_id is not None else None
    own = owner is not None and ctx.viewer is not None and ctx.viewer.user_id == owner
    return Listing(
        limit=limit,
        owner_id=owner,
        # Others see finished videos only; owners see everything, or the status they ask for.
        status=status if own else VideoStatus.READY,
        visibilities=tuple(Visibility) if own else (Visibility.PUBLIC,),
        empty=not own and status not in (None, VideoStatus.READY),
    )


async def video_page(
    ctx: Context,
    *,
    first: int | None,
    after: str | None,
    owner_id: str | None,
    status: VideoStatus | None,
) -> tuple[list[tuple[str, Video]], bool]:
    """(cursor, video) pairs of one page, newest first, and whether more follow."""
    listing = listing_of(ctx, first=first, owner_id=owner_id, status=status)
    if listing.empty:
        return [], False  # unfinished videos are their owner's alone
    query = PageQuery(
        limit=listing.limit,
        after=decode_cursor(after) if after is not None else None,
        owner_id=listing.owner_id,
        status=listing.status,
        visibilities=listing.visibilities,
    )
    page = await ctx.loaders.video_page_by_query.load(query)
    loader = ctx.loaders.video_by_id
    videos = await _all([loader.load(i) for i in page.video_ids])
    shown = [v for v in videos if v is not None and can_view(ctx, v, by_id=False)]
    cursors = ctx.views.cursors
    return [(cursors.get(v, cursor_of), v) for v in shown], page.has_next


def cursor_of(video: Video) -> str:
    """The video's place in the newest-first order, as clients pass it back in `after`."""
    return encode_cursor(sql.PageCursor(video.created_at, video.id))


async def owner_of(ctx: Context, video: Video) -> User | None:
    return await ctx.loaders.user_by_id.load(video.owner_id)


async def renditions_of(ctx: Context, video: Video) -> tuple[Rendition, ...]:
    return renditions_in(await renditions_record_of(ctx, video))


async def renditions_record_of(ctx: Context, video: Video) -> VideoRenditions | None:
    """The loaded record of the video's renditions (None: none stored)."""
    return await ctx.loaders.renditions_by_video_id.load(video.id)


# The same reads for a whole page at once (the compiled GraphQL path): one loader call per
# video, all issued before anything is awaited, so they join one batch per loader.


def owner_loads(ctx: Context, videos: Sequence[Video]) -> list[Awaitable[User | None]]:
    loader = ctx.loaders.user_by_id
    return [loader.load(v.owner_id) for v in videos]


def rendition_loads(
    ctx: Context, videos: Sequence[Video]
) -> list[Awaitable[VideoRenditions | None]]:
    loader = ctx.loaders.renditions_by_video_id
    return [loader.load(v.id) for v in videos]


def renditions_in(found: VideoRenditions | None) -> tuple[Rendition, ...]:
    return found.renditions if found is not None else ()


async def _all(loads: list[Awaitable[T]]) -> list[T]:
    """Like gather, but loads L1 answered (settled futures) are read at once: gather would
    wait a turn of the event loop for them."""
    if all(isinstance(f, asyncio.Future) and f.done() for f in loads):
        return [f.result() for f in loads]  # type: ignore[attr-defined]
    return await asyncio.gather(*loads)


def validated_patch(
    *,
    title: str | None,
    description: str | None,
    tags: list[str] | tuple[str, ...] | None,
    visibility: Visibility | None,
) -> VideoPatch:
    if title is not None:
        title = title.strip()
        if not 1 <= len(title) <= MAX_TITLE:
            raise BadUserInput(f"title must be 1 to {MAX_TITLE} characters.")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise BadUserInput(f"description must be at most {MAX_DESCRIPTION} characters.")
    clean_tags = None
    if tags is not None:
        clean_tags = tuple(dict.fromkeys(t.strip().lower() for t in tags))
        if len(clean_tags) > MAX_TAGS or any(not 1 <= len(t) <= MAX_TAG for t in clean_tags):
            raise BadUserInput(f"at most {MAX_TAGS} tags, each 1 to {MAX_TAG} characters.")
    patch = VideoPatch(title=title, description=description, tags=clean_tags, visibility=visibility)
    if patch == VideoPatch():
        raise BadUserInput("input changes nothing: give at least one field.")
    return patch


async def owned_video(ctx: Context, raw_id: str, *, what: str, action: str) -> Video:
    """The caller's own video: NotFound when they may not see it, Forbidden when they may see
    it but it is someone else's."""
    viewer = ctx.require_viewer()
    video = await ctx.loaders.video_by_id.load(parse_id(raw_id, what=what))
    if video is None or not can_view(ctx, video, by_id=True):
        raise NotFound("No such video.")
    if video.owner_id != viewer.user_id:
        raise Forbidden(f"Only the video's owner may {action}.")
    return video


@rate_limited()
async def update_video(ctx: Context, raw_id: str, patch: VideoPatch) -> Video:
    """Change the video's metadata. A visibility that crosses between PUBLIC and the rest moves
    its media to the other space first (under the row lock, so a publishing run waits), and
    the old copies go once the change is committed: unsigned URLs of a video that is no
    longer PUBLIC stop working at once."""
    video_id = (await owned_video(ctx, raw_id, what="id", action="change it")).id
    moved_to: bool | None = None
    access_changed = False
    async with ctx.writes.transaction(memo=ctx.loaders) as tx:
        if patch.visibility is not None:
            _, visibility = await tx.lock_state(video_id)
            # Any change of who may see it revokes the signed URLs handed out before it (the
            # row's access_generation, checked by the CDN), UNLISTED -> PRIVATE included.
            access_changed = patch.visibility is not visibility
            to_signed = needs_signature(patch.visibility)
            if to_signed != needs_signature(visibility):
                async with storage_call():
                    await ctx.storage.copy_media(video_id, to_signed=to_signed)
                moved_to = to_signed
        updated = await tx.update_metadata(video_id, patch)
    if moved_to is not None:
        try:
            await ctx.storage.delete_media(video_id, signed=not moved_to)
        except STORAGE_ERRORS:
            # The CDN refuses those copies already (their space no longer matches the
            # visibility); they are removed with the video at the latest.
            log.warning("old media copies of video %s stay until it is deleted", video_id)
    if access_changed:
        await ctx.cdn_purge.purge(video_id)
        if updated.visibility is not Visibility.PUBLIC:
            await _out_of_trending(ctx, video_id)
    ctx.loaders.video_by_id.prime(video_id, updated)
    return updated


@rate_limited()
async def delete_video(ctx: Context, raw_id: str) -> UUID:
    """Remove the video: rows (uploads, renditions, manifest cascade), its objects in both
    buckets, and its cache entries. Owners only."""
    viewer = ctx.require_viewer()
    video_id = parse_id(raw_id, what="id")
    async with ctx.writes.transaction(memo=ctx.loaders) as tx:
        found = await tx.lock_for_delete(video_id)
        if found is None:
            raise NotFound("No such video.")
        owner_id, version = found
        if owner_id != viewer.user_id:
            video = await ctx.loaders.video_by_id.load(video_id)
            if video is None or not can_view(ctx, video, by_id=True):
                raise NotFound("No such video.")
            raise Forbidden("Only the video's owner may delete it.")
        # Objects first, inside the row lock: if S3 fails, nothing is deleted from the rows
        # and the owner can retry; the row lock keeps the pipeline from writing meanwhile.
        async with storage_call():
            for key, upload_id in await upload_sql.pending_multipart_uploads(tx.conn, video_id):
                await ctx.storage.abort(key, upload_id)
            await ctx.storage.delete_video_objects(video_id)
        await tx.delete(video_id, version)
    await ctx.cdn_purge.purge(video_id)
    await _out_of_trending(ctx, video_id)
    return video_id


async def _out_of_trending(ctx: Context, video_id: UUID) -> None:
    """Trending ranks PUBLIC videos only: a video hidden or deleted leaves it at once (the
    listing also checks each video it shows)."""
    try:
        await ctx.viewing.trending.remove([video_id])
    except REDIS_DOWN_ERRORS:
        log.warning("video %s stays in the trending set until Redis answers", video_id)


@rate_limited()
async def retry_processing(ctx: Context, raw_id: str) -> Video:
    """Process a FAILED video again, for its owner, within the attempt budget."""
    video = await owned_video(ctx, raw_id, what="videoId", action="process it again")
    video_id = video.id
    if video.status is not VideoStatus.FAILED:
        raise Conflict(f"Only a FAILED video is processed again; this one is {video.status}.")
    runs = (await event_sql.runs_started(ctx.db.pool, [video_id])).get(video_id, 0)
    budget = ctx.settings.processing_max_attempts
    if runs >= budget:
        raise Conflict(f"The video was processed {runs} times, the most allowed; upload it again.")
    async with storage_call():
        stored = await ctx.storage.object_size(ctx.storage.raw_bucket, source_key(video_id))
    if stored is None:
        raise Conflict("The video's upload is gone; upload it again.")
    async with ctx.writes.transaction(memo=ctx.loaders) as tx:
        queued = await tx.transition(video_id, VideoStatus.UPLOADED, expect=VideoStatus.FAILED)
    if queued is None:
        raise Conflict("The video changed meanwhile; look at it again.")
    try:
        await ctx.processing.start_again(video_id, runs + 1, "RetryProcessing")
    except Exception:
        # It waits UPLOADED; the recovery sweep starts it once orchestration answers.
        log.warning("could not start video %s again now; the sweep will", video_id)
    again = await ctx.loaders.video_by_id.load(video_id)
    if again is None:
        raise NotFound("No such video.")
    return again
