"""HTTP client for the upstream platforms: signed JSON requests with retries where retrying can help.

Every attempt is signed afresh (new timestamp and nonce: the platform refuses a replayed nonce, so a
transport-level retry of the same bytes would be refused). Retried, with exponential back-off and
jitter: connection failures and resets, timeouts, HTTP 5xx, an HTML page or malformed JSON from a
gateway; HTTP 429 waits as long as `Retry-After` says. Not retried: a refused signature, a clock
skew, a malformed request — asking again cannot help, so the error says what to fix.

The secret comes from the platform's connection (password) and never appears in a message or log.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
import tenacity
from requests.adapters import HTTPAdapter

from etl.connections import Connection, get_connection
from etl.publish.signing import sign

log = logging.getLogger(__name__)


class PlatformError(Exception):
    """A request to a platform that did not succeed; `retryable` says whether asking again may help."""

    def __init__(self, message: str, *, retryable: bool, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.retry_after = retry_after


class PlatformAuthError(PlatformError):
    """The platform refused who we are (signature, app key, clock): a person has to fix the setup."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    backoff: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0


def _wait(policy: RetryPolicy):
    exponential = tenacity.wait_exponential_jitter(multiplier=policy.backoff, max=policy.backoff_max)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, PlatformError) and error.retry_after is not None:
            return min(error.retry_after, policy.retry_after_max)
        return exponential(state)

    return wait


class PlatformClient:
    """One pooled, TLS-verifying session to one platform; thread-safe for concurrent requests."""

    def __init__(self, base_url: str, app_key: str, secret: str, *, verify: bool | str = True,
                 connect_timeout: float = 5.0, read_timeout: float = 30.0, retry: RetryPolicy | None = None,
                 pool_size: int = 8, name: str = "platform") -> None:
        if not app_key or not secret:
            raise PlatformAuthError(f"{name}: the connection needs an app key (login) and a secret (password).",
                                    retryable=False, code="missing_credentials")
        self.base_url = base_url.rstrip("/")
        self.name = name
        self._app_key = app_key
        self._secret = secret
        self._verify = verify
        self.timeout = (connect_timeout, read_timeout)
        self.retry = retry or RetryPolicy()
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    @classmethod
    def from_connection(cls, conn_id: str, **kwargs: Any) -> PlatformClient:
        conn: Connection = get_connection(conn_id)
        if not conn.host:
            raise PlatformError(f"Connection {conn_id!r} has no host; set it to the platform's address.",
                                retryable=False, code="missing_host")
        # TLS verification stays on; a private CA is given as a bundle path, never by turning checks off.
        verify: bool | str = conn.extra.get("ca_bundle") or True
        return cls(conn.base_url(), conn.login or "", conn.password or "", verify=verify, name=conn_id, **kwargs)

    def __repr__(self) -> str:
        return f"PlatformClient({self.base_url!r}, app_key={self._app_key!r}, secret=****)"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------------

    def post_json(self, path: str, document: dict) -> dict:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self._with_retries("POST", path, body)

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict:
        query = f"?{urlencode({k: v for k, v in (params or {}).items() if v is not None})}" if params else ""
        return self._with_retries("GET", path + query, b"")

    def _with_retries(self, method: str, path: str, body: bytes) -> dict:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, PlatformError) and e.retryable),
            stop=tenacity.stop_after_attempt(self.retry.attempts),
            wait=_wait(self.retry),
            before_sleep=lambda state: log.warning("%s %s %s: %s; trying again", self.name, method,
                                                   path.split("?")[0], state.outcome.exception()),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._once(method, path, body)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, method: str, path: str, body: bytes) -> dict:
        headers = {"Content-Type": "application/json; charset=utf-8",
                   **sign(method, path, body, self._app_key, self._secret)}
        where = f"{self.name} {method} {path.split('?')[0]}"
        try:
            response = self.session.request(method, self.base_url + path, data=body or None, headers=headers,
                                            timeout=self.timeout, verify=self._verify, allow_redirects=False)
        except requests.exceptions.SSLError:
            raise PlatformError(f"{where}: the platform's TLS certificate could not be verified; fix the certificate "
                                f"or set the connection's extra ca_bundle.", retryable=False, code="tls") from None
        except requests.exceptions.Timeout:
            raise PlatformError(f"{where}: no answer within {self.timeout[1]:.0f} s", retryable=True,
                                code="timeout") from None
        except requests.exceptions.RequestException as exc:
            raise PlatformError(f"{where}: connection failed ({type(exc).__name__})", retryable=True,
                                code="connection") from None
        with response:
            return self._document(where, response)

    @staticmethod
    def _document(where: str, response: requests.Response) -> dict:
        status = response.status_code
        try:
            text = response.content.decode("utf-8")
        except (UnicodeDecodeError, requests.exceptions.RequestException):
            raise PlatformError(f"{where}: the answer was cut off or not UTF-8 (HTTP {status})", retryable=True,
                                code="bad_body") from None
        document: Any = None
        if "html" not in response.headers.get("Content-Type", "").lower() and not text.lstrip().startswith("<"):
            try:
                document = json.loads(text)
            except ValueError:
                document = None
        error = document.get("error") if isinstance(document, dict) else None
        message = str(document.get("message") or "")[:300] if isinstance(document, dict) else ""
        if status == 429:
            retry_after = response.headers.get("Retry-After", "")
            raise PlatformError(f"{where}: rate limited (HTTP 429)", retryable=True, code="rate_limited",
                                retry_after=float(retry_after) if retry_after.replace(".", "", 1).isdigit() else None)
        if status in (401, 403):
            raise PlatformAuthError(f"{where}: the platform refused the request's signature (HTTP {status}, "
                                    f"{error or 'no reason given'}{': ' + message if message else ''}); check the "
                                    f"app key and secret of the connection and this machine's clock.",
                                    retryable=False, code=error or "unauthorised")
        if status >= 500:
            raise PlatformError(f"{where}: the platform failed (HTTP {status})", retryable=True, code="server_error")
        if status != 200:
            raise PlatformError(f"{where}: the platform refused the request (HTTP {status}"
                                f"{', ' + str(error) if error else ''}{': ' + message if message else ''})",
                                retryable=False, code=error or f"http_{status}")
        if not isinstance(document, dict):
            raise PlatformError(f"{where}: the platform answered with HTML or malformed JSON instead of its "
                                f"JSON contract", retryable=True, code="bad_body")
        return document
