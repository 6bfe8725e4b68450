"""Which failed task runs Prefect retries: transient failures only."""

from __future__ import annotations

from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State, TaskRun

from streamify.pipelines.transcode.media import MediaError
from streamify.writes.videos import LeaseLost


async def retry_unless_media_error(
    task: Task[..., Any], task_run: TaskRun, state: State[Any]
) -> bool:
    """Retry transient failures only: a source that is not a video stays not a video, and a
    run that lost its video stays without it. (Async: an async task's `state.result()` is a
    coroutine that raises nothing until awaited, which made every failure look transient.)"""
    failure = state.data
    if not isinstance(failure, BaseException):
        try:
            await state.aresult(raise_on_failure=True)
        except Exception as exc:  # the failure, as the state holds it
            failure = exc
    return not isinstance(failure, MediaError | LeaseLost)
