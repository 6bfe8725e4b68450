"""The parent's side of chunked encoding: delay every chunk run in order (the lowest rung's
first), then see each through to its end.

Prefect's task runs have no heartbeat: a run whose encoder was killed stays RUNNING forever.
So each chunk gets a deadline once an encoder has started it (a multiple of what its group's
chunks took so far, or the step limit before any finished); past it the run is marked crashed
and the chunk is delayed again. Outputs go to deterministic keys, so the lost run finishing
after all is harmless: it writes the same objects."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from prefect import Task
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State, StateType, TaskRun
from prefect.context import EngineContext, TaskRunContext
from prefect.futures import PrefectDistributedFuture
from prefect.states import Crashed

from streamify.infra.settings import Settings
from streamify.pipelines.transcode.chunk_task import encode_chunk
from streamify.pipelines.transcode.encoding import Chunk
from streamify.pipelines.transcode.media import MediaError, Rung, SourceInfo
from streamify.pipelines.transcode.work_storage import work_storage

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
# Runs of one chunk that may fail on our side (storage, an encoder's disk) before the video
# is handed back; a lost run (deadline) does not count.
MAX_FAILED_RUNS = 3
# Chunks of one video in flight at least, whatever the count of encoders says.
MIN_IN_FLIGHT = 4


def video_tag(video_id: str) -> str:
    """The tag of a video's chunk runs (what the Prefect UI and the tests filter by)."""
    return f"video:{video_id}"


def _delay_detached(task: Task[..., Any], kwargs: dict[str, Any]) -> PrefectDistributedFuture[Any]:
    """Delay a chunk run without the flow run's context. Prefect would pickle that context
    (the flow object, and by value its function's globals) into every chunk's parameters: heavy,
    and it fails on anything unpicklable a module holds. Runs in to_thread's copy of the
    context, so the flow's own context is untouched."""
    EngineContext.__var__.set(None)  # type: ignore[arg-type]
    TaskRunContext.__var__.set(None)  # type: ignore[arg-type]
    return task.apply_async(kwargs=kwargs)


async def live_encoders() -> int:
    """Task workers serving the chunk task, as Prefect's server last saw them."""
    try:
        async with get_client() as client:
            found = await client._client.post(
                "/task_workers/filter",
                json={"task_worker_filter": {"task_keys": [encode_chunk.task_key]}},
            )
            found.raise_for_status()
            return len(found.json())
    except Exception:
        log.warning("could not count the encoders; assuming none")
        return 0


async def ready_to_submit(settings: Settings) -> int:
    """This process's work storage bound and the encoders counted (what planning and the first
    submission wait for): started beside the flow's first steps, not after them."""

    async def storage_client() -> None:
        # Its boto3 client (cached by prefect-aws) costs half a second to make: made now,
        # not by the first chunk's submission.
        storage = await work_storage(settings)
        await asyncio.to_thread(storage.credentials.get_client, "s3")

    _, encoders = await asyncio.gather(storage_client(), live_encoders())
    return encoders


class NoEncoder(Exception):
    """No encoder started a chunk in time: transient, the video is handed back."""


class ChunkFailed(Exception):
    """A chunk failed on our side in every run it was given."""


@dataclass(frozen=True, slots=True)
class ChunkJob:
    group: int  # 0: the lowest rung (playable first); 1: the rest of the ladder
    chunk: Chunk
    rungs: tuple[Rung, ...]


@dataclass
class Observed:
    """Seconds each finished chunk of a group ran on its encoder."""

    seconds: dict[int, list[float]] = field(default_factory=dict)

    def add(self, group: int, seconds: float) -> None:
        self.seconds.setdefault(group, []).append(seconds)

    def longest(self, group: int) -> float | None:
        found = self.seconds.get(group)
        return max(found) if found else None


async def wait_for_run(future: PrefectDistributedFuture[Any]) -> None:
    """Until the run ends or POLL_SECONDS pass. Prefect's wait raises when the task run has no
    state yet (created, not yet given one; seen with six flows submitting at once): that is
    a run still pending, waited for the same way."""
    try:
        await future.wait_async(timeout=POLL_SECONDS)
    except RuntimeError as exc:
        if "has no state" not in str(exc):
            raise
        await asyncio.sleep(POLL_SECONDS)


class ChunkRuns:
    """Every chunk of one video's ladder, delayed and seen through."""

    def __init__(
        self,
        video_id: str,
        info: SourceInfo,
        settings: Settings,
        *,
        timeout_seconds: float,
        on_done: Callable[[ChunkJob], Awaitable[None]],
    ) -> None:
        self.video_id = video_id
        self.info = info
        self.settings = settings
        self.timeout_seconds = timeout_seconds
        self.on_done = on_done
        self.observed = Observed()
        self.resubmitted = 0
        self.jobs: list[ChunkJob] = []
        # Submissions in order, and when (parent's clock) each was first seen started: a run
        # still waiting while a later one has started was handed to an encoder that holds it.
        self.order: dict[UUID, int] = {}
        self.started: dict[int, float] = {}

    def work(self, group: int) -> float:
        """Pixels a chunk of the group decodes and encodes per frame: how chunk times of one
        group predict another's."""
        rungs = next(job.rungs for job in self.jobs if job.group == group)
        return self.info.width * self.info.height + sum(r.width * r.height for r in rungs)

    def expected(self, group: int) -> float:
        """A chunk's expected run time: the longest of its group so far, else the longest of
        another group scaled by their work, else (nothing finished yet) the step limit."""
        longest = self.observed.longest(group)
        if longest is not None:
            return longest
        guesses = [
            seconds * self.work(group) / self.work(other)
            for other in self.observed.seconds
            if (seconds := self.observed.longest(other)) is not None
        ]
        return max(guesses) if guesses else self.timeout_seconds

    def deadline(self, group: int) -> float:
        expected = self.expected(group)
        return max(
            self.settings.transcode_chunk_min_deadline_seconds,
            self.settings.transcode_chunk_deadline_factor * expected,
        )

    async def submit(self, job: ChunkJob) -> PrefectDistributedFuture[dict[str, float]]:
        kwargs: dict[str, Any] = {
            "video_id": self.video_id,
            "chunk": asdict(job.chunk),
            "rungs": [asdict(r) for r in job.rungs],
            "source": asdict(self.info),
            "fast": job.group == 0,
            "timeout_seconds": self.timeout_seconds,
        }
        # apply_async blocks on its API calls: off the event loop, which runs the others.
        storage = await work_storage(self.settings)
        task = encode_chunk.with_options(tags={video_tag(self.video_id)}, result_storage=storage)
        future = await asyncio.to_thread(_delay_detached, task, kwargs)
        self.order[future.task_run_id] = len(self.order)
        return cast(PrefectDistributedFuture[dict[str, float]], future)

    async def run_all(self, jobs: list[ChunkJob], *, encoders: int) -> None:
        """Delay the jobs in order, at most `in_flight` at a time, and see each through; the
        first failure cancels the rest. The window keeps one video from filling Prefect's
        queue (first in, first out) ahead of everyone else's."""
        self.jobs = jobs
        room = self.in_flight(encoders)
        window = asyncio.Semaphore(room)
        # The lowest rung's first chunks are delayed together, not one API round after another:
        # the video is playable when the last of them is done.
        head = list(itertools.takewhile(lambda job: job.group == 0, jobs))[:room]
        async with asyncio.TaskGroup() as group:
            for _ in head:
                await window.acquire()
            futures = await asyncio.gather(*(self.submit(job) for job in head))
            for job, future in zip(head, futures, strict=True):
                group.create_task(self._through(job, future, window))
            for job in jobs[len(head) :]:
                await window.acquire()
                future = await self.submit(job)
                group.create_task(self._through(job, future, window))

    async def _through(
        self,
        job: ChunkJob,
        future: PrefectDistributedFuture[dict[str, float]],
        window: asyncio.Semaphore,
    ) -> None:
        try:
            await self.see_through(job, future)
        finally:
            window.release()

    def in_flight(self, encoders: int) -> int:
        if self.settings.transcode_chunks_in_flight:
            return self.settings.transcode_chunks_in_flight
        return max(MIN_IN_FLIGHT, 2 * encoders)

    async def see_through(
        self, job: ChunkJob, future: PrefectDistributedFuture[dict[str, float]]
    ) -> None:
        submitted = time.monotonic()
        failures = 0
        async with get_client() as client:
            while True:
                await wait_for_run(future)
                task_run = await client.read_task_run(future.task_run_id)
                if task_run.state is None:
                    continue
                kind = task_run.state.type
                if kind in (StateType.RUNNING, StateType.COMPLETED):
                    self.started.setdefault(self.order[future.task_run_id], time.monotonic())
                if kind is StateType.COMPLETED:
                    if task_run.start_time and task_run.end_time:
                        ran = (task_run.end_time - task_run.start_time).total_seconds()
                        self.observed.add(job.group, ran)
                    await self.on_done(job)
                    return
                if kind is StateType.FAILED:
                    failures += 1
                    await self._failed(job, task_run.state, failures)
                elif kind not in (StateType.CRASHED, StateType.CANCELLED):
                    limit = self._overdue(job, task_run, submitted)
                    if limit is None:
                        continue
                    await self._give_up(client, future, job, limit)
                future, submitted = await self.submit(job), time.monotonic()

    async def _failed(self, job: ChunkJob, state: State[Any], failures: int) -> None:
        """A media error fails the video; anything else is tried again a few times. Read from
        the state's message, which names the exception ("... MediaError: reason"): the stored
        exception is in the encoder's copy of the work storage, not ours."""
        said = state.message or ""
        marker = f"{MediaError.__name__}: "
        if marker in said:
            raise MediaError(said.split(marker, 1)[1])
        log.warning("chunk %d of video %s failed: %s", job.chunk.index, self.video_id, said)
        if failures >= MAX_FAILED_RUNS:
            raise ChunkFailed(said)

    def _overdue(self, job: ChunkJob, task_run: TaskRun, submitted: float) -> float | None:
        """The deadline a run still unfinished has passed, or None while it is in time."""
        if task_run.state is not None and task_run.state.type is StateType.RUNNING:
            if task_run.start_time is None:
                return None
            running = (datetime.now(UTC) - task_run.start_time).total_seconds()
            limit = self.deadline(job.group)
            return limit if running > limit else None
        # Waiting. A run submitted after it has started: an encoder took this one and has not
        # started it since (ours take a run only when they can start it; Prefect's own task
        # worker takes the next while it still runs one). It may be busy for a chunk's time;
        # after that it is dead or stuck.
        seq = self.order[task_run.id]
        overtaken = [t for later, t in self.started.items() if later > seq]
        limit = 2 * self.deadline(job.group)
        if overtaken and time.monotonic() - min(overtaken) > limit:
            return limit
        waited = time.monotonic() - submitted
        if waited > self.settings.transcode_encoder_wait_seconds:
            raise NoEncoder(f"No encoder took the work within {waited:.0f} s.")
        return None

    async def _give_up(
        self, client: Any, future: PrefectDistributedFuture[Any], job: ChunkJob, limit: float
    ) -> None:
        """The run's encoder is presumed dead: the run is marked so, and counted."""
        self.resubmitted += 1
        log.warning(
            "chunk %d of video %s not done within its %.0f s deadline: submitted again",
            job.chunk.index,
            self.video_id,
            limit,
        )
        try:
            await client.set_task_run_state(
                future.task_run_id,
                Crashed(message=f"No result within its {limit:.0f} s deadline."),
                force=True,
            )
        except Exception:
            log.warning("could not mark the lost chunk run %s", future.task_run_id)
