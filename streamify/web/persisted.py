"""/graphql in front of Strawberry: automatic persisted queries (Apollo's protocol: the client
sends `extensions.persistedQuery.sha256Hash`, and the query itself only when the server asks),
and, for anonymous GET queries, a whole-response cache.

A cached response remembers the key and version of every entity it was built from. It is served
only while the process's L1 still holds each of those at the same version: any write drops the
key from every process's L1 (the invalidation broadcast), so a cached response is never served
after an update. Only anonymous requests use it, and anonymous responses contain only what
anyone may see, so nothing is shared across users. GET answers carry an ETag and
`Cache-Control: public, max-age=0, must-revalidate`: browsers and CDNs keep them and revalidate
with If-None-Match, which costs a 304."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse, validate
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry import Schema

from streamify.infra.redis_client import REDIS_DOWN_ERRORS
from streamify.infra.settings import Settings
from streamify.schema.budget import budget_errors, limits_of
from streamify.web.context import graphql_context_for, services_of

SHA256 = re.compile(r"^[0-9a-f]{64}$")
NOT_FOUND = {
    "errors": [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
}
DOCUMENT_CACHE_BYTES = 32 * 1024 * 1024
PUBLIC = "public, max-age=0, must-revalidate"
PRIVATE = "private, no-store"


class BadPersisted(ValueError):
    """The persisted-query request is malformed; the message says how."""


@dataclass(frozen=True, slots=True)
class PersistedRequest:
    digest: str
    query: str | None
    variables: dict[str, Any]
    operation_name: str | None


def parse_persisted(payload: dict[str, Any]) -> PersistedRequest:
    extensions = _decoded(payload.get("extensions"), "extensions")
    variables = _decoded(payload.get("variables"), "variables") or {}
    persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
    digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
    if not isinstance(digest, str) or not SHA256.match(digest):
        raise BadPersisted("extensions.persistedQuery.sha256Hash must be a sha256 hex digest.")
    if not isinstance(variables, dict):
        raise BadPersisted("variables must be a JSON object.")
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadPersisted("operationName must be a string.")
    query = payload.get("query")
    if query is not None and not isinstance(query, str):
        raise BadPersisted("query must be a string.")
    return PersistedRequest(digest, query, variables, operation_name)


@dataclass(frozen=True, slots=True)
class CachedResponse:
    body: bytes
    etag: str
    deps: dict[str, int]


class PersistedQueries:
    """The /graphql endpoint: persisted queries here, everything else to Strawberry."""

    def __init__(self, graphql: ASGIApp, schema: Schema, *, max_entries: int) -> None:
        self.graphql = graphql
        self.schema = schema
        # Bounded in bytes: documents are at most persisted_query_max_bytes each.
        self.documents: LRUCache[str, str] = LRUCache(maxsize=DOCUMENT_CACHE_BYTES, getsizeof=len)
        self.responses: LRUCache[str, CachedResponse] = LRUCache(maxsize=max_entries)
        self.operation_types: LRUCache[str, OperationType | None] = LRUCache(maxsize=max_entries)
        # The same entries by the request's raw query string, for repeat URLs.
        self.by_url: LRUCache[bytes, CachedResponse] = LRUCache(maxsize=max_entries)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.graphql(scope, receive, send)
            return
        raw_query: bytes = scope["query_string"]
        if scope["method"] == "GET" and not _has_credentials_scope(scope):
            # The hot path: the same URL again. No parsing until the entry proves stale.
            hit = self.by_url.get(raw_query)
            if hit is not None and scope["state"]["services"].cache.still_current(hit.deps):
                await _cached_response(Request(scope, receive), hit)(scope, receive, send)
                return
        request = Request(scope, receive)
        if request.method == "GET":
            params = request.query_params
            if "extensions" not in params:
                await self.graphql(scope, receive, send)
                return
            payload: dict[str, Any] = {
                "query": params.get("query"),
                "variables": params.get("variables"),
                "operationName": params.get("operationName"),
                "extensions": params.get("extensions"),
            }
            response = await self.persisted(request, payload, get=True)
        else:
            body = await request.body()
            payload = _json_object(body) or {}
            if not isinstance(payload.get("extensions"), dict | str):
                await self.graphql(scope, _replay(body), send)
                return
            response = await self.persisted(request, payload, get=False)
        await response(scope, receive, send)

    async def persisted(self, request: Request, payload: dict[str, Any], *, get: bool) -> Response:
        try:
            asked = parse_persisted(payload)
            if asked.query is not None and _sha256(asked.query) != asked.digest:
                raise BadPersisted("provided sha does not match query")
            cache_key = self._cache_key(request, asked) if get else None
            if cache_key is not None:
                cached = self.responses.get(cache_key)
                if cached is not None and services_of(request).cache.still_current(cached.deps):
                    self.by_url[request.scope["query_string"]] = cached
                    return _cached_response(request, cached)
            query = await self._document(request, asked)
        except BadPersisted as exc:
            return _bad(str(exc))
        if query is None:
            return JSONResponse(NOT_FOUND)
        if get and self._operation_type(query, asked.operation_name) is not OperationType.QUERY:
            return JSONResponse(
                {"errors": [{"message": "Only queries may be sent with GET."}]},
                status_code=405,
                headers={"allow": "POST"},
            )
        return await self._execute(request, asked, query, cache_key, get=get)

    def _cache_key(self, request: Request, asked: PersistedRequest) -> str | None:
        if _has_credentials(request) or not services_of(request).settings.response_cache_enabled:
            return None
        canonical = json.dumps(asked.variables, sort_keys=True, separators=(",", ":"))
        return f"{asked.digest}|{asked.operation_name or ''}|{canonical}"

    async def _document(self, request: Request, asked: PersistedRequest) -> str | None:
        if asked.query is None:
            return await self._recall(request, asked.digest)
        if self._worth_keeping(services_of(request).settings, asked.query):
            await self._remember(request, asked.digest, asked.query)
        # Otherwise it runs once, unremembered: execution reports what is wrong with it, and
        # a client that sends the hash alone again is asked for the document again.
        return asked.query

    def _worth_keeping(self, settings: Settings, query: str) -> bool:
        """Only documents within the byte bound that parse and pass validation and the query
        budget are stored, so storage cannot be filled with junk."""
        if len(query.encode()) > settings.persisted_query_max_bytes:
            return False
        try:
            document = parse(query, max_tokens=settings.graphql_max_tokens)
        except GraphQLError:
            return False
        if budget_errors(document, limits_of(settings)):
            return False
        return not validate(self.schema._schema, document)

    async def _execute(
        self,
        request: Request,
        asked: PersistedRequest,
        query: str,
        cache_key: str | None,
        *,
        get: bool,
    ) -> Response:
        # Mutations (logIn, logOut) set and clear cookies on this; they are copied over below.
        sub_response = Response()
        context = await graphql_context_for(request, sub_response)
        deps: dict[str, int] = {}
        if cache_key is not None:
            context.loaders.deps = deps
        result = await self.schema.execute(
            query,
            variable_values=asked.variables,
            context_value=context,
            operation_name=asked.operation_name,
        )
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        encoded = json.dumps(body, separators=(",", ":")).encode()
        if not get:
            return _with_cookies(Response(encoded, media_type="application/json"), sub_response)
        etag = '"' + hashlib.blake2b(encoded, digest_size=16).hexdigest() + '"'
        response = CachedResponse(encoded, etag, deps)
        if cache_key is not None and not result.errors and context.viewer is None:
            self.responses[cache_key] = response
            self.by_url[request.scope["query_string"]] = response
        anonymous = not _has_credentials(request)
        return _cached_response(request, response, cache_control=PUBLIC if anonymous else PRIVATE)

    async def _remember(self, request: Request, digest: str, query: str) -> None:
        self.documents[digest] = query
        services = services_of(request)
        # On a Redis failure it is kept in this process; other processes ask the client again.
        with contextlib.suppress(*REDIS_DOWN_ERRORS):
            await services.redis.set(
                services.names.persisted_query(digest),
                query,
                ex=services.settings.persisted_query_ttl_seconds,
            )

    async def _recall(self, request: Request, digest: str) -> str | None:
        found = self.documents.get(digest)
        if found is not None:
            return found
        services = services_of(request)
        try:
            raw = await services.redis.get(services.names.persisted_query(digest))
        except REDIS_DOWN_ERRORS:
            return None
        if raw is None:
            return None
        query = raw.decode() if isinstance(raw, bytes) else str(raw)
        self.documents[digest] = query
        return query

    def _operation_type(self, query: str, operation_name: str | None) -> OperationType | None:
        key = f"{operation_name or ''}|{query}"
        if key in self.operation_types:
            return self.operation_types[key]
        found: OperationType | None = None
        try:
            operations = [
                d for d in parse(query).definitions if isinstance(d, OperationDefinitionNode)
            ]
            chosen = [
                o
                for o in operations
                if operation_name is None or (o.name is not None and o.name.value == operation_name)
            ]
            found = chosen[0].operation if len(chosen) == 1 else None
        except GraphQLError:
            found = OperationType.QUERY  # a syntax error: let execution report it
        self.operation_types[key] = found
        return found


def _cached_response(
    request: Request, cached: CachedResponse, *, cache_control: str = PUBLIC
) -> Response:
    headers = {"etag": cached.etag, "cache-control": cache_control}
    if request.headers.get("if-none-match") == cached.etag:
        return Response(status_code=304, headers=headers)
    return Response(cached.body, media_type="application/json", headers=headers)


def _with_cookies(response: Response, sub_response: Response) -> Response:
    for name, value in sub_response.raw_headers:
        if name == b"set-cookie":
            response.raw_headers.append((name, value))
    return response


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _has_credentials(request: Request) -> bool:
    return _has_credentials_scope(request.scope)


def _has_credentials_scope(scope: Scope) -> bool:
    return any(name in (b"authorization", b"cookie") for name, _ in scope["headers"])


def _decoded(value: Any, what: str) -> Any:
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise BadPersisted(f"{what} is not valid JSON.") from None
    raise BadPersisted(f"{what} must be a JSON object.")


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _bad(message: str) -> Response:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]},
        status_code=400,
    )


def _replay(body: bytes) -> Receive:
    """A receive() that hands Strawberry the body this endpoint already read."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
