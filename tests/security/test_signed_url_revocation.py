"""A visibility change revokes the signed URLs handed out before it, through the nginx CDN
(issue 22.6). Before, UNLISTED and PRIVATE media both live under signed/{id}/, so a URL handed
out while the video was UNLISTED kept playing for up to an hour after it became PRIVATE."""

from __future__ import annotations

import time

import httpx

from tests.helpers import gql
from tests.infra.test_cdn import _plays_through, _urls, _video
from tests.servers import CdnStack

MAKE = (
    "mutation($id: ID!, $v: Visibility!) { updateVideo(id: $id, input: {visibility: $v}) { id } }"
)


async def _visibility(stack: CdnStack, video_id: object, visibility: str) -> None:
    done = await gql(stack.api, MAKE, {"id": str(video_id), "v": visibility}, token=stack.token)
    assert "errors" not in done, done


async def test_unlisted_to_private_and_back_revokes_what_was_handed_out(
    cdn_stack: CdnStack,
) -> None:
    stack = cdn_stack
    video = await _video(stack, "UNLISTED")
    shared = await _urls(stack, video, token=None)  # what anyone with the link got
    async with httpx.AsyncClient() as http:
        await _plays_through(http, shared["master"])
        for name in ("poster", "sprite", "vtt"):
            assert (await http.get(shared[name])).status_code == 200, name

        await _visibility(stack, video, "PRIVATE")
        changed = time.monotonic()
        for name in ("master", "poster", "sprite", "vtt"):
            answer = await http.get(shared[name])
            assert answer.status_code == 403, (name, answer.status_code)
        assert time.monotonic() - changed < 3  # at once: the first request after is refused
        # The owner's fresh URLs play.
        owners = await _urls(stack, video, token=stack.token)
        await _plays_through(http, owners["master"])

        # Back to UNLISTED: the owner's URLs from the PRIVATE days stop too.
        await _visibility(stack, video, "UNLISTED")
        assert (await http.get(owners["master"])).status_code == 403
        again = await _urls(stack, video, token=None)
        await _plays_through(http, again["master"])
