"""Request signing for the upstream platforms: HMAC-SHA256 over method, path, time, nonce and body digest.

Both sides use this module — the publisher signs every attempt, the platform simulator verifies —
so the string that is signed exists in exactly one place. The contract is written down in
`docs/platform_api.md`:

    X-Signature = hex(HMAC-SHA256(secret, METHOD + "\\n" + path + "\\n" + timestamp + "\\n" + nonce
                                          + "\\n" + hex(SHA-256(body))))

The path is the request path as sent on the wire (percent-encoded, no query string). Nonce replay
is not checked here: only a server can remember which nonces it has seen.

Secrets never appear in return values other than the signature itself, in messages or in reprs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

HEADER_APP_KEY = "X-App-Key"
HEADER_TIMESTAMP = "X-Timestamp"
HEADER_NONCE = "X-Nonce"
HEADER_CONTENT_SHA256 = "X-Content-SHA256"
HEADER_SIGNATURE = "X-Signature"
SIGNATURE_HEADERS = (HEADER_APP_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_CONTENT_SHA256, HEADER_SIGNATURE)

DEFAULT_WINDOW_SECONDS = 300

# A nonce is an opaque token; uuid4 hex is what `sign` makes, anything of this shape is accepted.
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,128}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class SignatureProblem:
    """Why a request is not authenticated: a stable `code` for programs and a "中文 / English" message."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def body_sha256(body: bytes) -> str:
    """Hex SHA-256 of the exact body bytes (an empty body has a digest too)."""
    return hashlib.sha256(body).hexdigest()


def string_to_sign(method: str, path: str, timestamp: int | str, nonce: str, content_sha256: str) -> str:
    """The canonical string the signature covers; the query string is not part of it."""
    return "\n".join([method.upper(), _path_only(path), str(timestamp), nonce, content_sha256.lower()])


def _path_only(path: str) -> str:
    return path.split("?", 1)[0].split("#", 1)[0]


def _hmac_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(method: str, path: str, body: bytes, app_key: str, secret: str, timestamp: int | None = None,
         nonce: str | None = None) -> dict[str, str]:
    """The five signature headers for one attempt; call again for every retry (the nonce must be fresh)."""
    if not isinstance(body, bytes | bytearray):
        raise TypeError("body must be bytes (encode the JSON once and send exactly those bytes)")
    if not app_key:
        raise ValueError("app key must not be empty")
    if not secret:
        raise ValueError("secret must not be empty")
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    nonce = uuid.uuid4().hex if nonce is None else nonce
    digest = body_sha256(bytes(body))
    return {
        HEADER_APP_KEY: app_key,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_CONTENT_SHA256: digest,
        HEADER_SIGNATURE: _hmac_hex(secret, string_to_sign(method, path, timestamp, nonce, digest)),
    }


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison that also copes with non-ASCII header values (compare_digest on str does not)."""
    return hmac.compare_digest(expected.encode("utf-8"), given.strip().lower().encode("utf-8", "replace"))


def verify(method: str, path: str, body: bytes, headers: Mapping[str, str],
           secret_for_app_key: Callable[[str], str | None], now: float,
           window_seconds: int = DEFAULT_WINDOW_SECONDS) -> SignatureProblem | None:
    """None when the request is signed by a known app key over this very body within the time window.

    Checks, in order: all headers present and well-formed, app key known, body digest, signature,
    timestamp within `window_seconds` of `now`. Header names are matched case-insensitively.
    """
    given = {str(name).lower(): str(value).strip() for name, value in headers.items()}
    missing = [name for name in SIGNATURE_HEADERS if not given.get(name.lower())]
    if missing:
        return SignatureProblem("missing_signature", f"缺少签名请求头 {', '.join(missing)} / "
                                                     f"missing signature headers: {', '.join(missing)}")
    app_key = given[HEADER_APP_KEY.lower()]
    timestamp = given[HEADER_TIMESTAMP.lower()]
    nonce = given[HEADER_NONCE.lower()]
    content_sha256 = given[HEADER_CONTENT_SHA256.lower()]
    signature = given[HEADER_SIGNATURE.lower()]
    if not _TIMESTAMP.fullmatch(timestamp):
        return SignatureProblem("missing_signature", "X-Timestamp 须为 Unix 秒数 / X-Timestamp must be unix seconds")
    if not _NONCE.fullmatch(nonce):
        return SignatureProblem("missing_signature", "X-Nonce 须为 8–128 位字母、数字、-、_ / "
                                                     "X-Nonce must be 8-128 characters of A-Z, a-z, 0-9, - and _")
    if not _HEX64.fullmatch(content_sha256) or not _HEX64.fullmatch(signature):
        return SignatureProblem("missing_signature", "X-Content-SHA256 与 X-Signature 须为 64 位十六进制 / "
                                                     "X-Content-SHA256 and X-Signature must be 64 hex digits")
    secret = secret_for_app_key(app_key)
    if not secret:
        return SignatureProblem("unknown_app_key", "应用标识未登记 / unknown app key")
    actual_digest = body_sha256(bytes(body))
    if not _same(actual_digest, content_sha256):
        return SignatureProblem("bad_digest", "请求体摘要与 X-Content-SHA256 不符 / "
                                              "the body does not match X-Content-SHA256")
    expected = _hmac_hex(secret, string_to_sign(method, path, timestamp, nonce, actual_digest))
    if not _same(expected, signature):
        return SignatureProblem("bad_signature", "签名校验失败 / the signature does not match")
    if abs(now - int(timestamp)) > window_seconds:
        return SignatureProblem("clock_skew", f"时间戳超出允许的 ±{window_seconds} 秒 / "
                                              f"timestamp is more than {window_seconds} s from the server's clock")
    return None
