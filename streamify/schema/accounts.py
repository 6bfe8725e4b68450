"""Accounts: sign-up, log-in, refresh, log-out and the viewer."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from streamify import domain
from streamify.resolvers import accounts
from streamify.schema.context import GraphQLContext


@strawberry.type(name="Viewer")
class ViewerType:
    record: strawberry.Private[domain.User]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.record.id))

    @strawberry.field
    def email(self) -> str:
        return self.record.email

    @strawberry.field
    def display_name(self) -> str:
        return self.record.display_name


@strawberry.type
class AuthPayload:
    access_token: str = strawberry.field(description="Send as `Authorization: Bearer <token>`.")
    access_token_expires_at: datetime
    refresh_token: str = strawberry.field(
        description="Exchange with refreshToken for a new pair; each works once."
    )
    viewer: ViewerType


def _payload(ctx: GraphQLContext, tokens: accounts.Tokens) -> AuthPayload:
    """The tokens for the client; over HTTP, the same session as an HttpOnly cookie too."""
    if ctx.response is not None:
        ctx.response.set_cookie(
            ctx.settings.session_cookie_name,
            tokens.session_cookie,
            max_age=tokens.session_cookie_max_age,
            path="/",
            httponly=True,
            samesite="lax",
            secure=ctx.settings.session_cookie_secure,
        )
    return AuthPayload(
        access_token=tokens.access_token,
        access_token_expires_at=tokens.access_expires_at,
        refresh_token=tokens.refresh_token,
        viewer=ViewerType(record=tokens.user),
    )


@strawberry.type
class AccountQuery:
    @strawberry.field(description="The signed-in user; null when anonymous.")
    async def viewer(self, info: Info[GraphQLContext, None]) -> ViewerType | None:
        ctx = info.context
        if ctx.viewer is None:
            return None
        user = await ctx.loaders.user_by_id.load(ctx.viewer.user_id)
        return ViewerType(record=user) if user is not None else None


@strawberry.type
class AccountMutation:
    @strawberry.mutation(
        description="Create an account and sign in (also sets a session cookie).",
    )
    async def sign_up(
        self, info: Info[GraphQLContext, None], email: str, password: str, display_name: str
    ) -> AuthPayload:
        tokens = await accounts.sign_up(
            info.context, email=email, password=password, display_name=display_name
        )
        return _payload(info.context, tokens)

    @strawberry.mutation(description="Sign in (also sets a session cookie).")
    async def log_in(
        self, info: Info[GraphQLContext, None], email: str, password: str
    ) -> AuthPayload:
        tokens = await accounts.log_in(info.context, email=email, password=password)
        return _payload(info.context, tokens)

    @strawberry.mutation(
        description="Trade a refresh token for a new access and refresh token.",
    )
    async def refresh_token(
        self, info: Info[GraphQLContext, None], refresh_token: str
    ) -> AuthPayload:
        return _payload(info.context, await accounts.refresh(info.context, refresh_token))

    @strawberry.mutation(
        description="End the session of this refresh token (or of the current credentials).",
    )
    async def log_out(
        self, info: Info[GraphQLContext, None], refresh_token: str | None = None
    ) -> bool:
        ended = await accounts.log_out(info.context, refresh_token)
        if info.context.response is not None:
            info.context.response.delete_cookie(info.context.settings.session_cookie_name, path="/")
        return ended
