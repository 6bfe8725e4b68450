"""How an uploaded video's processing is started: a run of the transcoding deployment on
Prefect, or (with no Prefect API configured) nothing but the record of the event."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from uuid import UUID

from streamify.infra import request_ids
from streamify.names import TRANSCODE_DEPLOYMENT
from streamify.pipelines.triggers.event_intake import StartProcessing, StoredObject

log = logging.getLogger(__name__)


async def record_only(video_id: UUID, obj: StoredObject) -> None:
    """Without a Prefect API an uploaded video stays UPLOADED; the event is kept in s3_events
    so it can be processed later."""
    log.info("video %s uploaded (%s bytes); no Prefect API to process it", video_id, obj.size_bytes)


def prefect_starter(api_url: str) -> StartProcessing:
    """start_processing that creates a run of the transcoding deployment. The object's dedupe
    key is the run's idempotency key, so a repeated event cannot start a second run."""
    from prefect.client.orchestration import PrefectClient

    async def start(video_id: UUID, obj: StoredObject) -> None:
        # The request that started it (a webhook, completeUpload), for the worker's logs.
        request_id = request_ids.current.get()
        async with PrefectClient(api_url) as client:
            deployment = await client.read_deployment_by_name(TRANSCODE_DEPLOYMENT)
            run = await client.create_flow_run_from_deployment(
                deployment.id,
                parameters={"video_id": str(video_id)},
                idempotency_key=obj.dedupe_key,
                tags=[request_ids.run_tag(request_id)] if request_id else None,
            )
        log.info("started transcoding run %s for video %s", run.id, video_id)

    return start


# Marks a flow run whose worker died as crashed (its id, why).
MarkCrashed = Callable[[str, str], Awaitable[None]]


async def no_runs_to_mark(run: str, why: str) -> None:
    return None


def prefect_crash_marker(api_url: str) -> MarkCrashed:
    """Set a run that is still RUNNING (or PENDING) in Prefect, though its worker died, to
    CRASHED: a worker killed outright cannot report its own end, and Prefect's `serve` runner
    was that worker."""
    from prefect.client.orchestration import PrefectClient
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    async def mark(run: str, why: str) -> None:
        try:
            run_id = UUID(run)
        except ValueError:
            return  # a run outside Prefect's bookkeeping
        async with PrefectClient(api_url) as client:
            try:
                found = await client.read_flow_run(run_id)
            except ObjectNotFound:
                return
            if found.state is not None and not found.state.is_final():
                await client.set_flow_run_state(run_id, Crashed(message=why), force=True)
                log.warning("marked transcoding run %s crashed: %s", run, why)

    return mark
