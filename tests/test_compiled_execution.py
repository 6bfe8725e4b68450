"""The compiled execution path answers exactly what Strawberry answers.

Every query runs twice against the same data and the same injected faults: once through an
app with the compiled path and once through an app with it turned off (Strawberry). The two
HTTP answers must be byte for byte equal (status, body: data, errors with messages, paths,
locations and codes, null propagation), and the compiled path must really have run.

Queries come from three sources: hand-written edge cases, a generator of selections over the
real schema (aliases, fragments, inline fragments, @skip/@include with literals and
variables, __typename), and hypothesis-graphql. Faults are injected at the loaders, so both
paths read the same broken records: owners that raise (expected and unexpected errors) or
are missing, records with nulls in non-null fields, values of the wrong type, renditions
that fail to load."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from graphql import print_schema
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis_graphql import queries as graphql_queries
from strawberry.dataloader import DataLoader

from streamify.app import create_app
from streamify.domain import NotFound, Rendition, User, Video, VideoRenditions
from streamify.infra.cache.tier import CacheTier
from streamify.infra.db import Database
from streamify.infra.settings import Settings
from streamify.loaders import Loaders
from streamify.schema import build_schema
from streamify.services import Services, open_services
from tests.helpers import FakeClock, insert_user, insert_video, token_for
from tests.servers import with_state

VIDEO_FIELDS = (
    "id title description tags visibility status duration createdAt updatedAt failureReason "
    "owner { id displayName } renditions { height width bitrate codecs } "
    "manifest { url expiresAt } thumbnailUrl storyboard { imageUrl vttUrl } processingAttempts"
)
LIST = (
    "query($first: Int) { videos(first: $first) { edges { cursor node { "
    f"{VIDEO_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
)


# Faults --------------------------------------------------------------------------------------

FAULTS = ("none", "expected", "unexpected", "missing", "null_field", "wrong_type")


@dataclasses.dataclass
class FaultPlan:
    """Which keys fail, and how: chosen per key from a seed, the same for both paths."""

    seed: int = 0
    rate: int = 0  # out of 8 keys, how many are broken

    def fault(self, key: object) -> str:
        if self.rate == 0:
            return "none"
        digest = hashlib.blake2b(f"{self.seed}:{key}".encode(), digest_size=4).digest()
        if digest[0] % 8 >= self.rate:
            return "none"
        return FAULTS[1 + digest[1] % (len(FAULTS) - 1)]


def _broken_user(user: User | None, fault: str) -> Any:
    if fault == "expected":
        return NotFound("That owner is gone.")
    if fault == "unexpected":
        return RuntimeError("the user store broke")
    if fault == "missing" or user is None:
        return None
    if fault == "null_field":
        return dataclasses.replace(user, display_name=None)  # type: ignore[arg-type]
    if fault == "wrong_type":
        return dataclasses.replace(user, display_name=12345)  # type: ignore[arg-type]
    return user


def _broken_video(video: Video | None, fault: str) -> Any:
    if video is None or fault in ("none", "missing"):
        return video
    if fault == "expected":
        return dataclasses.replace(video, tags=("fine", None))  # type: ignore[arg-type]
    if fault == "unexpected":
        return dataclasses.replace(video, duration_seconds="long")  # type: ignore[arg-type]
    if fault == "null_field":
        return dataclasses.replace(video, title=None)  # type: ignore[arg-type]
    return dataclasses.replace(video, description=3.5)  # type: ignore[arg-type]


def _broken_renditions(found: VideoRenditions | None, fault: str) -> Any:
    if found is None or fault == "none":
        return found
    if fault in ("expected", "unexpected"):
        return RuntimeError("renditions did not load")
    if fault == "missing":
        return None
    bad = Rendition(None, 1, 1, "x", "p")  # type: ignore[arg-type]
    if fault == "wrong_type":
        bad = Rendition(1, 1, "fast", "x", "p")  # type: ignore[arg-type]
    return dataclasses.replace(found, renditions=(*found.renditions, bad))


class FaultyLoader(DataLoader[Any, Any]):
    """A loader whose answers (loaded or primed by another loader) carry the plan's faults."""

    def __init__(self, inner: DataLoader[Any, Any], plan: FaultPlan, breaks: Any) -> None:
        async def load(keys: list[Any]) -> Sequence[Any]:
            found = await inner.load_fn(keys)
            return [breaks(value, plan.fault(key)) for key, value in zip(keys, found, strict=True)]

        super().__init__(load_fn=load)
        self.plan, self.breaks = plan, breaks

    def prime(self, key: Any, value: Any, force: bool = False) -> None:
        broken = self.breaks(value, self.plan.fault(key))
        if isinstance(broken, BaseException):
            return  # let the load raise it
        super().prime(key, broken, force)


def _faulty(inner: DataLoader[Any, Any], plan: FaultPlan, breaks: Any) -> DataLoader[Any, Any]:
    return FaultyLoader(inner, plan, breaks)


class FaultyLoaders(Loaders):
    def __init__(self, db: Database, tier: CacheTier, plan: FaultPlan) -> None:
        super().__init__(db, tier)
        self.plan = plan
        clean = Loaders(db, tier)
        self.__dict__["user_by_id"] = _faulty(clean.user_by_id, plan, _broken_user)
        self.__dict__["video_by_id"] = _faulty(clean.video_by_id, plan, _broken_video)
        self.__dict__["renditions_by_video_id"] = _faulty(
            clean.renditions_by_video_id, plan, _broken_renditions
        )


# The two apps ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Pair:
    services: Services
    compiled: httpx.AsyncClient
    strawberry: httpx.AsyncClient
    plan: FaultPlan
    tokens: dict[str, str]
    ids: dict[str, list[str]]
    compared: int = 0
    invalid: int = 0

    def compiled_runs(self) -> float:
        counter = self.services.metrics.graphql_executions.labels("compiled", "")
        return float(counter._value.get())

    async def same(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        viewer: str | None = None,
        operation_name: str | None = None,
        must_compile: bool = True,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation_name is not None:
            body["operationName"] = operation_name
        headers = {"authorization": f"Bearer {self.tokens[viewer]}"} if viewer else {}
        before = self.compiled_runs()
        ours = await self.compiled.post("/graphql", json=body, headers=headers)
        ran = self.compiled_runs() - before
        theirs = await self.strawberry.post("/graphql", json=body, headers=headers)
        assert ours.status_code == theirs.status_code, query
        assert ours.headers.get("content-type") == theirs.headers.get("content-type")
        mine, strawberry = ours.json(), theirs.json()
        # `data` byte for byte (key order included); errors equal one for one. Their order
        # is left open by the spec: graphql-core reports concurrently resolved fields in the
        # order the event loop wakes their awaiters, the compiled path in document order.
        assert _encoded(mine.get("data")) == _encoded(strawberry.get("data")), query
        assert ("data" in mine) == ("data" in strawberry), query
        if "data" in mine and mine["data"] is None:
            # A non-null root field nulled `data`. Which other errors are reported then
            # depends on what completed before the failure: graphql-core follows the order
            # the event loop wakes its awaiters (a race: a loader failing at the same moment
            # may or may not make it), the compiled path completes what is synchronous first.
            # The spec allows both; both must report errors, sharing at least one.
            theirs_errors, our_errors = set(_errors(strawberry)), set(_errors(mine))
            assert theirs_errors and our_errors and theirs_errors & our_errors, query
        else:
            assert _errors(mine) == _errors(strawberry), query
        if must_compile and "data" in strawberry:  # what does not validate is Strawberry's
            assert ran == 1, f"fell back to Strawberry: {query}"
        self.invalid += "data" not in strawberry
        self.compared += 1
        answer: dict[str, Any] = ours.json()
        return answer


def _encoded(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _errors(body: dict[str, Any]) -> list[str]:
    return sorted(json.dumps(error, sort_keys=True) for error in body.get("errors", []))


@pytest.fixture
async def pair(settings: Settings, clean_db: None, clock: FakeClock) -> AsyncIterator[Pair]:
    plan = FaultPlan()
    # Every query is executed: a kept answer would hide what each path makes of the faults.
    settings = settings.model_copy(update={"response_cache_enabled": False})

    def loaders(db: Database, tier: CacheTier) -> Loaders:
        return FaultyLoaders(db, tier, plan)

    async with open_services(
        settings, background_jobs=False, clock=clock, loaders_factory=loaders
    ) as services:
        pool = services.db.pool
        ada = await insert_user(pool, "Ada")
        bob = await insert_user(pool, "Bob")
        videos: list[str] = []
        for n, (owner, visibility, status, renditions) in enumerate(
            [
                (ada, "PUBLIC", "READY", (720, 480)),
                (ada, "UNLISTED", "READY", (360,)),
                (ada, "PRIVATE", "READY", (720,)),
                (ada, "PUBLIC", "PROCESSING", ()),
                (bob, "PUBLIC", "READY", (1080, 720, 480)),
                (bob, "PUBLIC", "READY", ()),
                (bob, "PRIVATE", "UPLOADED", ()),
                (ada, "PUBLIC", "READY", (480,)),
            ]
        ):
            video = await insert_video(
                pool,
                owner,
                title=f"Video {n}",
                visibility=visibility,
                status=status,
                renditions=renditions,
            )
            videos.append(str(video))
        await pool.execute(
            "UPDATE videos SET status = 'FAILED', failure_reason = 'The file is not a video.'"
            " WHERE id = $1",
            uuid.UUID(videos[3]),
        )
        compiled_app = with_state(create_app(settings), services)
        plain = settings.model_copy(update={"graphql_compiled_execution": False})
        strawberry_app = with_state(create_app(plain), services)
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=compiled_app), base_url="http://testserver"
            ) as compiled,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=strawberry_app), base_url="http://testserver"
            ) as strawberry,
        ):
            yield Pair(
                services,
                compiled,
                strawberry,
                plan,
                tokens={
                    "ada": token_for(settings, ada),
                    "bob": token_for(settings, bob),
                },
                ids={
                    "videos": videos,
                    "users": [str(ada), str(bob)],
                },
            )


# Hand-written edge cases -----------------------------------------------------------------------


def edge_cases(ids: dict[str, list[str]]) -> list[tuple[str, dict[str, Any], str | None]]:
    first, unlisted, private = ids["videos"][0], ids["videos"][1], ids["videos"][2]
    ada = ids["users"][0]
    return [
        (LIST, {"first": 50}, None),
        (LIST, {"first": 50}, "ada"),
        (LIST, {"first": 3}, "bob"),
        (f"query($id: ID!) {{ video(id: $id) {{ {VIDEO_FIELDS} }} }}", {"id": first}, None),
        (f"query($id: ID!) {{ video(id: $id) {{ {VIDEO_FIELDS} }} }}", {"id": private}, "ada"),
        (f"query($id: ID!) {{ video(id: $id) {{ {VIDEO_FIELDS} }} }}", {"id": private}, None),
        (f'{{ video(id: "{unlisted}") {{ id title }} }}', {}, None),
        ('{ video(id: "not-an-id") { id } }', {}, None),
        ("{ videos(first: 0) { edges { cursor } } }", {}, None),
        # a nullable root field's error is reported beside a non-null one that nulls data
        ('{ videos(first: 0) { edges { cursor } } video(id: "bad") { id } }', {}, None),
        ("{ videos(first: 500) { pageInfo { hasNextPage } } }", {}, None),
        ('{ videos(after: "garbage") { pageInfo { hasNextPage } } }', {}, None),
        ("{ videos(status: PROCESSING) { edges { node { id } } } }", {}, None),
        (
            "query($o: ID, $s: VideoStatus) { videos(ownerId: $o, status: $s) "
            "{ nodes { id status failureReason } } }",
            {"o": ada, "s": "FAILED"},
            "ada",
        ),
        (
            "query($o: ID) { videos(ownerId: $o, first: 2) { pageInfo { endCursor } "
            "edges { cursor } } }",
            {"o": ada},
            None,
        ),
        # aliases, merged fields, __typename
        (
            "{ a: videos(first: 2) { edges { node { t: title title __typename } } } "
            "b: videos(first: 1) { __typename nodes { id owner { __typename n: displayName } "
            "owner { id } } } }",
            {},
            None,
        ),
        # fragments, inline fragments, nested fragments
        (
            "fragment V on Video { id ...O renditions { ...R } } fragment O on Video { owner "
            "{ displayName } } fragment R on Rendition { height } "
            "{ videos(first: 5) { edges { node { ...V ... on Video { title } "
            "... { status } } } } }",
            {},
            None,
        ),
        # directives with literals and variables, defaults
        (
            "query($yes: Boolean = true, $no: Boolean!) { videos(first: 3) { edges { node { "
            "id title @include(if: $yes) description @skip(if: $yes) tags @include(if: $no) "
            "owner @skip(if: false) { displayName } renditions @include(if: false) { height } "
            "} } } }",
            {"no": False},
            None,
        ),
        (
            "query($yes: Boolean = true, $no: Boolean!) { videos(first: 3) { edges { node { "
            "id title @include(if: $yes) description @skip(if: $yes) tags @include(if: $no) "
            "} } } }",
            {"yes": False, "no": True},
            None,
        ),
        ("query Named { viewer { id email displayName } }", {}, "ada"),
        ("query Named { viewer { id email displayName } }", {}, None),
        ("query A { viewer { id } } query B { videos { nodes { id } } }", {}, None),
        ('{ upload(id: "00000000-0000-0000-0000-000000000000") { id status } }', {}, "ada"),
        ('{ upload(id: "00000000-0000-0000-0000-000000000000") { id status } }', {}, None),
        (
            'mutation($id: ID!) { updateVideo(id: $id, input: {title: "x"}) { id } }',
            {"id": first},
            "bob",
        ),
        ('mutation { deleteVideo(id: "00000000-0000-0000-0000-000000000000") }', {}, "ada"),
        (
            'mutation { logIn(email: "nobody@example.com", password: "wrong-password") '
            "{ accessToken } }",
            {},
            None,
        ),
        (
            'mutation { a: deleteVideo(id: "nope") b: retryProcessing(videoId: "nope") { id } }',
            {},
            "ada",
        ),
    ]


async def test_edge_cases_answer_the_same(pair: Pair) -> None:
    for query, variables, viewer in edge_cases(pair.ids):
        operation = "B" if "query A" in query else None
        await pair.same(query, variables, viewer=viewer, operation_name=operation)
    assert pair.compared >= 28


async def test_edge_cases_answer_the_same_with_faults(pair: Pair) -> None:
    for seed in range(6):
        pair.plan.seed, pair.plan.rate = seed, 3
        for query, variables, viewer in edge_cases(pair.ids):
            if "logIn" in query:
                continue  # its rate limit answers with seconds left, which tick between runs
            operation = "B" if "query A" in query else None
            await pair.same(query, variables, viewer=viewer, operation_name=operation)
    assert pair.compared >= 6 * 27


async def test_what_the_compiler_does_not_run_falls_back(pair: Pair) -> None:
    fallbacks = pair.services.metrics.graphql_executions
    for query, reason in [
        ("{ __schema { queryType { name } } }", "introspection"),
        ("{ videos { nodes { id } } ", "invalid"),
        ("{ nope }", "invalid"),
        ("query A { viewer { id } } query B { viewer { id } }", "operation"),
    ]:
        before = fallbacks.labels("strawberry", reason)._value.get()
        await pair.same(query, must_compile=False)
        assert fallbacks.labels("strawberry", reason)._value.get() == before + 1, query
    before = fallbacks.labels("strawberry", "variables")._value.get()
    await pair.same(
        "query($n: Int!) { videos(first: $n) { nodes { id } } }", {"n": "x"}, must_compile=False
    )
    assert fallbacks.labels("strawberry", "variables")._value.get() == before + 1
    metrics = (await pair.compiled.get("/metrics")).text
    assert (
        'streamify_graphql_executions_total{fallback="introspection",path="strawberry"}' in metrics
    )


# Generated queries -----------------------------------------------------------------------------

SCALAR_FIELDS = {
    "Video": [
        "id",
        "title",
        "description",
        "tags",
        "visibility",
        "status",
        "duration",
        "createdAt",
        "updatedAt",
        "thumbnailUrl",
        "failureReason",
        "processingAttempts",
    ],
    "User": ["id", "displayName"],
    "Rendition": ["height", "width", "bitrate", "codecs"],
    "Manifest": ["url", "expiresAt"],
    "Storyboard": ["imageUrl", "vttUrl"],
    "PageInfo": ["hasNextPage", "endCursor"],
    "VideoEdge": ["cursor"],
    "VideoConnection": [],
    "Viewer": ["id", "email", "displayName"],
}
OBJECT_FIELDS = {
    "Video": [
        ("owner", "User"),
        ("renditions", "Rendition"),
        ("manifest", "Manifest"),
        ("storyboard", "Storyboard"),
    ],
    "VideoEdge": [("node", "Video")],
    "VideoConnection": [("edges", "VideoEdge"), ("nodes", "Video"), ("pageInfo", "PageInfo")],
    "User": [],
    "Rendition": [],
    "Manifest": [],
    "Storyboard": [],
    "PageInfo": [],
    "Viewer": [],
}


@st.composite
def selection(draw: st.DrawFn, type_name: str, depth: int = 0) -> str:
    """A selection set over `type_name`: fields with aliases and directives, fragments."""
    choices = [*SCALAR_FIELDS[type_name], "__typename"]
    if depth < 4:
        choices += [name for name, _ in OBJECT_FIELDS[type_name]]
    objects = dict(OBJECT_FIELDS[type_name])
    picked = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=6))
    parts = []
    for name in picked:
        text = name
        if draw(st.integers(0, 4)) == 0:
            # An alias per field name: two aliases of one field merge, never two fields.
            text = f"{draw(st.sampled_from(['a', 'b']))}_{name.strip('_')}: {name}"
        directive = draw(
            st.sampled_from(
                [
                    "",
                    "",
                    "",
                    "@skip(if: true)",
                    "@include(if: true)",
                    "@skip(if: $flag)",
                    "@include(if: $flag)",
                ]
            )
        )
        if name in objects:
            text = f"{text} {directive} {{ {draw(selection(objects[name], depth + 1))} }}"
        else:
            text = f"{text} {directive}"
        if draw(st.integers(0, 5)) == 0:
            text = f"... on {type_name} {{ {text} }}"
        parts.append(text)
    return " ".join(parts)


@st.composite
def generated_query(draw: st.DrawFn, ids: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
    root = draw(st.sampled_from(["videos", "video", "viewer", "both"]))
    variables: dict[str, Any] = {"flag": draw(st.booleans())}
    fields = []
    if root in ("videos", "both"):
        args = []
        first = draw(st.sampled_from([None, 1, 2, 5, 50, 0]))
        if first is not None:
            args.append(f"first: {first}")
        status = draw(st.sampled_from([None, "READY", "FAILED", "PROCESSING"]))
        if status is not None:
            args.append(f"status: {status}")
        if draw(st.booleans()):
            args.append(f'ownerId: "{draw(st.sampled_from(ids["users"]))}"')
        arguments = f"({', '.join(args)})" if args else ""
        fields.append(f"videos{arguments} {{ {draw(selection('VideoConnection'))} }}")
    if root in ("video", "both"):
        variables["id"] = draw(st.sampled_from([*ids["videos"], "bad-id"]))
        fields.append(f"video(id: $id) {{ {draw(selection('Video'))} }}")
    if root == "viewer":
        fields.append(f"viewer {{ {draw(selection('Viewer'))} }}")
    fields.append("flagged: __typename @skip(if: $flag)")  # $flag is always used
    definitions = "$flag: Boolean!" + (", $id: ID!" if "id" in variables else "")
    return f"query({definitions}) {{ {' '.join(fields)} }}", variables


@pytest.mark.slow
async def test_generated_queries_answer_the_same(pair: Pair) -> None:
    examples: list[tuple[str, dict[str, Any], str | None, int, int]] = []

    @hypothesis_settings(
        max_examples=300,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        generated_query(pair.ids),
        st.sampled_from([None, "ada", "bob"]),
        st.integers(0, 2**16),
        st.sampled_from([0, 0, 1, 3, 8]),
    )
    def collect(
        query: tuple[str, dict[str, Any]], viewer: str | None, seed: int, rate: int
    ) -> None:
        examples.append((*query, viewer, seed, rate))

    collect()
    for query, variables, viewer, seed, rate in examples:
        pair.plan.seed, pair.plan.rate = seed, rate
        await pair.same(query, variables, viewer=viewer)
    assert pair.compared == len(examples) >= 300
    assert pair.compared - pair.invalid >= 200  # most validate, and those ran compiled
    print(f"{pair.compared} generated queries compared, {pair.invalid} did not validate")


@pytest.mark.slow
async def test_hypothesis_graphql_queries_answer_the_same(pair: Pair) -> None:
    sdl = print_schema(build_schema(Settings())._schema)
    examples: list[str] = []

    @hypothesis_settings(
        max_examples=200,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(graphql_queries(sdl, fields=["video", "videos", "viewer"]))
    def collect(query: str) -> None:
        examples.append(query)

    collect()
    for index, query in enumerate(examples):
        pair.plan.seed, pair.plan.rate = index, index % 4
        await pair.same(query)
    assert pair.compared == len(examples) >= 200
    print(f"{pair.compared} hypothesis-graphql queries compared, {pair.invalid} did not validate")
