"""Automatic persisted queries (Apollo's protocol: the client sends
`extensions.persistedQuery.sha256Hash`, and the document itself only when the server asks) and
the whole-response cache of anonymous GET queries.

A cached response remembers the key and version of every entity it was built from. It is served
only while the process's L1 still holds each of those at the same version: any write drops the
key from every process's L1 (the invalidation broadcast), so a cached response is never served
after an update. Only anonymous requests use it, and anonymous responses contain only what
anyone may see, so nothing is shared across users."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from graphql import GraphQLError, GraphQLSchema, OperationDefinitionNode, OperationType, parse
from graphql import validate as validate_document

from streamify.domain import RateLimited
from streamify.infra import rate_limit
from streamify.infra.persisted_store import PersistedStore
from streamify.infra.redis_client import REDIS_DOWN_ERRORS
from streamify.infra.settings import Settings
from streamify.schema.budget import budget_errors, limits_of
from streamify.schema.document_cache import ENTRY_BYTES, digest
from streamify.services import Services

SHA256 = re.compile(r"^[0-9a-f]{64}$")
DOCUMENT_CACHE_BYTES = 32 * 1024 * 1024


class BadPersisted(ValueError):
    """The persisted-query extension is malformed; the message says how."""


def persisted_digest(extensions: dict[str, Any], query: str | None) -> str | None:
    """The document hash the request names, checked against its document when it has one;
    None when the request uses no persisted query (other extensions are the client's own)."""
    persisted = extensions.get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict):
        raise BadPersisted("extensions.persistedQuery must be an object.")
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not SHA256.match(digest):
        raise BadPersisted("extensions.persistedQuery.sha256Hash must be a sha256 hex digest.")
    if persisted.get("version", 1) != 1:
        raise BadPersisted("extensions.persistedQuery.version must be 1.")
    if query is not None and hashlib.sha256(query.encode()).hexdigest() != digest:
        raise BadPersisted("provided sha does not match query")
    return digest


class PersistedDocuments:
    """Documents by hash: in this process (bounded in bytes) and in Redis (with a TTL)."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self.documents: LRUCache[str, str] = LRUCache(maxsize=DOCUMENT_CACHE_BYTES, getsizeof=len)

    def worth_keeping(self, settings: Settings, query: str) -> bool:
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
        return not validate_document(self.schema, document)

    async def remember(self, services: Services, digest: str, query: str, *, client: str) -> None:
        """Register `query` under `digest`. A new registration counts against the client
        address's allowance (RateLimited beyond it); one already stored is free."""
        if digest in self.documents:
            return
        store, settings = services.persisted, services.settings
        try:
            if await store.known(digest):
                self.documents[digest] = query
                return
            retry_after = await rate_limit.hit(
                services.redis,
                services.names.rate("persist", client),
                limit=settings.rate_limit_persisted_queries_per_minute,
            )
        except REDIS_DOWN_ERRORS:
            retry_after = None
        if retry_after is not None:
            raise RateLimited(
                f"Too many new persisted queries; try again in {retry_after} s.",
                retry_after_seconds=retry_after,
            )
        if not self.worth_keeping(settings, query):
            # It runs once, unremembered: execution reports what is wrong with it, and a
            # client that sends the hash alone again is asked for the document again.
            return
        self.documents[digest] = query
        # On a Redis failure it is kept in this process; other processes ask the client again.
        with contextlib.suppress(*REDIS_DOWN_ERRORS):
            await store.put(digest, query)

    async def recall(self, store: PersistedStore, digest: str) -> str | None:
        found = self.documents.get(digest)
        if found is not None:
            return found
        try:
            query = await store.get(digest)
        except REDIS_DOWN_ERRORS:
            return None
        if query is not None:
            self.documents[digest] = query
        return query


@dataclass(frozen=True, slots=True)
class CachedResponse:
    body: bytes
    etag: str
    media_type: str
    deps: dict[str, int]
    # When it stops answering (monotonic seconds): set when it shows what expires by itself.
    expires_at: float | None = None


def response_size(response: CachedResponse) -> int:
    return ENTRY_BYTES + len(response.body) + 96 * len(response.deps)


class ResponseCache:
    """Whole responses of anonymous queries, by request and (GET) by raw URL: keyed by digests,
    bounded in bytes (each index half of `max_bytes`, so both together stay within it)."""

    def __init__(self, max_bytes: int) -> None:
        half = max(1, max_bytes // 2)
        self.responses: LRUCache[bytes, CachedResponse] = LRUCache(
            maxsize=half, getsizeof=response_size
        )
        # The same entries by the request's raw query string and media type, for repeat URLs.
        self.by_url: LRUCache[tuple[bytes, str], CachedResponse] = LRUCache(
            maxsize=half, getsizeof=response_size
        )

    @staticmethod
    def key(
        query: str, operation_name: str | None, variables: dict[str, Any], media_type: str
    ) -> bytes:
        canonical = json.dumps(variables, sort_keys=True, separators=(",", ":"))
        return digest(query, operation_name, canonical, media_type)

    @staticmethod
    def url_key(query_string: bytes, media_type: str) -> tuple[bytes, str]:
        return hashlib.sha256(query_string).digest(), media_type

    def remember(
        self, key: bytes, url_key: tuple[bytes, str] | None, response: CachedResponse
    ) -> None:
        """Keeps an answer by its request (and by its URL, for a GET)."""
        if response_size(response) <= self.responses.maxsize:
            self.responses[key] = response
            if url_key is not None:
                self.by_url[url_key] = response


class OperationTypes:
    """The type of the operation a document runs (None: it names none, or several), by a digest
    of the document and the operation's name; entries are of one small size, so a bound in
    bytes is a bound in entries."""

    def __init__(self, max_bytes: int) -> None:
        self.known: LRUCache[bytes, OperationType | None] = LRUCache(
            maxsize=max(1, max_bytes // ENTRY_BYTES)
        )

    def of(
        self, query: str, operation_name: str | None, *, max_tokens: int
    ) -> OperationType | None:
        key = digest(query, operation_name)
        if key in self.known:
            return self.known[key]
        found: OperationType | None = None
        try:
            operations = [
                d
                for d in parse(query, max_tokens=max_tokens).definitions
                if isinstance(d, OperationDefinitionNode)
            ]
            chosen = [
                o
                for o in operations
                if operation_name is None or (o.name is not None and o.name.value == operation_name)
            ]
            found = chosen[0].operation if len(chosen) == 1 else None
        except GraphQLError:
            found = OperationType.QUERY  # a syntax error: let execution report it
        self.known[key] = found
        return found
