"""REST API connector: pull a department's paged API from the feed's watermark into one JSON Lines file.

Transport faults are retried by urllib3's `Retry` on a pooled `requests.Session` (exponential back-off
with jitter on 5xx, timeouts and dropped connections; 429 waits as long as `Retry-After` says).
Answers that arrive with status 200 but are not the JSON page we asked for (a proxy's HTML error
page, a truncated body) are retried a few times by tenacity. When a page cannot be had, the partial
file is deleted and `SourceError` says which department, feed and page failed.

Two paging styles, chosen per feed in the catalog (`feed.api.incremental`):
- `cursor`: `?cursor=<c>&page_size=<n>`, following `next_cursor` until `has_more` is false; the
  watermark is the last cursor.
- `updated_since`: `?updated_since=<ts>&page=<n>&page_size=<k>` (the parameter names are the feed's);
  the watermark is the latest `updated_at` (the feed's `updated_field`) seen, kept as the API wrote it
  (ISO 8601 text or epoch milliseconds) and sent back the same way.
Two answer shapes (`feed.api.shape`): `data` — {"data": [...], "has_more": …} — and `rows_total` —
{"total": N, "rows": [...]}, as provincial platforms and department systems answer: pages follow until
`total` records have come.

The bearer token comes from the connection's password and is never logged or put in a message.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import requests.auth
import tenacity
from requests.adapters import HTTPAdapter
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from etl.connections import Connection, get_connection
from etl.errors import UserError
from etl.extract.base import ExtractedSource, FeedContext
from etl.extract.errors import SourceError
from etl.faults import crash_point

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class _BearerAuth(requests.auth.AuthBase):
    """`Authorization: Bearer <token>`; given as `auth=` so a ~/.netrc entry can never replace it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(****)"


class _BadPayload(Exception):
    """A 200 answer that is not a JSON page; worth asking again a few times. Said in Chinese and English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


class ApiConnector:
    """Pulls API feeds; one instance keeps one pooled session (use it as a context manager or call close())."""

    def __init__(self, *, connect_timeout: float = 5.0, read_timeout: float = 30.0, retries: int = 5,
                 backoff_factor: float = 0.5, backoff_max: float = 30.0, backoff_jitter: float = 0.5,
                 payload_attempts: int = 3, payload_wait: float = 0.5, pool_size: int = 10,
                 max_pages: int = 1_000_000,
                 connections: Callable[[str], Connection] = get_connection) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.retries = retries
        self.payload_attempts = max(1, payload_attempts)
        self.payload_wait = payload_wait
        self.max_pages = max_pages
        self._connections = connections
        retry = Retry(total=retries, connect=retries, read=retries, status=retries, other=0,
                      allowed_methods=frozenset({"GET"}), status_forcelist=RETRY_STATUSES,
                      backoff_factor=backoff_factor, backoff_max=backoff_max, backoff_jitter=backoff_jitter,
                      respect_retry_after_header=True, retry_after_max=int(max(backoff_max, 60)),
                      raise_on_status=False, raise_on_redirect=True)
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=retry)
        self.session = requests.Session()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def retries_text(self) -> str:
        return f"{self.retries} {'retry' if self.retries == 1 else 'retries'}"

    def retries_text_zh(self) -> str:
        return f"重试 {self.retries} 次"

    def __enter__(self) -> ApiConnector:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- the pull ---------------------------------------------------------------------------------

    def extract(self, context: FeedContext) -> list[ExtractedSource]:
        department, feed = context.department, context.feed
        if feed.api is None:
            raise UserError(f"部门 {department.code} 的数据源 {feed.code} 不是接口类 / "
                            f"Department {department.code} feed {feed.code} is not an API feed.")
        conn = self._connections(feed.api.connection_id)
        if not conn.host:
            raise UserError(f"连接 {feed.api.connection_id!r} 未配置主机，请设置为部门接口的主机地址 / "
                            f"Connection {feed.api.connection_id!r} has no host; set it to the department API's host.")
        schema = (conn.schema or "").strip("/")
        endpoint = (f"/{schema}" if schema else "") + feed.api.path
        pull = _Pull(self, context, conn, endpoint)
        return pull.run()


class _Pull:
    """One extract run of one feed: pages streamed into a `.part` file, renamed when complete."""

    def __init__(self, connector: ApiConnector, context: FeedContext, conn: Connection, endpoint: str) -> None:
        self.connector = connector
        self.context = context
        self.dept = context.department.code
        self.feed_code = context.feed.code
        self.settings = context.feed.api
        self.conn = conn
        self.endpoint = endpoint
        self.url = conn.base_url() + endpoint
        self.headers = {"Accept": "application/json"}
        self.auth = _BearerAuth(conn.password) if conn.password else None
        self.verify: bool | str = conn.extra.get("ca_bundle") or True  # TLS verification is never turned off
        self.count = 0
        self.first_id: Any = None
        self.last_id: Any = None

    def where(self) -> str:
        return f"department {self.dept} feed {self.feed_code}"

    def run(self) -> list[ExtractedSource]:
        work_dir = Path(self.context.work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        fd, part_name = tempfile.mkstemp(prefix=f"api_{self.dept}_{self.feed_code}_", suffix=".jsonl.part",
                                         dir=work_dir)
        part = Path(part_name)
        try:
            # surrogatepass: a lone surrogate in a record is landed as is, and staging rejects that row.
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass", newline="\n") as out:
                if self.settings.incremental == "cursor":
                    start, end = self._by_cursor(out)
                else:
                    start, end = self._by_updated_since(out)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        if self.count == 0:
            part.unlink(missing_ok=True)
            log.info("%s: nothing new at %s", self.where(), self.endpoint)
            return []
        final = part.with_name(part.name.removesuffix(".part"))
        part.replace(final)
        kind = "cursor" if self.settings.incremental == "cursor" else "updated_at"
        if kind == "cursor" and self.first_id is not None:
            span = f"cursor id {self.first_id}→{self.last_id}"
        else:
            span = f"{self.settings.incremental} {start or 'start'}→{end}"
        name = f"api {self.endpoint} {span} ({self.count} records)"
        log.info("%s: %s", self.where(), name)
        return [ExtractedSource(source_name=name, path=final, format="jsonl", encoding="utf-8",
                                watermark_kind=kind, watermark_to=end, rows_hint=self.count)]

    def _write(self, out, records: list[dict]) -> None:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
        if records:
            if self.first_id is None:
                self.first_id = records[0].get("id")
            self.last_id = records[-1].get("id")
        self.count += len(records)
        crash_point("extract.page")

    def _by_cursor(self, out) -> tuple[str | None, str | None]:
        start = cursor = self.context.watermark or None
        for page_no in range(1, self.connector.max_pages + 1):
            params: dict[str, Any] = {"page_size": self.settings.page_size}
            if cursor:
                params["cursor"] = cursor
            document = self._fetch(params, page_no)
            data = document["data"]
            self._write(out, data)
            next_cursor = document.get("next_cursor")
            if not document.get("has_more"):
                return start, next_cursor or cursor
            if not next_cursor or next_cursor == cursor or not data:
                raise SourceError(f"{self.where()}: 接口称第 {page_no} 页之后还有记录，但未给出新的游标，"
                                  f"请部门检查其分页 / "
                                  f"the API says more records follow page {page_no} but gave no "
                                  f"new cursor to fetch them; ask the department to check its paging.")
            cursor = next_cursor
        raise SourceError(self._endless())

    def _by_updated_since(self, out) -> tuple[str | None, str | None]:
        settings = self.settings
        since = self.context.watermark or None
        newest = since
        newest_moment = _moment(since) if since else None
        received = 0
        for page_no in range(1, self.connector.max_pages + 1):
            params: dict[str, Any] = {settings.page_param: page_no, settings.size_param: settings.page_size}
            if since:
                params[settings.since_param] = since
            document = self._fetch(params, page_no)
            data = document["data"]
            self._write(out, data)
            received += len(data)
            for record in data:
                value = record.get(settings.updated_field)
                moment = _moment(value)
                if moment is not None and (newest_moment is None or moment > newest_moment):
                    newest, newest_moment = str(value), moment
            more = received < document["total"] if settings.shape == "rows_total" else document.get("has_more")
            if not more:
                return since, newest
            if not data:
                raise SourceError(f"{self.where()}: 接口称第 {page_no} 页之后还有记录，但该页为空，"
                                  f"请部门检查其分页 / "
                                  f"the API says more records follow page {page_no} but the page "
                                  f"was empty; ask the department to check its paging.")
        raise SourceError(self._endless())

    def _endless(self) -> str:
        pages = self.connector.max_pages
        return (f"{self.where()}: 接口分页超过 {pages} 页仍未结束，为避免无限循环已停止 / "
                f"the API kept paging past {pages} pages; stopped to avoid an endless loop.")

    # -- one page ---------------------------------------------------------------------------------

    def _fetch(self, params: dict[str, Any], page_no: int) -> dict:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_BadPayload),
            stop=tenacity.stop_after_attempt(self.connector.payload_attempts),
            wait=(tenacity.wait_exponential(multiplier=self.connector.payload_wait, max=30)
                  + tenacity.wait_random(0, self.connector.payload_wait)),
            before_sleep=lambda state: log.warning("%s: %s; asking again", self.where(),
                                                   state.outcome.exception()),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._fetch_once(params, page_no)
        except _BadPayload as exc:
            attempts = self.connector.payload_attempts
            raise SourceError(f"{self.where()}: {exc.zh}（已尝试 {attempts} 次）/ "
                              f"{exc.en} (after {attempts} attempts).") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch_once(self, params: dict[str, Any], page_no: int) -> dict:
        session = self.connector.session
        try:
            response = session.get(self.url, params=params, headers=self.headers, auth=self.auth,
                                   timeout=self.connector.timeout, verify=self.verify, allow_redirects=False)
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
            raise _BadPayload(f"读取第 {page_no} 页时连接中断",
                              f"the connection dropped while page {page_no} was being read") from None
        except requests.exceptions.SSLError:
            base = self.conn.base_url()
            raise SourceError(f"{self.where()}: 无法验证 {base} 的 TLS 证书，请修复证书或在连接的 extra 中"
                              f"设置 ca_bundle / the TLS certificate of {base} could not be "
                              f"verified; fix the certificate or set the connection's extra ca_bundle.") from None
        except requests.exceptions.RequestException as exc:
            cause = _innermost(exc)
            base = self.conn.base_url()
            retries, retries_zh = self.connector.retries_text(), self.connector.retries_text_zh()
            if isinstance(exc, requests.exceptions.Timeout) or isinstance(cause, TimeoutError | Urllib3Timeout):
                raise SourceError(f"{self.where()}: {base} 的接口{retries_zh}后仍未及时返回第 {page_no} 页 / "
                                  f"the API at {base} did not answer page {page_no} "
                                  f"in time, even after {retries}.") from None
            detail = _describe(cause)
            raise SourceError(f"{self.where()}: {retries_zh}后仍无法从 {base} 获取第 {page_no} 页（{detail}）/ "
                              f"cannot get page {page_no} from {base} "
                              f"({detail}) after {retries}.") from None
        with response:
            status = response.status_code
            if status in (401, 403):
                conn_id = self.settings.connection_id
                raise SourceError(f"{self.where()}: 接口在第 {page_no} 页拒绝了凭据（HTTP {status}），"
                                  f"请检查连接 {conn_id} 的令牌（password）/ "
                                  f"the API refused the credentials (HTTP {status}) at page {page_no}; "
                                  f"check the token (password) of connection {conn_id}.")
            if status in RETRY_STATUSES:
                raise SourceError(f"{self.where()}: {self.connector.retries_text_zh()}后接口在第 {page_no} 页"
                                  f"仍返回 HTTP {status} / "
                                  f"the API still answered HTTP {status} at page {page_no} after "
                                  f"{self.connector.retries_text()}.")
            if status != 200:
                error = _error_text(response)
                raise SourceError(f"{self.where()}: 接口在第 {page_no} 页返回 HTTP {status}{error} / "
                                  f"the API answered HTTP {status} at page {page_no}{error}.")
            content_type = response.headers.get("Content-Type", "").lower()
            body = response.content
            if "html" in content_type or body.lstrip()[:1] == b"<":
                raise _BadPayload(f"接口在第 {page_no} 页返回了 HTML 而不是 JSON",
                                  f"the API returned HTML instead of JSON at page {page_no}")
            try:
                document = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise _BadPayload(f"接口在第 {page_no} 页返回的 JSON 格式有误",
                                  f"the API returned malformed JSON at page {page_no}") from None
        rows_key = "rows" if self.settings.shape == "rows_total" else "data"
        if not isinstance(document, dict) or not isinstance(document.get(rows_key), list) \
                or not all(isinstance(r, dict) for r in document[rows_key]):
            raise _BadPayload(f"接口在第 {page_no} 页返回的 JSON 中没有记录列表（{rows_key}）",
                              f"the API returned JSON without a list of records ({rows_key}) at page {page_no}")
        if rows_key == "rows":
            total = document.get("total")
            if isinstance(total, str) and total.isdigit():
                total = int(total)
            if not isinstance(total, int) or isinstance(total, bool) or total < 0:
                raise _BadPayload(f"接口在第 {page_no} 页返回的 JSON 中没有记录总数（total）",
                                  f"the API returned JSON without a record count (total) at page {page_no}")
            return {"data": document["rows"], "total": total}
        return document


def _moment(value: object) -> dt.datetime | None:
    """A record's last-change time as the API wrote it: ISO 8601 text, or epoch milliseconds (a number, or
    digits as text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        try:
            return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)
        except (ValueError, OverflowError, OSError):
            return None
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _innermost(exc: BaseException) -> BaseException:
    """The root cause inside a requests/urllib3 error (MaxRetryError -> ProtocolError -> OSError ...)."""
    seen = exc
    for _ in range(10):
        inner = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__ \
            or next((a for a in seen.args if isinstance(a, BaseException)), None)
        if not isinstance(inner, BaseException) or inner is seen:
            break
        seen = inner
    return seen


def _describe(exc: BaseException) -> str:
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc).strip()) or type(exc).__name__
    return text.splitlines()[0][:200]


def _error_text(response: requests.Response) -> str:
    try:
        message = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return f" ({str(message)[:200]})" if message else ""
