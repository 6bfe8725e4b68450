"""Which task failures the flow retries: transient ones only. A permanent one (not a video,
over a limit, deleted, lost to another run) fails the task at once."""

from __future__ import annotations

import uuid

import pytest
from prefect.client.schemas.objects import State
from prefect.states import Failed

from streamify.pipelines.transcode.flow import VideoGone, _retry_unless_media_error
from streamify.pipelines.transcode.media import MediaError
from streamify.writes.videos import LeaseLost


@pytest.mark.parametrize(
    ("failure", "retried"),
    [
        (MediaError("The uploaded file is not a video we can read."), False),
        (VideoGone("The video was deleted."), False),
        (LeaseLost(uuid.uuid4(), "run-a", "run-b"), False),
        (ConnectionError("S3 did not answer"), True),
        (OSError("disk"), True),
    ],
)
async def test_only_transient_failures_are_retried(failure: Exception, retried: bool) -> None:
    # As Prefect's async task engine hands it over: a Failed state holding the exception.
    state: State[None] = Failed(data=failure)
    assert await _retry_unless_media_error(None, None, state) is retried  # type: ignore[arg-type]
