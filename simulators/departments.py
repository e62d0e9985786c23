"""A department source simulator: the generator's API feeds behind a real HTTP server on loopback.

`DepartmentSimulator(data_dir)` loads the JSON pages the generator wrote under `data_dir/api/` once,
and serves them at `/<department><feed.api.path>` (e.g. `/tax/api/v1/penalty`) the way a department
API does: bearer-token auth, cursor or updated_since paging, and — on request — realistic faults
(5xx, latency, 429 with Retry-After, HTML error pages with status 200, truncated JSON, connections
reset without a response). Faults are drawn from one seeded random stream in request order, so a
serial client sees the same faults on every run.

It also hands out the Airflow connection entries (`AIRFLOW_CONN_DEPT_API_*` pointing at itself,
`AIRFLOW_CONN_DEPT_SQL_*` pointing at the generator's SQLite front databases) that the connectors
read, and the file drop directory, so one object stands for all three kinds of department source.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import hmac
import json
import logging
import math
import random
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from etl.catalog import ApiSource, Catalog, FieldType, header_index, normalise_header
from etl.errors import UserError
from simulators.loopback import LoopbackHandler, LoopbackSimulator, query_int

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 5000
_CURSOR_PREFIX = "c1:"
_UTC = dt.UTC
_CHINA = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai: no daylight saving since 1991


@dataclass(frozen=True)
class Faults:
    """Fault knobs; rates are fractions of requests, drawn in request order from `seed`.

    At most one fault hits a request. Every `rate_limit_every`-th request is answered 429 with
    `Retry-After: 1`; of the others, `reset_rate` are closed without a response, `error_rate` get
    500/502/503, `html_error_rate` get an HTML page with status 200, `malformed_json_rate` get
    truncated JSON. `latency_ms` (plus up to `latency_jitter_ms`) is added to every response.
    `outage_after` > 0 makes every request after the first `outage_after` ones fail with 503 (an outage
    in the middle of a pull).
    """

    error_rate: float = 0.0
    latency_ms: int = 0
    latency_jitter_ms: int = 0
    rate_limit_every: int = 0
    html_error_rate: float = 0.0
    malformed_json_rate: float = 0.0
    reset_rate: float = 0.0
    outage_after: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        rates = {"error_rate": self.error_rate, "html_error_rate": self.html_error_rate,
                 "malformed_json_rate": self.malformed_json_rate, "reset_rate": self.reset_rate}
        for name, rate in rates.items():
            if not 0 <= rate <= 1:
                raise UserError(f"故障比例 {name} 须在 0 与 1 之间，收到 {rate!r} / "
                                f"Fault {name} must be a fraction between 0 and 1, got {rate!r}.")
        if sum(rates.values()) > 1:
            raise UserError("故障比例（错误、HTML、JSON 格式错误、连接重置）之和超过 1，请调低 / "
                            "Fault rates (error, HTML, malformed JSON, reset) add up to more than 1; lower them.")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise UserError("故障延迟不能为负 / Fault latency must not be negative.")
        if self.outage_after < 0:
            raise UserError(f"outage_after 须为 0（关闭）或正整数，收到 {self.outage_after} / "
                            f"outage_after must be 0 (off) or a positive count, got {self.outage_after}.")
        if self.rate_limit_every < 0:
            raise UserError(f"rate_limit_every 须为 0（关闭）或正整数，收到 {self.rate_limit_every} / "
                            f"rate_limit_every must be 0 (off) or a positive count, got {self.rate_limit_every}.")


def _epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _as_platform_record(record: dict, updated_field: str, date_keys: set[str], department: str) -> dict:
    """A record as a platform API exports it (the 双鸭山 platform's publicity/data_list.json, see
    docs/research/shuanggongshi.md): its bookkeeping columns (ID as a 32-hex id, RESOURCE_ID, CHECK_FLAG,
    PERSON_ID, CREATE_DATE in epoch milliseconds, CREATE_DEPT_NAME, COMP_NAME), dates as epoch milliseconds
    (midnight in Asia/Shanghai), the last-change time as epoch milliseconds under the feed's own name; anything
    not a valid ISO date is left as the department wrote it."""
    changed = _epoch_ms(_parse_time(str(record.get("updated_at", "1970-01-01T00:00:00Z"))))
    out = {"ID": uuid.uuid5(uuid.NAMESPACE_URL, f"{department}/{record.get('id')}").hex,
           "RESOURCE_ID": "DIR-20180902-164730-458", "CHECK_FLAG": "1",
           "PERSON_ID": uuid.uuid5(uuid.NAMESPACE_URL, f"{department}/operator").hex, "CREATE_DATE": changed,
           "CREATE_DEPT_NAME": department, "COMP_NAME": "示范县信用信息平台运维单位"}
    for key, value in record.items():
        if key == "id":
            continue  # the platform's own ID above
        if key == "updated_at":
            out[updated_field] = changed
        elif key in date_keys and isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                out[key] = value
            else:
                out[key] = _epoch_ms(dt.datetime(day.year, day.month, day.day, tzinfo=_CHINA))
        else:
            out[key] = value
    return out


def _keys_of(feed, record_type) -> list[str]:  # noqa: ANN001 - catalog Feed and RecordType
    from simulators.generate.writers import column_names

    return list(column_names(feed, record_type, feed.transport))


def _parse_time(value: str) -> dt.datetime:
    """An ISO 8601 timestamp as an aware UTC datetime (naive means UTC)."""
    moment = dt.datetime.fromisoformat(value.strip())
    return moment.replace(tzinfo=_UTC) if moment.tzinfo is None else moment.astimezone(_UTC)


def encode_cursor(last_id: int) -> str:
    """The opaque cursor a client sends back to continue after record `last_id`."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError):
        raise ValueError("cursor is not one this server issued") from None
    if not text.startswith(_CURSOR_PREFIX) or not text[len(_CURSOR_PREFIX):].isdigit():
        raise ValueError("cursor is not one this server issued")
    return int(text[len(_CURSOR_PREFIX):])


class FeedStore:
    """The records of one API feed, indexed by id (cursor paging) and by (updated_at, id)."""

    def __init__(self, department: str, feed: str, api: ApiSource, date_keys: set[str]) -> None:
        self.department = department
        self.feed = feed
        self.api = api
        self.page_size = api.page_size
        self.incremental = api.incremental
        self.date_keys = date_keys  # the record keys of date fields (sent as epoch milliseconds by rows_total)
        self._lock = threading.Lock()
        self._by_id: dict[int, dict] = {}
        self._ids: list[int] = []
        self._by_time: list[tuple[dt.datetime, int]] = []

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, records: list[dict]) -> list[dict]:
        """Add records (ids and updated_at filled in when missing); returns them as stored."""
        stored = []
        with self._lock:
            for record in records:
                record = dict(record)
                if record.get("id") is None:
                    record = {"id": (self._ids[-1] + 1) if self._ids else 1, **record}
                if not record.get("updated_at"):
                    record["updated_at"] = dt.datetime.now(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                record_id = record["id"]
                if not isinstance(record_id, int) or isinstance(record_id, bool):
                    raise ValueError(f"record id must be an integer, got {record_id!r}")
                if record_id in self._by_id:
                    raise ValueError(f"{self.department}/{self.feed} already has a record with id {record_id}")
                moment = _parse_time(str(record["updated_at"]))
                self._by_id[record_id] = record
                _insert_sorted(self._ids, record_id)
                _insert_sorted(self._by_time, (moment, record_id))
                stored.append(record)
        return stored

    def after_id(self, last_id: int, limit: int) -> tuple[list[dict], bool]:
        """Up to `limit` records with id > last_id in id order, and whether more follow."""
        with self._lock:
            start = bisect.bisect_right(self._ids, last_id)
            ids = self._ids[start : start + limit]
            more = start + limit < len(self._ids)
            return [self._by_id[i] for i in ids], more

    def since(self, moment: dt.datetime | None, page: int, limit: int) -> tuple[list[dict], int]:
        """Page `page` (1-based) of records with updated_at > moment in (updated_at, id) order, and how many
        records there are after `moment` in all."""
        with self._lock:
            start = 0 if moment is None else bisect.bisect_right(self._by_time, (moment, math.inf))
            total = len(self._by_time) - start
            first = start + (page - 1) * limit
            keys = self._by_time[first : first + limit] if first < len(self._by_time) else []
            return [self._by_id[i] for _, i in keys], total


def _insert_sorted(items: list, item) -> None:
    """Append when in order (the usual case: generated pages, new records), else insert in place."""
    if not items or items[-1] <= item:
        items.append(item)
    else:
        bisect.insort(items, item)


def _load_pages(directory: Path) -> list[dict]:
    records: list[dict] = []
    for page in sorted(directory.glob("page-*.json")):
        try:
            document = json.loads(page.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"接口数据页 {page} 无法读取（{exc}），请重新生成数据 / "
                            f"API page {page} cannot be read ({exc}); generate the data again.") from None
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, list):
            raise UserError(f"接口数据页 {page} 中没有 `data` 列表，请重新生成数据 / "
                            f"API page {page} holds no `data` list; generate the data again.")
        records.extend(data)
    return records


_HTML_PAGE = (b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway"
              b"</h1></center><hr><center>nginx</center></body></html>\n")


class DepartmentSimulator(LoopbackSimulator):
    """The API feeds of the generated departments on a loopback HTTP server, plus their connection entries.

    >>> with DepartmentSimulator(data_dir, token="t") as sim:
    ...     settings = config.settings().with_connections(sim.connection_env("tax"))
    """

    name_zh, name_en = "部门模拟器", "department simulator"

    def __init__(self, data_dir: Path | str, host: str = "127.0.0.1", port: int = 0, token: str = "sim-token",
                 faults: Faults | None = None, catalog: Catalog | None = None) -> None:
        if not token:
            raise UserError("模拟器的令牌不能为空 / The simulator needs a non-empty token.")
        self.data_dir = Path(data_dir).resolve()
        if not self.data_dir.is_dir():
            raise UserError(f"数据目录 {self.data_dir} 不存在，请先运行 "
                            f"`python -m etl generate --out {self.data_dir}` / "
                            f"Data directory {self.data_dir} does not exist; run `python -m etl generate --out "
                            f"{self.data_dir}` first.")
        if catalog is None:
            from etl.catalog import catalog as project_catalog

            catalog = project_catalog()
        super().__init__(host, port)
        self.catalog = catalog
        self.token = token
        self.faults = faults or Faults()
        self._routes: dict[str, FeedStore] = {}
        self._stores: dict[tuple[str, str], FeedStore] = {}
        self._load()
        self._rng = random.Random(f"department-simulator:{self.faults.seed}")
        self._fault_lock = threading.Lock()
        self._request_count = 0
        self.stats: Counter[str] = Counter()

    # -- data -------------------------------------------------------------------------------------

    def _load(self) -> None:
        api_root = self.data_dir / "api"
        for dept in self.catalog.departments:
            for feed in dept.feeds:
                if feed.api is None:
                    continue
                record_type = self.catalog.record_type_by_code[feed.record_type]
                index = header_index(record_type, feed)
                date_keys = {key for key in _keys_of(feed, record_type)
                             if record_type.field_by_code[index[normalise_header(key)]].type == FieldType.DATE}
                store = FeedStore(dept.code, feed.code, feed.api, date_keys)
                directory = api_root / dept.code / feed.code
                if directory.is_dir():
                    try:
                        store.add(_load_pages(directory))
                    except (ValueError, TypeError, KeyError) as exc:
                        raise UserError(f"{directory} 下的接口数据页无法提供（{exc}），请重新生成数据 / "
                                        f"API pages under {directory} cannot be served ({exc}); "
                                        "generate the data again.") from None
                self._stores[(dept.code, feed.code)] = store
                self._routes[f"/{dept.code}{feed.api.path}"] = store

    def routes(self) -> dict[str, tuple[str, str]]:
        """Served path -> (department, feed)."""
        return {path: (s.department, s.feed) for path, s in self._routes.items()}

    def record_count(self, department: str, feed: str) -> int:
        return len(self._store(department, feed))

    def _store(self, department: str, feed: str) -> FeedStore:
        try:
            return self._stores[(department, feed)]
        except KeyError:
            raise UserError(f"目录中部门 {department!r} 没有接口类数据源 {feed!r} / "
                            f"Department {department!r} has no API feed {feed!r} in the catalog.") from None

    def append_records(self, department: str, feed: str, records: list[dict]) -> list[dict]:
        """Add records to a feed while serving (ids continue from the last one, updated_at defaults to now)."""
        return self._store(department, feed).add(records)

    @property
    def file_drop_dir(self) -> Path:
        return self.data_dir / "files"

    # -- connections ------------------------------------------------------------------------------

    def connection_env(self, department: str | None = None) -> dict[str, str]:
        """`AIRFLOW_CONN_*` entries (JSON) for one department's API and SQL sources, or for all departments."""
        if department is not None and department not in self.catalog.department_by_code:
            raise UserError(f"未知的部门 {department!r} / Unknown department {department!r}.")
        departments = ([self.catalog.department_by_code[department]] if department is not None
                       else list(self.catalog.departments))
        env: dict[str, str] = {}
        for dept in departments:
            for feed in dept.feeds:
                if feed.api is not None:
                    env[f"AIRFLOW_CONN_{feed.api.connection_id.upper()}"] = json.dumps(
                        {"conn_type": "http", "host": self.host, "port": self.port, "password": self.token,
                         "schema": dept.code})
                elif feed.sql is not None:
                    path = self.data_dir / "sql" / f"{dept.code}.sqlite"
                    if path.is_file():
                        env[f"AIRFLOW_CONN_{feed.sql.connection_id.upper()}"] = json.dumps(
                            {"conn_type": "sqlite", "host": str(path)})
        return env

    # -- requests ---------------------------------------------------------------------------------

    def _draw_fault(self) -> tuple[str, float, int]:
        """(outcome, delay in seconds, 5xx status) for the next request, in arrival order."""
        f = self.faults
        with self._fault_lock:
            self._request_count += 1
            n = self._request_count
            draw, jitter, status = self._rng.random(), self._rng.random(), self._rng.choice((500, 502, 503))
        delay = (f.latency_ms + jitter * f.latency_jitter_ms) / 1000
        if f.outage_after and n > f.outage_after:
            return "server_error", delay, 503
        if f.rate_limit_every and n % f.rate_limit_every == 0:
            return "rate_limited", delay, 429
        for outcome, rate in (("reset", f.reset_rate), ("server_error", f.error_rate), ("html", f.html_error_rate),
                              ("malformed_json", f.malformed_json_rate)):
            if draw < rate:
                return outcome, delay, status
            draw -= rate
        return "ok", delay, 200

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer "):].strip().encode(), self.token.encode())

    def handle(self, request: LoopbackHandler, method: str) -> None:
        parts = urlsplit(request.path)
        if parts.path in ("/", "/health"):
            request.send_json(200, {"status": "ok", "feeds": len(self._routes)})
            return
        outcome, delay, status = self._draw_fault()
        self.stats[outcome] += 1
        if delay:
            time.sleep(delay)
        if outcome == "reset":
            request.reset()
            return
        if outcome == "rate_limited":
            request.send_json(429, {"error": "too many requests"}, {"Retry-After": "1"})
            return
        if outcome == "server_error":
            request.send_json(status, {"error": HTTPStatus(status).phrase})
            return
        if outcome == "html":
            request.send_body(200, _HTML_PAGE, "text/html; charset=utf-8")
            return
        if not self._authorised(request.headers.get("Authorization")):
            self.stats["unauthorised"] += 1
            request.send_json(401, {"error": "missing or invalid bearer token"},
                              {"WWW-Authenticate": 'Bearer realm="department"'})
            return
        store = self._routes.get(parts.path.rstrip("/"))
        if store is None:
            request.send_json(404, {"error": f"no feed at {parts.path}"})
            return
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            document = self._page(store, query)
        except ValueError as exc:
            request.send_json(400, {"error": str(exc)})
            return
        if outcome == "malformed_json":
            body = json.dumps(document, ensure_ascii=False).encode("utf-8")
            request.send_body(200, body[: max(1, len(body) // 2)], "application/json; charset=utf-8")
            return
        request.send_json(200, document)

    def _page(self, store: FeedStore, query: dict[str, str]) -> dict:
        if store.api.shape == "rows_total":
            return self._rows_total_page(store, query)
        size = query_int(query, "page_size", store.page_size, 1, MAX_PAGE_SIZE)
        if store.incremental == "cursor":
            cursor = query.get("cursor") or None
            last_id = decode_cursor(cursor) if cursor else 0
            data, more = store.after_id(last_id, size)
            next_id = data[-1]["id"] if data else last_id
            return {"data": data, "next_cursor": encode_cursor(next_id), "has_more": more}
        # an unencoded "+" in a query string arrives as a space: "…T08:00:00 08:00" meant "…T08:00:00+08:00"
        since_raw = re.sub(r" (\d{2}:?\d{2})$", r"+\1", (query.get("updated_since") or "").strip()) or None
        try:
            since = _parse_time(since_raw) if since_raw else None
        except ValueError:
            raise ValueError("updated_since must be an ISO 8601 timestamp such as 2024-06-01T00:00:00Z") from None
        page = query_int(query, "page", 1, 1, 10**9)
        data, total = store.since(since, page, size)
        total_pages = -(-total // size)
        return {"data": data, "page": page, "page_size": size, "total_pages": total_pages,
                "has_more": page < total_pages}

    def _rows_total_page(self, store: FeedStore, query: dict[str, str]) -> dict:
        """A platform-style answer: {"total": N, "rows": [...]}, parameters named as the feed says, the
        last-change field and every date field as epoch milliseconds (as such APIs export a Date)."""
        api = store.api
        size = query_int(query, api.size_param, store.page_size, 1, MAX_PAGE_SIZE)
        page = query_int(query, api.page_param, 1, 1, 10**9)
        raw = (query.get(api.since_param) or "").strip()
        if raw and not raw.isdigit():
            raise ValueError(f"{api.since_param} must be epoch milliseconds")
        since = dt.datetime.fromtimestamp(int(raw) / 1000, tz=_UTC) if raw else None
        data, total = store.since(since, page, size)
        return {"total": total, "rows": [_as_platform_record(r, api.updated_field, store.date_keys, store.department)
                                         for r in data]}
