"""What a player is handed, and what the CDN may serve.

PUBLIC videos' media live under `videos/{id}/` and play from plain CDN URLs. Every other
video's media live under `signed/{id}/`, and their URLs carry a CloudFront-style signature
(`infra/playback_signing`) bound to that folder and an expiry; their playlists and storyboard
index are served rewritten (`resolvers/playlists`) so every file they name carries it too.

The dev and compose CDNs ask `authorize_media` about every request before they serve it, from
their cache or the bucket: the signature, and whether the video still exists with that
visibility — so a deletion or a visibility change takes effect at once, cached copies
included."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlencode

from streamify.domain import Video, VideoStatus, Visibility
from streamify.infra.playback_signing import SIGNATURE_PARAMS
from streamify.names import (
    SIGNED_PREFIX,
    STORYBOARD_INDEX,
    STORYBOARD_SPRITE,
    caption_file,
    media_prefix,
    parse_media_path,
    published_key,
)
from streamify.resolvers.context import Context
from streamify.resolvers.playlists import signed_mpd, signed_playlist, signed_webvtt
from streamify.resolvers.storage_call import storage_call

TEXT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".vtt": "text/vtt",
}


def needs_signature(visibility: Visibility) -> bool:
    return visibility is not Visibility.PUBLIC


@dataclass(frozen=True, slots=True)
class MediaUrls:
    manifest: str | None
    thumbnail: str | None
    storyboard_image: str | None
    storyboard_vtt: str | None
    expires_at: int | None  # None: unsigned, they do not expire
    dash: str | None = None  # the DASH manifest, beside `manifest` (signed alike)
    # Each of `video.captions`' whole WebVTT file, in its order; None until published.
    captions: tuple[str | None, ...] = ()


NO_MEDIA = MediaUrls(None, None, None, None, None)


def _storyboard_paths(thumbnail_path: str) -> tuple[str, str]:
    # The storyboard sits beside the poster (demo videos share another video's folder).
    folder = thumbnail_path.rsplit("/", 1)[0]
    return f"{folder}/{STORYBOARD_SPRITE}", f"{folder}/{STORYBOARD_INDEX}"


def _caption_paths(video: Video) -> list[str | None]:
    # Beside the master, in the stream's folder.
    if not video.playable or video.manifest_path is None:
        return [None] * len(video.captions)
    folder = video.manifest_path.rsplit("/", 1)[0]
    return [f"{folder}/{caption_file(c.language)}" for c in video.captions]


def media_urls(ctx: Context, video: Video, *, now: float | None = None) -> MediaUrls:
    """The video's playback URLs for whoever may see it (callers check `can_view` first)."""
    paths = [
        video.manifest_path if video.playable else None,
        video.thumbnail_path,
        # The storyboard is published last, just before READY.
        *(
            _storyboard_paths(video.thumbnail_path)
            if video.thumbnail_path and video.status is VideoStatus.READY
            else (None, None)
        ),
        video.dash_path if video.playable else None,
        *_caption_paths(video),
    ]
    if not any(paths):
        return NO_MEDIA
    cdn = ctx.settings.cdn_base_url.rstrip("/")
    signed = needs_signature(video.visibility)
    keys = [published_key(p, signed=True) if p and signed else p for p in paths]
    if not signed:
        manifest, poster, sprite, vtt, dash, *captions = (f"{cdn}/{k}" if k else None for k in keys)
        return MediaUrls(
            manifest, poster, sprite, vtt, expires_at=None, dash=dash, captions=tuple(captions)
        )
    folder = next(k for k in keys if k is not None)
    parsed = parse_media_path(folder)
    if parsed is None:
        return NO_MEDIA  # a path this platform never writes
    resource = f"{cdn}/{media_prefix(parsed[1], signed=True)}*"
    signer = ctx.playback.signer
    signature = signer.sign(
        resource,
        signer.expiry(time.time() if now is None else now),
        not_before=video.access_generation,
    )
    ctx.signed_urls = True
    manifest, poster, sprite, vtt, dash, *captions = (
        f"{cdn}/{k}?{signature.query}" if k else None for k in keys
    )
    return MediaUrls(
        manifest,
        poster,
        sprite,
        vtt,
        expires_at=signature.expires_at,
        dash=dash,
        captions=tuple(captions),
    )


@dataclass(frozen=True, slots=True)
class MediaAccess:
    """The CDN's answer: serve `key` from the bucket, or refuse with `status`."""

    status: int
    reason: str
    key: str | None = None


async def authorize_media(  # noqa: PLR0911 (one answer per check)
    ctx: Context, path: str, params: dict[str, str], *, now: float | None = None
) -> MediaAccess:
    """May the CDN serve `path` (relative to its root) with these query parameters?"""
    key = path.lstrip("/")
    parsed = parse_media_path(key)
    if parsed is None:
        return MediaAccess(404, "not a media file")  # the bucket's root (a listing) included
    signed, video_id, _ = parsed
    video = await ctx.loaders.video_by_id.load(video_id)
    if video is None:
        return MediaAccess(404, "no such video")
    if not video.playable:
        return MediaAccess(404, "not published")
    if not signed:
        if needs_signature(video.visibility):
            return MediaAccess(403, "the video is not public")
        return MediaAccess(200, "public", key)
    if not needs_signature(video.visibility):
        return MediaAccess(404, "the video is public: its media are unsigned")
    url = f"{ctx.settings.cdn_base_url.rstrip('/')}/{key}"
    refusal = ctx.playback.verifier.refusal(
        url, params, time.time() if now is None else now, issued_since=video.access_generation
    )
    if refusal is not None:
        return MediaAccess(403, refusal)
    return MediaAccess(200, "signed", key)


@dataclass(frozen=True, slots=True)
class SignedText:
    body: str
    media_type: str


async def signed_text(
    ctx: Context, path: str, params: dict[str, str], *, now: float | None = None
) -> SignedText | MediaAccess:
    """A signed video's playlist or storyboard index, its URIs carrying the signature."""
    suffix = "." + path.rsplit(".", 1)[-1] if "." in path else ""
    if suffix not in TEXT_TYPES or not path.lstrip("/").startswith(SIGNED_PREFIX):
        return MediaAccess(404, "not a signed playlist or index")
    access = await authorize_media(ctx, path, params, now=now)
    if access.key is None:
        return access
    async with storage_call():
        stored = await ctx.storage.read_media(access.key)
    if stored is None:
        return MediaAccess(404, "no such file")
    query = urlencode({name: params[name] for name in SIGNATURE_PARAMS})
    text = stored.decode()
    if suffix == ".vtt" and not path.endswith(f"/{STORYBOARD_INDEX}"):
        return SignedText(text, TEXT_TYPES[suffix])  # captions: cue text, not URIs
    rewrite = {".m3u8": signed_playlist, ".mpd": signed_mpd}.get(suffix, signed_webvtt)
    return SignedText(rewrite(text, query), TEXT_TYPES[suffix])
