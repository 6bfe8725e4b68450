"""An encoder: a Prefect task worker that takes a chunk run only when it can start it.

Prefect's task worker acknowledges a run the moment it arrives, and the server hands a socket
its next run as soon as the last one is acknowledged. So a worker at its limit already holds
the next run while idle workers beside it wait: measured through `streamify dev`, both of a
minute's two lowest-rung chunks went to one of two encoders, one after the other, and the video
became playable 8 s late. This worker acknowledges a run only when it has room for another
(Celery's "late acknowledgement"): the server, waiting for that, gives the next run to a worker
with room. A run whose encoder dies before acknowledging it goes back into the queue (the
server's doing) and another encoder runs it at once; one the flow has given up meanwhile (it
marked the run CRASHED at its deadline and submitted the chunk again) is skipped, so no stale
chunk is encoded or written after its video moved on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import orjson
import websockets.exceptions
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType, TaskRun
from prefect.client.subscriptions import Subscription
from prefect.settings import get_current_settings
from prefect.task_worker import StopTaskWorker, TaskWorker

log = logging.getLogger(__name__)

SCHEDULED_RUNS_PATH = "/task_runs/subscriptions/scheduled"
WANTED = (StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING)
ACK = orjson.dumps({"type": "ack"}).decode()


class RoomFirstSubscription(Subscription[TaskRun]):
    """Scheduled task runs, each acknowledged only once `room()` says another can start."""

    def __init__(self, room: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._room = room
        self._unacknowledged = False

    async def __anext__(self) -> TaskRun:
        while True:
            try:
                await self._ensure_connected()  # type: ignore[no-untyped-call]
                if self._unacknowledged:
                    await self._room()
                    await self.websocket.send(ACK)
                    self._unacknowledged = False
                message = await self.websocket.recv()
                self._unacknowledged = True
                return self.model.model_validate_json(message)
            except (ConnectionRefusedError, websockets.exceptions.ConnectionClosedError):
                # The server put back what it had not heard acknowledged.
                await self.close()
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        connected = self._websocket is not None or hasattr(self._connect, "protocol")
        self._websocket = None
        self._unacknowledged = False
        if connected:
            await self._connect.__aexit__(None, None, None)


class RoomFirstWorker(TaskWorker):
    """TaskWorker whose subscription asks for a run only when it has room to start one."""

    async def room(self) -> None:
        """Until one more run could start now."""
        if self._limiter is None:
            return
        probe = object()
        await self._limiter.acquire_on_behalf_of(probe)
        self._limiter.release_on_behalf_of(probe)

    async def still_wanted(self, task_run: TaskRun) -> bool:
        """Whether the run is still to be run: scheduled, or running where an encoder was
        lost (what the server hands out again). What it carries is its state when first
        queued: the API says what it is now."""
        try:
            async with get_client() as client:
                now = await client.read_task_run(task_run.id)
        except Exception:
            log.warning("could not read task run %s; running it", task_run.id)
            return True
        kind = now.state.type if now.state is not None else None
        if kind in WANTED:
            return True
        log.info("skipped task run %s: it is %s", task_run.id, kind)
        return False

    async def _subscribe_to_task_scheduling(self) -> None:
        base_url = get_current_settings().api.url
        if base_url is None:
            raise ValueError("PREFECT_API_URL must be set to run an encoder.")
        subscription = RoomFirstSubscription(
            self.room,
            model=TaskRun,
            path=SCHEDULED_RUNS_PATH,
            keys=self.task_keys,
            client_id=self.client_id,
            base_url=base_url,
        )
        try:
            async for task_run in subscription:
                if not await self.still_wanted(task_run):
                    continue
                log.info("took task run %s (%s)", task_run.id, task_run.name)
                if await self._acquire_token(task_run.id):
                    assert self._runs_task_group is not None, "the task group starts with us"
                    self._runs_task_group.start_soon(self._safe_submit_scheduled_task_run, task_run)
        finally:
            with anyio.CancelScope(shield=True):
                await subscription.close()


async def serve(worker: RoomFirstWorker) -> None:
    """Run the worker until it is stopped (SIGTERM, or interrupted)."""
    stopped = (StopTaskWorker, asyncio.CancelledError, KeyboardInterrupt)
    try:
        await worker.astart()
    except BaseExceptionGroup as group:
        _, unexpected = group.split(stopped)
        if unexpected:
            raise unexpected from None
    except stopped:
        pass
    log.info("encoder stopped")
