"""Signed playback URLs as CloudFront signs and checks them, and the signed copies of
playlists and storyboard indexes."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlsplit

from streamify.infra.playback_signing import PlaybackVerifier, playback_from, public_key_pem
from streamify.infra.settings import Settings
from streamify.resolvers.playlists import signed_mpd, signed_playlist, signed_webvtt

RESOURCE = "https://cdn.example.com/signed/0b3f2a9e-6c1d-4e55-9a63-1f6f3b0a8c21/*"
MASTER = "https://cdn.example.com/signed/0b3f2a9e-6c1d-4e55-9a63-1f6f3b0a8c21/hls/master.m3u8"


def _params(query: str) -> dict[str, str]:
    return dict(parse_qsl(query))


def test_signatures_are_cloudfronts_own_format() -> None:
    playback = playback_from(Settings())
    signed = playback.signer.sign(RESOURCE, 2_000_000_000)
    # botocore's CloudFrontSigner builds the URL CloudFront checks; ours carries the same.
    policy = playback.signer._signer.build_policy(RESOURCE, date_less_than=_utc(2_000_000_000))
    reference = playback.signer._signer.generate_presigned_url(MASTER, policy=policy)
    assert _params(urlsplit(reference).query) == _params(signed.query)
    assert set(_params(signed.query)) == {"Policy", "Signature", "Key-Pair-Id"}


def _utc(epoch: int):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    # botocore reads the datetime as naive UTC.
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def test_a_signature_lets_through_its_folder_until_it_expires_and_nothing_else() -> None:
    playback = playback_from(Settings())
    now = time.time()
    params = _params(playback.signer.sign(RESOURCE, int(now) + 60).query)
    check = playback.verifier.refusal
    assert check(MASTER, params, now) is None
    assert check(MASTER.replace("master.m3u8", "720p/seg_000.ts"), params, now) is None
    other = MASTER.replace("0b3f2a9e", "1b3f2a9e")
    assert check(other, params, now) == "signed for another resource"
    assert check(MASTER, params, now + 61) == "expired"
    assert check(MASTER, {**params, "Signature": params["Signature"][::-1]}, now) == (
        "bad signature"
    )
    assert check(MASTER, {**params, "Key-Pair-Id": "K-OTHER"}, now) == "unknown key pair"
    assert check(MASTER, {}, now) == "not signed"
    # A policy of our own making, signed by nobody, is refused.
    forged = _params(playback.signer.sign("https://cdn.example.com/*", int(now) + 60).query)
    assert check(MASTER, {**params, "Policy": forged["Policy"]}, now) == "bad signature"


def test_another_key_pairs_signature_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stranger.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    ours = playback_from(Settings())
    theirs = playback_from(Settings(playback_private_key=pem))
    params = _params(theirs.signer.sign(RESOURCE, int(time.time()) + 60).query)
    assert ours.verifier.refusal(MASTER, params, time.time()) == "bad signature"
    verifier = PlaybackVerifier({ours.signer.key_pair_id: public_key_pem(pem)})
    assert verifier.refusal(MASTER, params, time.time()) is None


def test_expiry_is_stable_for_half_a_ttl_and_always_at_least_half_a_ttl_away() -> None:
    signer = playback_from(Settings(playback_url_ttl_seconds=3600)).signer
    start = 1_800_000_000.0
    expiries = {signer.expiry(start + s) for s in range(0, 1800, 7)}
    assert len(expiries) <= 2
    for second in range(0, 7200, 13):
        left = signer.expiry(start + second) - (start + second)
        assert 1800 < left <= 3600


def test_every_uri_of_a_playlist_carries_the_signature() -> None:
    master = (
        "#EXTM3U\n#EXT-X-VERSION:6\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/index.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.64001f,mp4a.40.2"\n'
        "720p/index.m3u8\n"
    )
    out = signed_playlist(master, "Policy=p&Signature=s&Key-Pair-Id=k")
    assert 'URI="audio/index.m3u8?Policy=p&Signature=s&Key-Pair-Id=k"' in out
    assert "\n720p/index.m3u8?Policy=p&Signature=s&Key-Pair-Id=k\n" in out
    assert 'CODECS="avc1.64001f,mp4a.40.2"' in out  # attributes other than URI stay
    media = "#EXTM3U\n#EXTINF:4.0,\nseg_000.ts\n#EXTINF:4.0,\nseg_001.ts?x=1\n#EXT-X-ENDLIST\n"
    out = signed_playlist(media, "q=1")
    assert "seg_000.ts?q=1" in out and "seg_001.ts?x=1&q=1" in out
    assert out.count("#EXTINF") == 2 and out.endswith("#EXT-X-ENDLIST\n")


def test_every_template_of_a_dash_manifest_carries_the_signature() -> None:
    mpd = (
        '<?xml version="1.0" encoding="utf-8"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011">'
        '<Period><AdaptationSet><Representation id="240p" codecs="avc1.64000D">'
        '<SegmentTemplate timescale="1000" initialization="240p/init.mp4" '
        'media="240p/seg_$Number%05d$.m4s" startNumber="0"/></Representation>'
        "</AdaptationSet></Period></MPD>"
    )
    out = signed_mpd(mpd, "Policy=p&Signature=s&Key-Pair-Id=k")
    parsed = ET.fromstring(out)  # still XML: the query's & are escaped
    [template] = parsed.iter("{urn:mpeg:dash:schema:mpd:2011}SegmentTemplate")
    query = "?Policy=p&Signature=s&Key-Pair-Id=k"
    assert template.get("initialization") == "240p/init.mp4" + query
    assert template.get("media") == "240p/seg_$Number%05d$.m4s" + query
    assert template.get("timescale") == "1000" and 'id="240p"' in out  # the rest stays


def test_storyboard_tiles_carry_the_signature_before_their_fragment() -> None:
    vtt = (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nstoryboard.jpg#xywh=0,0,160,90\n\n"
        "00:00:01.000 --> 00:00:02.000\nstoryboard.jpg#xywh=160,0,160,90\n"
    )
    out = signed_webvtt(vtt, "q=1")
    assert out.startswith("WEBVTT\n")
    assert "storyboard.jpg?q=1#xywh=0,0,160,90" in out
    assert "storyboard.jpg?q=1#xywh=160,0,160,90" in out
    assert "00:00:01.000 --> 00:00:02.000" in out


def test_a_signature_from_an_older_access_generation_is_revoked() -> None:
    """The policy carries the video's access generation as DateGreaterThan (seconds after
    1970, so CloudFront's own date check passes it); a newer generation revokes it."""
    playback = playback_from(Settings())
    now = time.time()
    params = _params(playback.signer.sign(RESOURCE, int(now) + 60, not_before=3).query)
    check = playback.verifier.refusal
    assert check(MASTER, params, now, issued_since=3) is None
    assert check(MASTER, params, now) is None  # CloudFront's check: a date long past
    assert check(MASTER, params, now, issued_since=4) == (
        "revoked: handed out before the video's access changed"
    )
    # botocore's CloudFront policy, with the same DateGreaterThan, signs the same document.
    signer = playback.signer._signer
    policy = signer.build_policy(
        RESOURCE, date_less_than=_utc(int(now) + 60), date_greater_than=_utc(3)
    )
    reference = signer.generate_presigned_url(MASTER, policy=policy)
    assert _params(urlsplit(reference).query)["Policy"] == params["Policy"]
