"""Signed playback URLs, as CloudFront signs and checks them: a custom policy (one resource,
with a wildcard, and an expiry), signed with RSA-SHA1 (CloudFront's algorithm for them),
carried as the `Policy`, `Signature` and `Key-Pair-Id` query parameters. One signature covers
every file under a video's signed folder, so the same parameters go on the master playlist,
each rendition's playlist, every segment, the poster and the storyboard. The API signs;
CloudFront checks with the public key of its trusted key group, and the dev and compose CDNs
ask the API's `PlaybackVerifier` (the same check)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from botocore.signers import CloudFrontSigner
from cachetools import LRUCache
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from streamify.infra.settings import Settings

SIGNATURE_PARAMS = ("Policy", "Signature", "Key-Pair-Id")


@dataclass(frozen=True, slots=True)
class SignedQuery:
    """The query parameters that let a request through, and until when (epoch seconds)."""

    query: str
    expires_at: int


def _b64(data: bytes) -> str:
    # CloudFront's URL-safe base64: + - , = _ , / ~
    return base64.b64encode(data).decode().translate(str.maketrans("+=/", "-_~"))


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.translate(str.maketrans("-_~", "+=/")), validate=True)


@lru_cache(maxsize=8)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the playback signing key must be an RSA private key")
    return key


def public_key_pem(private_pem: str) -> str:
    """The public half, in the form CloudFront's key groups take."""
    public = _private_key(private_pem).public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


class PlaybackSigner:
    def __init__(self, key_pair_id: str, private_key_pem: str, ttl_seconds: int) -> None:
        key = _private_key(private_key_pem)
        self.key_pair_id = key_pair_id
        self.ttl_seconds = ttl_seconds
        self._signer = CloudFrontSigner(
            key_pair_id,
            lambda message: key.sign(message, padding.PKCS1v15(), hashes.SHA1()),  # noqa: S303
        )
        # An RSA signature costs about a millisecond, and `expiry` keeps one value for half a
        # TTL: a page of 50 signed videos signs each once per half-TTL, not per request.
        self._signed: LRUCache[tuple[str, int, int], SignedQuery] = LRUCache(maxsize=100_000)

    def expiry(self, now: float) -> int:
        """Now plus between half the TTL and the TTL, the same for half a TTL at a time: URLs
        handed out meanwhile are equal, so browsers and the response cache can reuse them."""
        step = max(1, self.ttl_seconds // 2)
        return int(math.floor(now / step) * step + self.ttl_seconds)

    def sign(self, resource: str, expires_at: int, *, not_before: int = 0) -> SignedQuery:
        """Parameters valid for every URL that `resource` (with `*` wildcards) matches, from
        `not_before` (a policy's DateGreaterThan; 0: none) until `expires_at`."""
        key = (resource, expires_at, not_before)
        found = self._signed.get(key)
        if found is None:
            found = self._signed[key] = self._sign(resource, expires_at, not_before)
        return found

    def _sign(self, resource: str, expires_at: int, not_before: int) -> SignedQuery:
        condition: dict[str, Any] = {"DateLessThan": {"AWS:EpochTime": expires_at}}
        if not_before:
            condition["DateGreaterThan"] = {"AWS:EpochTime": not_before}
        policy = {"Statement": [{"Resource": resource, "Condition": condition}]}
        document = json.dumps(policy, separators=(",", ":")).encode()
        signature = self._signer.rsa_signer(document)
        query = urlencode(
            {
                "Policy": _b64(document),
                "Signature": _b64(signature),
                "Key-Pair-Id": self.key_pair_id,
            }
        )
        return SignedQuery(query, expires_at)


def _matches(resource: str, url: str) -> bool:
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource)
    return re.fullmatch(pattern, url, flags=re.DOTALL) is not None


class PlaybackVerifier:
    """CloudFront's check of a signed URL with a custom policy."""

    def __init__(self, public_keys: dict[str, str]) -> None:
        self.keys = {}
        for key_id, pem in public_keys.items():
            key = serialization.load_pem_public_key(pem.encode())
            if not isinstance(key, rsa.RSAPublicKey):
                raise ValueError("playback verification keys must be RSA public keys")
            self.keys[key_id] = key

    def refusal(  # noqa: PLR0911 (one refusal per check, as CloudFront answers them)
        self, url: str, params: dict[str, str], now: float, *, issued_since: int = 0
    ) -> str | None:
        """Why `url` (without its query) with these query parameters is refused; None when it
        may be served. With `issued_since`, a policy whose DateGreaterThan is older (handed out
        before who may see the video last changed) is refused too: CloudFront's own check, plus
        revocation."""
        policy, signature, key_id = (params.get(name) for name in SIGNATURE_PARAMS)
        if not policy or not signature or not key_id:
            return "not signed"
        key = self.keys.get(key_id)
        if key is None:
            return "unknown key pair"
        try:
            document = _unb64(policy)
            key.verify(_unb64(signature), document, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
            (statement,) = json.loads(document)["Statement"]
            resource = statement["Resource"]
            condition = statement["Condition"]
            expires_at = condition["DateLessThan"]["AWS:EpochTime"]
            not_before = condition.get("DateGreaterThan", {}).get("AWS:EpochTime", 0)
        except (binascii.Error, InvalidSignature):
            return "bad signature"
        except (ValueError, KeyError, TypeError):
            return "malformed policy"
        if not isinstance(expires_at, int) or not isinstance(not_before, int):
            return "malformed policy"
        if "IpAddress" in condition:
            return "unsupported policy"  # we never issue them: refuse rather than ignore
        if now >= expires_at:
            return "expired"
        if now < not_before:
            return "not valid yet"
        if not isinstance(resource, str) or not _matches(resource, url):
            return "signed for another resource"
        if not_before < issued_since:
            return "revoked: handed out before the video's access changed"
        return None


@dataclass(frozen=True, slots=True)
class Playback:
    """What signs playback URLs and checks them, from the settings."""

    signer: PlaybackSigner
    verifier: PlaybackVerifier


def playback_from(settings: Settings) -> Playback:
    pem = settings.playback_private_key
    return Playback(
        signer=PlaybackSigner(
            settings.playback_key_pair_id, pem, settings.playback_url_ttl_seconds
        ),
        verifier=PlaybackVerifier({settings.playback_key_pair_id: public_key_pem(pem)}),
    )
