"""/graphql over HTTP as the GraphQL-over-HTTP spec says.

- GET (queries only; a mutation answers 405 with `Allow: POST`) and POST with
  `application/json` (anything else: 415); other methods 405.
- The answer's media type follows `Accept`: `application/graphql-response+json` when the client
  prefers it, `application/json` otherwise (also for a missing Accept and for `*/*`); a client
  that accepts neither gets 406.
- A request that is not well formed (bad JSON at any depth, a body that is not an object,
  parameters of the wrong type, no query) answers 400, in either media type. A document that
  does not parse or validate answers 400 with `application/graphql-response+json` and 200 with
  `application/json`, and has no `data` entry; execution errors answer 200.
- `extensions` may carry anything; an automatic persisted query is recognised in it.
- Anonymous GET queries are answered from the response cache while every entity they were built
  from is unchanged, with an ETag (304 on If-None-Match).
- Browsers asking for HTML get the GraphiQL page (when enabled), built into the package.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from graphql import GraphQLError, OperationType
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry import Schema
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.graphql import OperationType as StrawberryOperation

from streamify.domain import RateLimited
from streamify.execution.engine import CompiledExecution
from streamify.infra.client_address import limit_subject
from streamify.schema import name_pre_execution_error
from streamify.services import Services
from streamify.web import graphiql
from streamify.web.context import graphql_context_for, services_of
from streamify.web.persisted import (
    BadPersisted,
    CachedResponse,
    OperationTypes,
    PersistedDocuments,
    ResponseCache,
    persisted_digest,
)

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
PUBLIC = "public, max-age=0, must-revalidate"
PRIVATE = "private, no-store"
PERSISTED_QUERY_NOT_FOUND = {
    "errors": [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
}

_encode = msgspec.json.Encoder().encode
HTTP_OPERATIONS = frozenset({StrawberryOperation.QUERY, StrawberryOperation.MUTATION})
# A GET is a link any site can make a browser follow, cookies and all: it runs queries only,
# decided by the document that executes, not by anything remembered about it.
GET_OPERATIONS = frozenset({StrawberryOperation.QUERY})
ONLY_POST = {"allow": "POST"}


class RequestError(Exception):
    """The HTTP request is not a well-formed GraphQL request, or is refused as a whole."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extensions = extensions or {"code": "BAD_REQUEST"}


@dataclass(frozen=True, slots=True)
class Params:
    query: str | None
    variables: dict[str, Any]
    operation_name: str | None
    extensions: dict[str, Any]


def negotiate(accept: str | None) -> str | None:
    """The media type to answer in, or None when the client accepts neither of ours."""
    if not accept or not accept.strip():
        return JSON
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        media, *options = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        media = media.lower()
        if weight <= 0:
            continue
        if media == GRAPHQL_RESPONSE:
            candidate = (weight, 2, GRAPHQL_RESPONSE)
        elif media == JSON:
            candidate = (weight, 1, JSON)
        elif media in ("*/*", "application/*"):
            candidate = (weight, 0, JSON)  # legacy clients send */*: keep what they expect
        else:
            continue
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best is not None else None


def _decoded_json(raw: str | bytes, what: str) -> Any:
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise RequestError(400, f"{what} is not valid JSON: {exc}.") from None
    except RecursionError:
        raise RequestError(400, f"{what} nests too deep.") from None
    except UnicodeDecodeError:
        raise RequestError(400, f"{what} is not UTF-8.") from None


# The request's parameters, each absent, null, or of this type.
PARAMETERS: dict[str, tuple[type, str]] = {
    "query": (str, "a string"),
    "variables": (dict, "an object"),
    "operationName": (str, "a string"),
    "extensions": (dict, "an object"),
}


def _params(data: Any) -> Params:
    if not isinstance(data, dict):
        raise RequestError(400, "The request must be a JSON object.")
    for name, (kind, what) in PARAMETERS.items():
        value = data.get(name)
        if value is not None and not isinstance(value, kind):
            raise RequestError(400, f"{name} must be {what}.")
    return Params(
        data.get("query"),
        data.get("variables") or {},
        data.get("operationName"),
        data.get("extensions") or {},
    )


def params_from_query_string(params: QueryParams) -> Params:
    data: dict[str, Any] = {
        "query": params.get("query"),
        "operationName": params.get("operationName"),
    }
    for name in ("variables", "extensions"):
        raw = params.get(name)
        if raw:
            data[name] = _decoded_json(raw, name)
    return _params(data)


def params_from_body(body: bytes, content_type: str | None) -> Params:
    media = (content_type or "").split(";")[0].strip().lower()
    if media != JSON:
        raise RequestError(415, "Send the request as application/json.")
    if not body:
        raise RequestError(400, "The request has no body.")
    return _params(_decoded_json(body, "The body"))


def _has_credentials(scope: Scope) -> bool:
    return any(name in (b"authorization", b"cookie") for name, _ in scope["headers"])


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and not (
        "query" in request.query_params or "extensions" in request.query_params
    )


class GraphQLEndpoint:
    """The /graphql HTTP endpoint; websockets go to Strawberry's view."""

    def __init__(
        self,
        view: ASGIApp,
        schema: Schema,
        *,
        response_cache_bytes: int,
        document_cache_bytes: int,
        graphiql: bool,
        compiled: CompiledExecution | None,
    ) -> None:
        self.view = view
        self.schema = schema
        self.compiled = compiled
        self.graphiql = graphiql
        self.documents = PersistedDocuments(schema._schema)
        self.cache = ResponseCache(response_cache_bytes)
        self.operation_types = OperationTypes(document_cache_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.view(scope, receive, send)
            return
        if scope["method"] == "GET" and not _has_credentials(scope):
            # The hot path: the same URL again. No parsing until the entry proves stale.
            headers = dict(scope["headers"])
            media = negotiate(headers.get(b"accept", b"").decode("latin-1"))
            hit = self.cache.by_url.get(ResponseCache.url_key(scope["query_string"], media or ""))
            if hit is not None and _fresh(scope["state"]["services"], hit):
                await _cached(Request(scope, receive), hit)(scope, receive, send)
                return
        request = Request(scope, receive)
        if request.method == "GET" and self.graphiql and _wants_html(request):
            await graphiql.page()(scope, receive, send)
            return
        media = negotiate(request.headers.get("accept"))
        try:
            response = await self._answer(request, media)
        except RequestError as exc:
            response = _error(exc, media or JSON)
        await response(scope, receive, send)

    async def _answer(self, request: Request, media: str | None) -> Response:
        if request.method not in ("GET", "POST"):
            raise RequestError(405, "Use GET or POST.", headers={"allow": "GET, POST"})
        if media is None:
            raise RequestError(406, f"Accept {GRAPHQL_RESPONSE} or {JSON}.")
        get = request.method == "GET"
        if get:
            params = params_from_query_string(request.query_params)
        else:
            params = params_from_body(await request.body(), request.headers.get("content-type"))
        query = await self._document(request, params)
        if query is None:
            return _json(PERSISTED_QUERY_NOT_FOUND, media)
        settings = services_of(request).settings
        if get:
            found = self.operation_types.of(
                query, params.operation_name, max_tokens=settings.graphql_max_tokens
            )
            if found is not OperationType.QUERY and found is not None:
                raise RequestError(405, "Only queries may be sent with GET.", headers=ONLY_POST)
        cache_key = None
        if (
            settings.response_cache_enabled
            and not _has_credentials(request.scope)
            and (
                get
                or self.operation_types.of(
                    query, params.operation_name, max_tokens=settings.graphql_max_tokens
                )
                is OperationType.QUERY
            )
        ):
            # An anonymous query answers everyone alike, over GET or POST: its answer is kept
            # while everything it read is current (mutations and signed answers never are).
            cache_key = ResponseCache.key(query, params.operation_name, params.variables, media)
            cached = self.cache.responses.get(cache_key)
            if cached is not None and _fresh(services_of(request), cached):
                if not get:
                    return Response(cached.body, media_type=cached.media_type)
                url_key = ResponseCache.url_key(request.scope["query_string"], media)
                self.cache.by_url[url_key] = cached
                return _cached(request, cached)
        return await self._execute(request, params, query, media, cache_key)

    async def _document(self, request: Request, params: Params) -> str | None:
        """The query text: given, or recalled by its persisted hash (None: not known here)."""
        services = services_of(request)
        try:
            digest = persisted_digest(params.extensions, params.query)
        except BadPersisted as exc:
            raise RequestError(400, str(exc)) from None
        query = params.query
        if digest is not None:
            if query is None:
                return await self.documents.recall(services.persisted, digest)
            try:
                await self.documents.remember(
                    services,
                    digest,
                    query,
                    client=limit_subject(request.client.host) if request.client else "unknown",
                )
            except RateLimited as exc:
                raise RequestError(
                    429,
                    str(exc),
                    headers={"retry-after": str(exc.retry_after_seconds)},
                    extensions=exc.extensions,
                ) from None
        if not query:
            raise RequestError(400, "A GraphQL query is required.")
        return query

    async def _execute(
        self, request: Request, params: Params, query: str, media: str, cache_key: bytes | None
    ) -> Response:
        # Mutations (logIn, logOut) set and clear cookies on this; they are copied over below.
        sub_response = Response()
        context = await graphql_context_for(request, sub_response)
        deps: dict[str, int] = {}
        if cache_key is not None:
            context.loaders.deps = deps
        result = None
        get = request.method == "GET"
        if self.compiled is not None:
            outcome = await self.compiled.execute(
                query, params.variables, params.operation_name, context, queries_only=get
            )
            result = outcome.result
            services_of(request).metrics.graphql_execution(outcome.fallback)
        try:
            if result is None:
                result = await self.schema.execute(
                    query,
                    variable_values=params.variables,
                    context_value=context,
                    operation_name=params.operation_name,
                    allowed_operation_types=GET_OPERATIONS if get else HTTP_OPERATIONS,
                    operation_extensions=params.extensions,
                )
        except (StrawberryGraphQLError, GraphQLError) as exc:
            raise RequestError(400, exc.message) from None
        except CannotGetOperationTypeError as exc:  # no such operation, or several unnamed
            raise RequestError(400, exc.as_http_error_reason()) from None
        except InvalidOperationTypeError as exc:
            if exc.operation_type is StrawberryOperation.MUTATION:
                raise RequestError(
                    405, "Only queries may be sent with GET.", headers=ONLY_POST
                ) from None
            raise RequestError(
                400, "Subscriptions run over the graphql-transport-ws websocket, not HTTP."
            ) from None
        body, status = _shaped(result, media)
        encoded = _encode(body)
        # Signed media URLs expire: an answer that carries them is neither kept nor shared.
        lasting = not context.signed_urls
        # Viewing totals are kept only as long as they may be stale, and so is an answer
        # that shows them.
        expires_at = context.loaders.expiry.at
        keep = (
            cache_key is not None
            and status == 200
            and "errors" not in body
            and lasting
            and context.viewer is None
        )
        if request.method != "GET":
            if keep:
                assert cache_key is not None
                # A GET of the same query may be answered with it: it carries its ETag.
                cached = CachedResponse(encoded, _etag(encoded), media, deps, expires_at)
                self.cache.remember(cache_key, None, cached)
            response = Response(encoded, status_code=status, media_type=media)
            for name, value in sub_response.raw_headers:
                if name == b"set-cookie":
                    response.raw_headers.append((name, value))
            return response
        cached = CachedResponse(encoded, _etag(encoded), media, deps, expires_at)
        if keep:
            assert cache_key is not None
            self.cache.remember(
                cache_key, ResponseCache.url_key(request.scope["query_string"], media), cached
            )
        shared = lasting and not _has_credentials(request.scope)
        return _cached(request, cached, status=status, public=shared)


def _shaped(result: ExecutionResult, media: str) -> tuple[dict[str, Any], int]:
    """The response body and status of an execution result."""
    # Variables that do not coerce stop the request before any field runs, like a document
    # that does not parse or validate: errors without a path, no data.
    not_run = isinstance(result, PreExecutionError) or (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )
    if not_run:
        for error in result.errors or ():
            name_pre_execution_error(error)
    errors = [error.formatted for error in result.errors or ()]
    if not_run:
        # Nothing ran: no data entry; a client that speaks the new media type gets 400.
        return {"errors": errors}, 400 if media == GRAPHQL_RESPONSE else 200
    body: dict[str, Any] = {"data": result.data}
    if errors:
        body["errors"] = errors
    return body, 200


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _fresh(services: Services, cached: CachedResponse) -> bool:
    """A kept answer still answers: nothing it read changed, and what expires by itself
    (viewing totals) has not."""
    if cached.expires_at is not None and time.monotonic() >= cached.expires_at:
        return False
    return services.cache.still_current(cached.deps)


def _cached(
    request: Request, cached: CachedResponse, *, status: int = 200, public: bool = True
) -> Response:
    headers = {
        "etag": cached.etag,
        "cache-control": PUBLIC if public else PRIVATE,
        "vary": "accept",
    }
    if status == 200 and request.headers.get("if-none-match") == cached.etag:
        return Response(status_code=304, headers=headers)
    return Response(cached.body, status_code=status, media_type=cached.media_type, headers=headers)


def _json(body: dict[str, Any], media: str, status: int = 200) -> Response:
    return Response(_encode(body), status_code=status, media_type=media)


def _error(error: RequestError, media: str) -> Response:
    body = {"errors": [{"message": error.message, "extensions": error.extensions}]}
    return Response(
        _encode(body), status_code=error.status, media_type=media, headers=error.headers
    )
