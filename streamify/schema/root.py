from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from streamify import domain
from streamify.resolvers import captions as caption_resolvers
from streamify.resolvers import video_orders
from streamify.resolvers import videos as video_resolvers
from streamify.resolvers.playback import media_urls
from streamify.resolvers.processing import processing_events
from streamify.schema.accounts import AccountMutation, AccountQuery
from streamify.schema.context import GraphQLContext
from streamify.schema.types import (
    AddCaptionInput,
    CaptionType,
    PageInfo,
    ProcessingEventType,
    UpdateVideoInput,
    VideoConnection,
    VideoEdge,
    VideoOrder,
    VideoStatus,
    VideoType,
    captions_of,
)
from streamify.schema.uploads import UploadMutation, UploadQuery


@strawberry.type
class Query(UploadQuery, AccountQuery):
    @strawberry.field(description="One video by id; null when it does not exist or is hidden.")
    async def video(self, info: Info[GraphQLContext, None], id: strawberry.ID) -> VideoType | None:
        found = await video_resolvers.video_by_id(info.context, id)
        return VideoType.of(info.context, found) if found is not None else None

    @strawberry.field(
        description="Videos as a Relay connection: newest first, most viewed first, or trending "
        "(views decayed with a half-life)."
    )
    async def videos(
        self,
        info: Info[GraphQLContext, None],
        *,
        first: int | None = None,
        after: str | None = None,
        owner_id: strawberry.ID | None = None,
        status: VideoStatus | None = None,  # type: ignore[valid-type]
        order_by: VideoOrder | None = VideoOrder.NEWEST,  # type: ignore[valid-type]
    ) -> VideoConnection:
        ctx = info.context
        order = domain.VideoOrder(order_by or domain.VideoOrder.NEWEST)
        listing = video_resolvers.listing_of(ctx, first=first, owner_id=owner_id, status=status)
        if order is domain.VideoOrder.NEWEST:
            pairs, has_next = await video_resolvers.video_page(
                ctx, first=first, after=after, owner_id=owner_id, status=status
            )
        elif order is domain.VideoOrder.MOST_VIEWED:
            pairs, has_next = await video_orders.most_viewed(ctx, listing, after)
        else:
            pairs, has_next = await video_orders.trending(ctx, listing, after)
        edges = [
            VideoEdge(cursor=cursor, node=VideoType.of(info.context, v)) for cursor, v in pairs
        ]
        return VideoConnection(
            count=video_orders.total_of(ctx, listing, order),
            edges=edges,
            page_info=PageInfo(
                has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None
            ),
        )


@strawberry.type
class Mutation(UploadMutation, AccountMutation):
    @strawberry.mutation(description="Change a video's metadata; owners only.")
    async def update_video(
        self, info: Info[GraphQLContext, None], id: strawberry.ID, input: UpdateVideoInput
    ) -> VideoType:
        patch = video_resolvers.validated_patch(
            title=input.title,
            description=input.description,
            tags=input.tags,
            visibility=input.visibility,
        )
        return VideoType.of(
            info.context, await video_resolvers.update_video(info.context, id, patch)
        )

    @strawberry.mutation(
        description="Add a caption to a video, or replace the one in its language; owners "
        "only. A READY video's manifests list it at once."
    )
    async def add_caption(
        self, info: Info[GraphQLContext, None], input: AddCaptionInput
    ) -> CaptionType:
        video, language = await caption_resolvers.add_caption(
            info.context,
            input.video_id,
            language=input.language,
            label=input.label,
            content=input.content,
        )
        urls = media_urls(info.context, video)
        found = captions_of(video, urls.captions)
        return next(c for c in found if c.language == language)

    @strawberry.mutation(
        description="Remove a video's caption in this language; owners only. False when it "
        "has none in that language."
    )
    async def remove_caption(
        self, info: Info[GraphQLContext, None], video_id: strawberry.ID, language: str
    ) -> bool:
        return await caption_resolvers.remove_caption(info.context, video_id, language=language)

    @strawberry.mutation(
        description="Process a FAILED video again (owners only, within the attempt budget)."
    )
    async def retry_processing(
        self, info: Info[GraphQLContext, None], video_id: strawberry.ID
    ) -> VideoType:
        video = await video_resolvers.retry_processing(info.context, video_id)
        return VideoType.of(info.context, video)

    @strawberry.mutation(
        description="Delete a video with its uploads, objects and renditions; owners only.",
    )
    async def delete_video(
        self, info: Info[GraphQLContext, None], id: strawberry.ID
    ) -> strawberry.ID:
        deleted = await video_resolvers.delete_video(info.context, id)
        return strawberry.ID(str(deleted))


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The video's processing status now, then live until READY or FAILED."
    )
    async def video_processing(
        self, info: Info[GraphQLContext, None], video_id: strawberry.ID
    ) -> AsyncGenerator[ProcessingEventType, None]:
        async for event in processing_events(info.context, video_id):
            yield ProcessingEventType(
                video_id=strawberry.ID(str(event.video_id)),
                status=event.status,
                step=event.step,
                progress=event.progress,
                message=event.message,
                at=event.at,
            )
