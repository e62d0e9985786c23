"""Unit tests of etl.publish.signing: the canonical string is pinned, and every tampering is caught."""

from __future__ import annotations

import hmac
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl.publish import signing
from etl.publish.signing import SIGNATURE_HEADERS, SignatureProblem, sign, string_to_sign, verify

pytestmark = pytest.mark.unit

SECRET = "s3cret"
NOW = 1_719_561_600
NONCE = "0123456789abcdef0123456789abcdef"
BODY = b'{"items": []}'


def secrets_of(app_key: str) -> str | None:
    return {"creditwh": SECRET}.get(app_key)


def check(headers: dict[str, str], method: str = "POST", path: str = "/api/v1/publicity", body: bytes = BODY,
          now: float = NOW, **kwargs) -> SignatureProblem | None:
    return verify(method, path, body, headers, secrets_of, now=now, **kwargs)


def test_known_vector_pins_the_canonical_string():
    # the same numbers as the worked example in docs/platform_api.md (checked with `openssl dgst -hmac`)
    headers = sign("POST", "/api/v1/publicity", BODY, "creditwh", SECRET, timestamp=NOW, nonce=NONCE)
    assert headers == {
        "X-App-Key": "creditwh",
        "X-Timestamp": "1719561600",
        "X-Nonce": NONCE,
        "X-Content-SHA256": "eeb85c2675888473ec64b7580aa0c76c6fd6b2bd51828870286ef202ad89dae2",
        "X-Signature": "ae93873691ec5e8ce896fcf2148a828b988a001476abda99c6dbc8302a7ecc1b",
    }
    assert string_to_sign("post", "/api/v1/publicity?page=2", NOW, NONCE, headers["X-Content-SHA256"]) == (
        "POST\n/api/v1/publicity\n1719561600\n" + NONCE + "\n" + headers["X-Content-SHA256"])


def test_defaults_are_now_and_a_fresh_uuid4_nonce():
    first = sign("GET", "/api/v1/publicity/counts", b"", "creditwh", SECRET)
    second = sign("GET", "/api/v1/publicity/counts", b"", "creditwh", SECRET)
    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Nonce"]) and first["X-Nonce"] != second["X-Nonce"]
    assert first["X-Content-SHA256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert check(first, "GET", "/api/v1/publicity/counts", b"", now=int(first["X-Timestamp"])) is None


def test_round_trip_ignores_query_and_header_case():
    headers = sign("post", "/api/v1/publicity?a=1", BODY, "creditwh", SECRET, timestamp=NOW, nonce=NONCE)
    lowered = {name.lower(): value.upper() if name == "X-Signature" else value for name, value in headers.items()}
    assert check(lowered, path="/api/v1/publicity?b=2") is None


@pytest.mark.parametrize(("change", "code"), [
    ({"X-Signature": None}, "missing_signature"),
    ({"X-Nonce": ""}, "missing_signature"),
    ({"X-Timestamp": "yesterday"}, "missing_signature"),
    ({"X-Nonce": "short"}, "missing_signature"),
    ({"X-Content-SHA256": "abc"}, "missing_signature"),
    ({"X-App-Key": "stranger"}, "unknown_app_key"),
    ({"X-Content-SHA256": "0" * 64}, "bad_digest"),
    ({"X-Signature": "0" * 64}, "bad_signature"),
    ({"X-Nonce": "f" * 32}, "bad_signature"),
    ({"X-Timestamp": str(NOW + 1)}, "bad_signature"),
    ({"X-Signature": "é" * 64}, "missing_signature"),
])
def test_each_problem_has_its_code(change, code):
    headers = sign("POST", "/api/v1/publicity", BODY, "creditwh", SECRET, timestamp=NOW, nonce=NONCE)
    for name, value in change.items():
        if value is None:
            del headers[name]
        else:
            headers[name] = value
    problem = check(headers)
    assert problem is not None and problem.code == code
    assert " / " in problem.message and SECRET not in problem.message and SECRET not in repr(problem)


def test_method_path_and_body_are_covered():
    headers = sign("POST", "/api/v1/publicity", BODY, "creditwh", SECRET, timestamp=NOW, nonce=NONCE)
    assert check(headers, method="PUT").code == "bad_signature"
    assert check(headers, path="/api/v1/indicators").code == "bad_signature"
    assert check(headers, body=BODY + b" ").code == "bad_digest"
    assert check(headers, body=BODY) is None


def test_secret_is_per_app_key():
    headers = sign("POST", "/api/v1/publicity", BODY, "creditwh", "another-secret", timestamp=NOW, nonce=NONCE)
    assert check(headers).code == "bad_signature"


@pytest.mark.parametrize(("offset", "ok"), [(0, True), (300, True), (-300, True), (301, False), (-301, False)])
def test_timestamp_window(offset, ok):
    headers = sign("POST", "/api/v1/publicity", BODY, "creditwh", SECRET, timestamp=NOW + offset, nonce=NONCE)
    problem = check(headers)
    assert (problem is None) is ok
    if not ok:
        assert problem.code == "clock_skew"
    assert check(headers, window_seconds=30) is None or abs(offset) > 30


def test_comparisons_are_constant_time(monkeypatch):
    calls = []
    original = hmac.compare_digest

    def spy(a, b):
        calls.append((type(a), type(b)))
        return original(a, b)

    monkeypatch.setattr(signing.hmac, "compare_digest", spy)
    headers = sign("POST", "/api/v1/publicity", BODY, "creditwh", SECRET, timestamp=NOW, nonce=NONCE)
    assert check(headers) is None
    assert len(calls) == 2  # the body digest and the signature


def test_bad_arguments_say_so_without_the_secret():
    with pytest.raises(TypeError, match="bytes"):
        sign("POST", "/x", "text", "creditwh", SECRET)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secret must not be empty"):
        sign("POST", "/x", b"", "creditwh", "")
    with pytest.raises(ValueError, match="app key"):
        sign("POST", "/x", b"", "", SECRET)


def test_all_headers_are_produced():
    assert set(sign("GET", "/health", b"", "creditwh", SECRET)) == set(SIGNATURE_HEADERS)


@given(body=st.binary(max_size=512), position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_body_round_trips_and_any_changed_byte_is_caught(body, position, flip):
    headers = sign("POST", "/api/v1/publicity", body, "creditwh", SECRET, timestamp=NOW, nonce=NONCE)
    assert check(headers, body=body) is None
    if body:
        index = position % len(body)
        changed = body[:index] + bytes([body[index] ^ flip]) + body[index + 1:]
        assert check(headers, body=changed).code == "bad_digest"
