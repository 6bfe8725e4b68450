"""The parent's side of chunked encoding: delay every chunk run in order (the lowest rung's
first), then see each through to its end.

Prefect's task runs have no heartbeat: a run whose encoder was killed stays RUNNING forever.
So each chunk gets a deadline once an encoder has started it (a multiple of what its group's
chunks took so far, or the step limit before any finished); past it the run is marked crashed
and the chunk is delayed again. Outputs go to deterministic keys, so the lost run finishing
after all is harmless: it writes the same objects."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.context import EngineContext, TaskRunContext
from prefect.futures import PrefectDistributedFuture
from prefect.states import Crashed

from streamify.infra.settings import Settings
from streamify.pipelines.transcode.chunk_task import encode_chunk
from streamify.pipelines.transcode.encoding import Chunk
from streamify.pipelines.transcode.media import MediaError, Rung, SourceInfo

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
# Runs of one chunk that may fail on our side (storage, an encoder's disk) before the video
# is handed back; a lost run (deadline) does not count.
MAX_FAILED_RUNS = 3


def _delay_detached(kwargs: dict[str, Any]) -> PrefectDistributedFuture[Any]:
    """Delay a chunk run without the flow run's context. Prefect would pickle that context
    (the flow object, and by value its function's globals) into every chunk's parameters: heavy,
    and it fails on anything unpicklable a module holds. Runs in to_thread's copy of the
    context, so the flow's own context is untouched."""
    EngineContext.__var__.set(None)  # type: ignore[arg-type]
    TaskRunContext.__var__.set(None)  # type: ignore[arg-type]
    return encode_chunk.apply_async(kwargs=kwargs)


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

    def deadline(self, group: int) -> float:
        longest = self.observed.longest(group)
        expected = self.timeout_seconds if longest is None else longest
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
            "timeout_seconds": self.timeout_seconds,
        }
        # apply_async blocks on its API calls: off the event loop, which runs the others.
        future = await asyncio.to_thread(_delay_detached, kwargs)
        return cast(PrefectDistributedFuture[dict[str, float]], future)

    async def run_all(self, jobs: list[ChunkJob]) -> None:
        """Delay every job in order, then wait for all; the first failure cancels the rest."""
        futures = [await self.submit(job) for job in jobs]
        async with asyncio.TaskGroup() as group:
            for job, future in zip(jobs, futures, strict=True):
                group.create_task(self.see_through(job, future))

    async def see_through(
        self, job: ChunkJob, future: PrefectDistributedFuture[dict[str, float]]
    ) -> None:
        submitted = time.monotonic()
        failures = 0
        async with get_client() as client:
            while True:
                await future.wait_async(timeout=POLL_SECONDS)
                task_run = await client.read_task_run(future.task_run_id)
                state = task_run.state
                if state is None:
                    continue
                if state.type is StateType.COMPLETED:
                    if task_run.start_time and task_run.end_time:
                        ran = (task_run.end_time - task_run.start_time).total_seconds()
                        self.observed.add(job.group, ran)
                    await self.on_done(job)
                    return
                if state.type is StateType.FAILED:
                    try:
                        await state.aresult(raise_on_failure=True)
                    except MediaError:
                        raise
                    except Exception as exc:
                        failures += 1
                        log.warning(
                            "chunk %d of video %s failed (%s)",
                            job.chunk.index,
                            self.video_id,
                            type(exc).__name__,
                        )
                        if failures >= MAX_FAILED_RUNS:
                            raise ChunkFailed(str(exc)) from exc
                    future, submitted = await self.submit(job), time.monotonic()
                    continue
                if state.type in (StateType.CRASHED, StateType.CANCELLED):
                    future, submitted = await self.submit(job), time.monotonic()
                    continue
                if state.type is StateType.RUNNING and task_run.start_time is not None:
                    running = (datetime.now(UTC) - task_run.start_time).total_seconds()
                    limit = self.deadline(job.group)
                    if running > limit:
                        await self._give_up(client, future, job, limit)
                        future, submitted = await self.submit(job), time.monotonic()
                    continue
                waited = time.monotonic() - submitted
                if waited > self.settings.transcode_encoder_wait_seconds:
                    raise NoEncoder(f"No encoder took the work within {waited:.0f} s.")

    async def _give_up(
        self, client: Any, future: PrefectDistributedFuture[Any], job: ChunkJob, limit: float
    ) -> None:
        """The run's encoder is presumed dead: the run is marked so, and counted."""
        self.resubmitted += 1
        log.warning(
            "chunk %d of video %s ran past its %.0f s deadline: submitted again",
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
