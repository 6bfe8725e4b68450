"""Upload types and the upload lifecycle mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from streamify import domain
from streamify.infra.sql.uploads import Upload
from streamify.resolvers import uploads as upload_resolvers
from streamify.schema.context import GraphQLContext
from streamify.schema.scalars import Long
from streamify.schema.types import VideoType, Visibility

UploadStatus = strawberry.enum(domain.UploadStatus, description="Where an upload is.")


@strawberry.type
class UploadPart:
    part_number: int
    size_bytes: Long
    etag: str


@strawberry.type
class SignedUploadPart:
    part_number: int
    url: str = strawberry.field(description="Presigned PUT URL; send the part's bytes to it.")
    expires_at: datetime


@strawberry.type(name="Upload")
class UploadType:
    record: strawberry.Private[Upload]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.record.id))

    @strawberry.field
    def status(self) -> UploadStatus:  # type: ignore[valid-type]
        return self.record.status

    @strawberry.field
    def filename(self) -> str:
        return self.record.filename

    @strawberry.field(description="Declared size, or the assembled size once completed.")
    def size_bytes(self) -> Long | None:
        size = self.record.completed_size_bytes or self.record.size_bytes
        return Long(size) if size is not None else None

    @strawberry.field(description="Bytes per part; every part but the last must be this size.")
    def part_size_bytes(self) -> Long:
        return Long(self.record.part_size_bytes)

    @strawberry.field
    def part_count(self) -> int:
        return self.record.part_count

    @strawberry.field
    def expires_at(self) -> datetime:
        return self.record.expires_at

    @strawberry.field
    def failure_reason(self) -> str | None:
        return self.record.failure_reason

    @strawberry.field
    async def video(self, info: Info[GraphQLContext, None]) -> VideoType | None:
        video = await info.context.loaders.video_by_id.load(self.record.video_id)
        return VideoType.of(info.context, video) if video is not None else None

    @strawberry.field(description="Parts S3 already holds, read from S3: resume from here.")
    async def parts(self, info: Info[GraphQLContext, None]) -> list[UploadPart]:
        stored = await upload_resolvers.stored_parts(info.context, self.record)
        return [
            UploadPart(part_number=p.part_number, size_bytes=Long(p.size_bytes), etag=p.etag)
            for p in stored
        ]


@strawberry.input
class CreateUploadInput:
    filename: str
    content_type: str
    size_bytes: Long = strawberry.field(description="Total size in bytes.")
    title: str | None = None
    description: str | None = None
    part_size_bytes: Long | None = strawberry.field(
        default=None, description="Optional; at least 5 MiB. Chosen for you when omitted."
    )
    visibility: Visibility = strawberry.field(  # type: ignore[valid-type]
        default=domain.Visibility.PUBLIC, description="Who may see the video once it is READY."
    )


@strawberry.input
class CompletedPartInput:
    part_number: int
    etag: str


@strawberry.type
class UploadQuery:
    @strawberry.field(description="One of your uploads, with the parts S3 holds.")
    async def upload(self, info: Info[GraphQLContext, None], id: strawberry.ID) -> UploadType:
        return UploadType(record=await upload_resolvers.owned_upload(info.context, id))


@strawberry.type
class UploadMutation:
    @strawberry.mutation(description="Start a resumable upload straight to S3.")
    async def create_upload(
        self, info: Info[GraphQLContext, None], input: CreateUploadInput
    ) -> UploadType:
        upload = await upload_resolvers.create_upload(
            info.context,
            filename=input.filename,
            content_type=input.content_type,
            size_bytes=input.size_bytes,
            title=input.title,
            description=input.description or "",
            part_size_bytes=input.part_size_bytes,
            visibility=domain.Visibility(input.visibility),
        )
        return UploadType(record=upload)

    @strawberry.mutation(description="Presigned PUT URLs for these parts.")
    async def sign_upload_parts(
        self, info: Info[GraphQLContext, None], upload_id: strawberry.ID, part_numbers: list[int]
    ) -> list[SignedUploadPart]:
        signed = await upload_resolvers.sign_parts(info.context, upload_id, part_numbers)
        return [
            SignedUploadPart(part_number=s.part_number, url=s.url, expires_at=s.expires_at)
            for s in signed
        ]

    @strawberry.mutation(description="Assemble the parts; the video becomes UPLOADED.")
    async def complete_upload(
        self,
        info: Info[GraphQLContext, None],
        upload_id: strawberry.ID,
        parts: list[CompletedPartInput],
    ) -> UploadType:
        done = await upload_resolvers.complete_upload(
            info.context, upload_id, [(p.part_number, p.etag) for p in parts]
        )
        return UploadType(record=done)

    @strawberry.mutation(description="Cancel the upload and discard its parts.")
    async def abort_upload(
        self, info: Info[GraphQLContext, None], upload_id: strawberry.ID
    ) -> UploadType:
        return UploadType(record=await upload_resolvers.abort_upload(info.context, upload_id))
