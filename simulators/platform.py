"""An upstream platform simulator: the provincial or national credit platform the warehouse publishes to.

Real platform specifications are not public, so the project defines its own JSON contract
(`docs/platform_api.md`) and this simulator is its reference implementation: a real HTTP server on
loopback that authenticates signed requests (`etl.publish.signing`), validates 双公示 records
against the standard field codes, answers with per-record receipts, deduplicates by idempotency
key, keeps what it accepted in SQLite (so it survives a restart, as a platform does) and answers
the reconciliation queries the publisher uses to prove that what it sent arrived.

On request it misbehaves the way platforms and their gateways do — 500s, 429 with Retry-After,
slow answers, answers that never come (sometimes after the push was stored: "sent but receipt
lost"), connections reset, HTML pages with status 200, and records rejected for no reason the
sender can fix. Request-level faults are drawn from one seeded random stream in arrival order.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import math
import random
import re
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

import click

from etl.codes import classify_code
from etl.errors import UserError
from etl.personal import find_numbers
from etl.publish.signing import DEFAULT_WINDOW_SECONDS, HEADER_APP_KEY, HEADER_NONCE, HEADER_TIMESTAMP, verify
from simulators.loopback import LoopbackHandler, LoopbackSimulator, query_int, stop_signals, wait_for_stop

log = logging.getLogger(__name__)

Flavor = Literal["provincial", "national"]
FLAVORS = ("provincial", "national")
DEFAULT_APP_KEY = "creditwh"
# Only for `sim platform` on a developer's machine when CREDITWH_PLATFORM_SECRET is unset; the docs say to override it.
LOCAL_DEFAULT_SECRET = "local-simulator-secret-do-not-use-elsewhere"
DEFAULT_PORTS = {"provincial": 8780, "national": 8781}

MAX_ITEMS = 1000
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_PAGE_SIZE = 1000

# The platform's own rules for an upsert: what 双公示 2.0 marks 必填 (docs/research/shuanggongshi.md §1: an
# annotated field list for penalties; the fill-in notes quoted by a Hubei exchange for licences, whose validity
# dates and source agency are required as well). Each entry is a group of alternatives: one field of the group
# must be filled. Kept apart from the warehouse's catalog on purpose: the platform is the other side.
REQUIRED_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "penalty": (("CF_XDR_MC",), ("CF_XDR_LB",), ("CF_WSH",), ("CF_WFXW",), ("CF_SY",), ("CF_YJ",), ("CF_CFLB",),
                ("CF_NR",), ("CF_JDRQ",), ("CF_YXQ",), ("CF_CFJG",), ("CF_CFJGDM",), ("CF_SJLY",), ("CF_SJLYDM",)),
    "license": (("XK_XDR_MC",), ("XK_XDR_LB",), ("XK_XKWS",), ("XK_WSH",), ("XK_XKLB",), ("XK_NR",), ("XK_JDRQ",),
                ("XK_YXQZ",), ("XK_YXQZI",), ("XK_XKJG",), ("XK_XKJGDM",), ("XK_LYDW",), ("XK_LYDWDM",)),
}
# 条件必填 by subject category (XDR_LB): a legal person names its unified social credit code and legal
# representative, an individual business its code, a natural person the type and number of an identity document.
# No verbatim 2.0 text was found for these (research §6); they are the rules platforms are known to apply.
CONDITIONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "法人及非法人组织": ("XDR_SHXYM", "FRDB"),
    "个体工商户": ("XDR_SHXYM",),
    "自然人": ("XDR_ZJLX", "XDR_ZJHM"),
}
# Values the platform takes as labels, not codes (records in the wild carry the text: research §2).
LABELS: dict[str, tuple[str, ...]] = {
    "XDR_LB": tuple(CONDITIONAL_FIELDS),
    "XK_XKLB": ("普通", "特许", "认可", "核准", "登记", "其他"),
    # 《行政处罚法》(2021) 第九条, several separated by ';'
    "CF_CFLB": ("警告", "通报批评", "罚款", "没收违法所得", "没收非法财物", "暂扣许可证件", "降低资质等级",
                "吊销许可证件", "限制开展生产经营活动", "责令停产停业", "责令关闭", "限制从业", "行政拘留", "其他"),
}
PREFIX = {"penalty": "CF", "license": "XK"}
DATE_FIELDS = {"penalty": ("CF_JDRQ", "CF_YXQ", "CF_GSJZQ"), "license": ("XK_JDRQ", "XK_YXQZ", "XK_YXQZI")}
DECISION_DATE_FIELD = {"penalty": "CF_JDRQ", "license": "XK_JDRQ"}
ACTIONS = ("upsert", "withdraw")

_KEY = re.compile(r"[A-Za-z0-9._:-]{1,200}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_UTC = dt.UTC

_HTML_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Welcome</title></head>\n<body><h1>Service temporarily "
              b"unavailable</h1><p>Please contact the administrator.</p><hr><center>nginx</center></body></html>\n")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS receipts (
    endpoint TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    receipt_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    reason_code TEXT,
    reason TEXT,
    content_sha256 TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (endpoint, idempotency_key)
);
CREATE TABLE IF NOT EXISTS publicity_items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    receipt_id TEXT NOT NULL,
    action TEXT NOT NULL,
    record_type TEXT NOT NULL,
    record_uid TEXT NOT NULL,
    department_code TEXT NOT NULL,
    decision_date TEXT NOT NULL,
    payload TEXT NOT NULL,
    accepted_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS publicity_items_by_day ON publicity_items (department_code, decision_date, seq);
CREATE TABLE IF NOT EXISTS publicity_current (
    record_type TEXT NOT NULL,
    record_uid TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('published', 'withdrawn')),
    department_code TEXT NOT NULL,
    decision_date TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (record_type, record_uid)
);
-- Nonces seen while their timestamp is inside the signature window: kept on disk, so a request replayed
-- after a restart is refused as before it (docs/platform_api.md).
CREATE TABLE IF NOT EXISTS nonces (
    app_key TEXT NOT NULL,
    nonce TEXT NOT NULL,
    forget_after REAL NOT NULL,
    PRIMARY KEY (app_key, nonce)
);
CREATE INDEX IF NOT EXISTS nonces_by_expiry ON nonces (forget_after);
CREATE TABLE IF NOT EXISTS indicator_items (
    item_key TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL,
    item_type TEXT NOT NULL,
    item_date TEXT NOT NULL,
    payload TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS indicator_submissions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    receipt_id TEXT NOT NULL,
    city_code TEXT NOT NULL,
    period TEXT NOT NULL,
    edition TEXT NOT NULL,
    indicator_values TEXT NOT NULL,
    accepted_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class PlatformFaults:
    """Fault knobs; rates are fractions. Request-level faults are drawn in arrival order from `seed`.

    At most one request-level fault hits a request (their rates add up to at most 1): `rate_limit_rate`
    → 429 with `Retry-After: 1`; `error_rate` → 500; `timeout_rate` → the answer comes after
    `timeout_seconds` (in half of these cases the request was processed and stored first, otherwise
    the late answer is a 504); `reset_rate` → the connection is closed without an answer (again
    processed first in half of the cases); `html_rate` → 200 with an HTML page, nothing processed.
    `reject_rate` rejects single records (`platform_rejected`) by a hash of their idempotency key, so
    a retry is rejected again. `latency_ms` is added to every data request. /health never misbehaves.
    """

    error_rate: float = 0.0
    latency_ms: int = 0
    timeout_rate: float = 0.0
    timeout_seconds: float = 5.0
    rate_limit_rate: float = 0.0
    reject_rate: float = 0.0
    reset_rate: float = 0.0
    html_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        rates = {"error_rate": self.error_rate, "timeout_rate": self.timeout_rate,
                 "rate_limit_rate": self.rate_limit_rate, "reject_rate": self.reject_rate,
                 "reset_rate": self.reset_rate, "html_rate": self.html_rate}
        for name, rate in rates.items():
            if not (isinstance(rate, int | float) and 0 <= rate <= 1):
                raise UserError(f"故障比例 {name} 须在 0 与 1 之间 / fault {name} must be a fraction between 0 and 1, "
                                f"got {rate!r}.")
        if sum(rate for name, rate in rates.items() if name != "reject_rate") > 1 + 1e-9:
            raise UserError("请求级故障比例之和超过 1 / the request-level fault rates (error, timeout, rate limit, "
                            "reset, HTML) add up to more than 1; lower them.")
        if self.latency_ms < 0:
            raise UserError("故障延迟不能为负 / fault latency must not be negative.")
        if not (isinstance(self.timeout_seconds, int | float) and 0 < self.timeout_seconds <= 600):
            raise UserError(f"timeout_seconds 须在 0 与 600 之间 / timeout_seconds must be above 0 and at most 600, "
                            f"got {self.timeout_seconds!r}.")

    def request_rates(self) -> tuple[tuple[str, float], ...]:
        """The request-level outcomes with their rates, in the order the draw tests them."""
        return (("rate_limited", self.rate_limit_rate), ("server_error", self.error_rate),
                ("timeout", self.timeout_rate), ("reset", self.reset_rate), ("html", self.html_rate))

    def rejects(self, idempotency_key: str) -> bool:
        """Whether the reject knob refuses this record: a pure function of seed and key, so retries agree."""
        if self.reject_rate <= 0:
            return False
        digest = hashlib.sha256(f"platform-reject:{self.seed}:{idempotency_key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.reject_rate


class ApiError(Exception):
    """An answer other than 200, as the JSON `{"error": code, "message": "中文 / English"}`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _now_text() -> str:
    return dt.datetime.now(_UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _content_sha256(document: object) -> str:
    return hashlib.sha256(json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def _is_iso_date(value: object) -> bool:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict):
        return not value
    return False


def _unmasked_identity(code: str, value: object) -> str | None:
    """Why a payload value fails the compliance check on personal data, or None: an identity number written
    anywhere in it (etl.personal finds them as the warehouse does), or an ID field (…_ZJHM) that shows more
    than half its characters."""
    if not isinstance(value, str) or not value.strip():
        return None
    if classify_code(value) == "uscc":
        return None  # an organisation's code (a valid USCC that is not also a citizen ID number)
    found = find_numbers(value)
    if found:
        kind = found[0][0]
        return (f"{code} 含未脱敏的{kind.name_zh}号码 / {code} holds an unmasked {kind.name_en.lower()} number")
    if code.endswith("_ZJHM") and value.count("*") * 2 < len(value.strip()):
        return (f"{code} 证件号码脱敏不足（须隐去至少一半字符） / {code} is not masked enough (hide at least half of "
                f"its characters)")
    return None


class _Rejection(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _check_publicity_item(item: dict) -> None:
    """Raise _Rejection with the platform's reason when one record cannot be accepted."""
    action = item.get("action")
    if action not in ACTIONS:
        raise _Rejection("unknown_action", f"未知的操作 {action!r}（应为 upsert 或 withdraw） / "
                                           f"unknown action {action!r} (upsert or withdraw)")
    record_type = item.get("record_type")
    if record_type not in REQUIRED_FIELDS:
        raise _Rejection("unknown_record_type", f"未知的记录类型 {record_type!r}（应为 license 或 penalty） / "
                                                f"unknown record_type {record_type!r} (license or penalty)")
    envelope_missing = [name for name in ("record_uid", "department_code", "decision_date")
                        if not isinstance(item.get(name), str) or not item[name].strip()]
    if envelope_missing:
        names = ", ".join(envelope_missing)
        raise _Rejection("missing_field", f"缺少必填项 {names} / required fields missing: {names}")
    if len(item["record_uid"]) > 200 or len(item["department_code"]) > 64:
        raise _Rejection("invalid_item", "record_uid 不超过 200 字符、department_code 不超过 64 字符 / "
                                         "record_uid is at most 200 and department_code at most 64 characters")
    if not _is_iso_date(item["decision_date"]):
        raise _Rejection("bad_date", "decision_date 须为 YYYY-MM-DD 格式的日期 / "
                                     "decision_date must be an ISO date YYYY-MM-DD")
    payload = item.get("payload")
    if action == "withdraw" and payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise _Rejection("bad_payload", "payload 须为 JSON 对象 / payload must be a JSON object")
    if action == "upsert":
        missing = [" or ".join(group) for group in REQUIRED_FIELDS[record_type]
                   if all(_blank(payload.get(code)) for code in group)]
        if missing:
            names = ", ".join(missing)
            raise _Rejection("missing_field", f"缺少必填项 {names} / required fields missing: {names}")
        prefix = PREFIX[record_type]
        category = payload.get(f"{prefix}_XDR_LB")
        labels = {f"{prefix}_XDR_LB": LABELS["XDR_LB"], **{c: v for c, v in LABELS.items() if c.startswith(prefix)}}
        for code, allowed in labels.items():
            values = str(payload.get(code) or "").split(";")
            wrong = [v for v in values if v not in allowed]
            if wrong:
                raise _Rejection("bad_value", f"{code} 的值 {wrong[0]!r} 不在标准代码表中 / {code} has {wrong[0]!r}, "
                                              f"not a value of the standard")
        needed = [f"{prefix}_{suffix}" for suffix in CONDITIONAL_FIELDS[category]]
        missing = [code for code in needed if _blank(payload.get(code))]
        if missing:
            names = ", ".join(missing)
            raise _Rejection("missing_field", f"行政相对人类别为{category}时必填 {names} / required for {category}: "
                                              f"{names}")
        for code in DATE_FIELDS[record_type]:
            if not _blank(payload.get(code)) and not _is_iso_date(payload[code]):
                raise _Rejection("bad_date", f"{code} 须为 YYYY-MM-DD 格式的日期 / {code} must be an ISO date "
                                             f"YYYY-MM-DD")
        decision_field = DECISION_DATE_FIELD[record_type]
        if payload[decision_field] != item["decision_date"]:
            raise _Rejection("date_mismatch", f"decision_date 与 {decision_field} 不一致 / "
                                              f"decision_date differs from {decision_field}")
    for code in sorted(payload):
        problem = _unmasked_identity(code, payload[code])
        if problem:
            raise _Rejection("unmasked_id", problem)


def _check_indicators(document: dict) -> None:
    city_code, period, edition = document.get("city_code"), document.get("period"), document.get("edition")
    missing = [name for name, value in (("city_code", city_code), ("period", period), ("edition", edition))
               if not isinstance(value, str) or not value.strip()]
    if missing:
        names = ", ".join(missing)
        raise _Rejection("missing_field", f"缺少必填项 {names} / required fields missing: {names}")
    if not _PERIOD.fullmatch(period):
        raise _Rejection("bad_period", "period 须为 YYYY-MM 格式 / period must be a month YYYY-MM")
    values = document.get("values")
    if not isinstance(values, list) or not values or len(values) > MAX_ITEMS:
        raise _Rejection("bad_value", f"values 须为 1–{MAX_ITEMS} 个指标的列表 / values must be a list of 1 to "
                                      f"{MAX_ITEMS} indicators")
    seen: set[str] = set()
    for entry in values:
        code = entry.get("code") if isinstance(entry, dict) else None
        if not isinstance(code, str) or not code.strip():
            raise _Rejection("bad_value", "每个指标须有 code / every indicator needs a code")
        if code in seen:
            raise _Rejection("duplicate_code", f"指标 {code} 重复 / indicator {code} appears twice")
        seen.add(code)
        for name in ("value", "points"):
            number = entry.get(name)
            if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)
                                       or not math.isfinite(number)):
                raise _Rejection("bad_value", f"指标 {code} 的 {name} 须为数值或 null / {name} of indicator {code} "
                                              f"must be a number or null")
        if isinstance(entry.get("points"), int | float) and entry["points"] < 0:
            raise _Rejection("bad_value", f"指标 {code} 的得分不能为负 / points of indicator {code} must not be "
                                          f"negative")


# The kinds of monitoring items the platform takes (etl/catalog/indicator_items.yml cites them).
ITEM_TYPES = frozenset({"policy_document", "credit_news", "risk_alert", "rating_result", "joint_punishment_case"})


def _check_item(item: dict) -> None:
    """A monitoring item as the platform checks it: a known type, a date, a department, a title and content,
    no identity number anywhere."""
    missing = [name for name in ("item_key", "item_type", "date", "department", "title", "content")
               if not isinstance(item.get(name), str) or not item[name].strip()]
    if missing:
        names = ", ".join(missing)
        raise _Rejection("missing_field", f"缺少必填项 {names} / required fields missing: {names}")
    if item["item_type"] not in ITEM_TYPES:
        raise _Rejection("bad_value", f"条目类型 {item['item_type'][:40]!r} 未知 / unknown item type")
    if not _is_iso_date(item["date"]):
        raise _Rejection("bad_value", "date 须为 YYYY-MM-DD / date must be an ISO date")
    for name in ("title", "content"):
        problem = _unmasked_identity(name, item[name])
        if problem:
            raise _Rejection("unmasked_id", problem)


class _Store:
    """The platform's SQLite database: one connection shared under a lock (writes are serial anyway)."""

    def __init__(self, path: Path, flavor: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise UserError(f"无法打开平台存储 {path} / the platform store {path} cannot be opened ({exc}).") from None
        self._lock = threading.RLock()
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.executescript(_SCHEMA)
            row = self._conn.execute("SELECT value FROM meta WHERE name = 'flavor'").fetchone()
            if row is None:
                self._conn.execute("INSERT INTO meta (name, value) VALUES ('flavor', ?)", (flavor,))
            elif row["value"] != flavor:
                self._conn.close()
                raise UserError(f"存储 {path} 属于{row['value']}平台 / the store {path} belongs to a {row['value']} "
                                f"platform, not a {flavor} one; choose another --store.")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _NonceBook:
    """Nonces seen within the signature window, in the platform's store (a restart forgets none of them);
    each is forgotten once a replay would fail the clock check anyway."""

    def __init__(self, store: _Store) -> None:
        self._store = store

    def first_use(self, app_key: str, nonce: str, forget_after: float, now: float) -> bool:
        with self._store.transaction() as db:
            db.execute("DELETE FROM nonces WHERE forget_after < ?", (now,))
            seen = db.execute("INSERT INTO nonces (app_key, nonce, forget_after) VALUES (?, ?, ?) "
                              "ON CONFLICT (app_key, nonce) DO NOTHING", (app_key, nonce, forget_after))
            return seen.rowcount == 1


class _Handler(LoopbackHandler):
    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self.server.simulator.handle(self, "POST")

    def do_PUT(self) -> None:  # noqa: N802
        self.server.simulator.handle(self, "PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self.server.simulator.handle(self, "DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self.server.simulator.handle(self, "PATCH")


Response = tuple[int, dict, dict[str, str]]


class PlatformSimulator(LoopbackSimulator):
    """A provincial or national platform on a loopback HTTP server, storing what it accepts in SQLite.

    >>> with PlatformSimulator("national", tmp / "platform.sqlite", secret=s) as sim:
    ...     requests.post(sim.base_url + "/api/v1/publicity", data=body, headers=sign("POST", ...))

    Without `secret` a random one is made (read it from `sim.secret`). `faults` may be replaced while
    serving (`sim.faults = PlatformFaults(...)`); the fault stream continues.
    """

    name_zh, name_en = "平台模拟器", "platform simulator"
    handler = _Handler

    def __init__(self, flavor: Flavor, store_path: Path | str, app_key: str = DEFAULT_APP_KEY,
                 secret: str | None = None, port: int = 0, faults: PlatformFaults | None = None,
                 host: str = "127.0.0.1", window_seconds: int = DEFAULT_WINDOW_SECONDS) -> None:
        if flavor not in FLAVORS:
            raise UserError(f"未知的平台类型 {flavor!r} / unknown platform flavor {flavor!r}: provincial or national.")
        if not app_key:
            raise UserError("应用标识不能为空 / the app key must not be empty.")
        if secret is not None and not secret:
            raise UserError("密钥不能为空 / the secret must not be empty.")
        super().__init__(host, port)
        self.name_en = f"{flavor} platform simulator"
        self.flavor: Flavor = flavor
        self.store_path = Path(store_path).resolve()
        self.app_key = app_key
        self.secret = secret or uuid.uuid4().hex + uuid.uuid4().hex
        self.faults = faults or PlatformFaults()
        self.window_seconds = window_seconds
        self._rng = random.Random(f"platform-simulator:{self.faults.seed}")
        self._fault_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._counters: Counter[str] = Counter()
        self._fault_counts: Counter[str] = Counter()
        self._auth_failures: Counter[str] = Counter()
        self._nonces: _NonceBook | None = None
        self._store: _Store | None = None

    def __repr__(self) -> str:  # no secret in reprs
        return f"PlatformSimulator(flavor={self.flavor!r}, app_key={self.app_key!r}, store={str(self.store_path)!r})"

    # -- lifecycle --------------------------------------------------------------------------------

    def opening(self) -> None:
        self._store = _Store(self.store_path, self.flavor)
        self._nonces = _NonceBook(self._store)

    def closing(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def base_url(self) -> str:
        return self.url

    def connection_env(self, conn_id: str | None = None) -> dict[str, str]:
        """An `AIRFLOW_CONN_*` entry (JSON) pointing at this platform: login = app key, password = secret."""
        conn_id = conn_id or f"platform_{self.flavor}"
        return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(
            {"conn_type": "http", "host": self.host, "port": self.port, "login": self.app_key,
             "password": self.secret, "extra": {"flavor": self.flavor}})}

    def _db(self) -> _Store:
        if self._store is None:
            raise RuntimeError("the platform simulator is not running; call start() first")
        return self._store

    # -- test accessors ---------------------------------------------------------------------------

    def count_accepted(self) -> int:
        """Publicity items accepted and stored (upserts and withdrawals), over the store's whole life."""
        with self._db().reading() as db:
            return db.execute("SELECT count(*) FROM publicity_items").fetchone()[0]

    def stats(self) -> dict:
        """What the platform holds (from the store) and what this run saw (requests, auth failures, faults)."""
        with self._db().reading() as db:
            by_status = dict(db.execute("SELECT status, count(*) FROM receipts WHERE endpoint = 'publicity' "
                                        "GROUP BY status").fetchall())
            unique_keys = db.execute("SELECT count(*) FROM receipts").fetchone()[0]
            accepted = db.execute("SELECT count(*) FROM publicity_items").fetchone()[0]
            indicators = db.execute("SELECT count(*) FROM indicator_submissions").fetchone()[0]
            items = db.execute("SELECT count(*) FROM indicator_items").fetchone()[0]
            published = db.execute("SELECT count(*) FROM publicity_current WHERE state = 'published'").fetchone()[0]
        with self._stats_lock:
            faults = dict(self._fault_counts)
            counters = dict(self._counters)
            auth = dict(self._auth_failures)
        return {
            "accepted": accepted,
            "rejected": by_status.get("rejected", 0),
            "published": published,
            "indicators_accepted": indicators,
            "indicator_items": items,
            "unique_keys": unique_keys,
            "duplicates": counters.get("duplicates", 0),
            "conflicting_duplicates": counters.get("conflicting_duplicates", 0),
            "requests": counters.get("requests", 0),
            "auth_failures": auth,
            "faults": faults,
            "faults_injected": sum(n for kind, n in faults.items() if not kind.endswith("_after_processing")),
        }

    def _count(self, counter: Counter[str], key: str, n: int = 1) -> None:
        with self._stats_lock:
            counter[key] += n

    # -- requests ---------------------------------------------------------------------------------

    def handle(self, request: LoopbackHandler, method: str) -> None:
        self._count(self._counters, "requests")
        try:
            self._serve(request, method)
        except ApiError as exc:
            request.send_json(exc.status, {"error": exc.code, "message": exc.message}, exc.headers)
        except (ConnectionError, TimeoutError):
            raise
        except Exception:
            if self.stopping.is_set():
                raise
            log.exception("platform sim: %s %s failed", method, urlsplit(request.path).path)
            request.close_connection = True
            request.send_json(500, {"error": "internal_error",
                                    "message": "模拟器内部错误 / simulator bug; see its log"})

    def _read_body(self, request: LoopbackHandler) -> bytes:
        raw_length = request.headers.get("Content-Length")
        if raw_length is None:
            if request.headers.get("Transfer-Encoding"):
                request.close_connection = True
                raise ApiError(411, "length_required", "须提供 Content-Length / Content-Length is required")
            return b""
        try:
            length = int(raw_length)
            if length < 0:
                raise ValueError
        except ValueError:
            request.close_connection = True
            raise ApiError(400, "bad_request", "Content-Length 无效 / invalid Content-Length") from None
        if length > MAX_BODY_BYTES:
            request.close_connection = True  # the body is not read, so this connection cannot carry another request
            raise ApiError(413, "payload_too_large", f"请求体超过 {MAX_BODY_BYTES} 字节 / request body larger than "
                                                     f"{MAX_BODY_BYTES} bytes")
        return request.rfile.read(length) if length else b""

    def _route(self, method: str, path: str) -> tuple[str, str | None]:
        """(endpoint name, path argument) or an ApiError 404/405."""
        routes = {"/api/v1/publicity": ("POST", "push_publicity"),
                  "/api/v1/publicity/counts": ("GET", "counts"),
                  "/api/v1/publicity/records": ("GET", "records")}
        if self.flavor == "national":
            routes["/api/v1/indicators"] = ("POST", "push_indicators")
            routes["/api/v1/indicator-items"] = ("POST", "push_items")
        argument = None
        if path.startswith("/api/v1/publicity/records/") and path.count("/") == 5:
            argument = unquote(path.rsplit("/", 1)[1])
            path = "/api/v1/publicity/records/{key}"
            routes[path] = ("GET", "record")
        if path not in routes:
            raise ApiError(404, "not_found", f"无此接口 / no endpoint at {path} on the {self.flavor} platform")
        allowed, endpoint = routes[path]
        if method != allowed:
            raise ApiError(405, "method_not_allowed", f"该接口仅支持 {allowed} / {path} accepts {allowed} only",
                           {"Allow": allowed})
        return endpoint, argument

    def _authenticate(self, request: LoopbackHandler, method: str, path: str, body: bytes) -> None:
        now = time.time()
        headers = dict(request.headers.items())
        problem = verify(method, path, body, headers,
                         lambda key: self.secret if _equal_keys(key, self.app_key) else None,
                         now=now, window_seconds=self.window_seconds)
        if problem is None:
            given = {name.lower(): value.strip() for name, value in headers.items()}
            forget_after = int(given[HEADER_TIMESTAMP.lower()]) + self.window_seconds + 1
            first_use = self._nonces is not None and self._nonces.first_use(
                given[HEADER_APP_KEY.lower()], given[HEADER_NONCE.lower()], forget_after, now)
            if not first_use:
                code = "replayed_nonce"
                message = "随机数已使用过，请重新签名 / nonce already used; sign the request again"
            else:
                return
        else:
            code, message = problem.code, problem.message
        self._count(self._auth_failures, code)
        raise ApiError(401, code, message, {"WWW-Authenticate": 'HMAC-SHA256 realm="platform"'})

    def _serve(self, request: LoopbackHandler, method: str) -> None:
        parts = urlsplit(request.path)
        path = parts.path.rstrip("/") or "/"
        if path == "/health" and method == "GET":
            request.send_json(200, {"status": "ok", "flavor": self.flavor})
            return
        body = self._read_body(request)
        self._authenticate(request, method, parts.path, body)
        endpoint, argument = self._route(method, path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}

        def answer() -> Response:
            if endpoint == "push_publicity":
                return self._push_publicity(body)
            if endpoint == "push_indicators":
                return self._push_indicators(body)
            if endpoint == "push_items":
                return self._push_items(body)
            if endpoint == "counts":
                return self._counts(query)
            if endpoint == "records":
                return self._records(query)
            return self._record(argument or "")

        outcome, process_first = self._draw_fault()
        if self.faults.latency_ms:
            self.stopping.wait(self.faults.latency_ms / 1000)
        if outcome != "ok":
            self._count(self._fault_counts, outcome)
        if outcome == "rate_limited":
            raise ApiError(429, "rate_limited", "请求过于频繁，请稍后重试 / too many requests; retry after 1 s",
                           {"Retry-After": "1"})
        if outcome == "server_error":
            raise ApiError(500, "server_error", "平台内部错误（模拟） / internal platform error (simulated)")
        if outcome == "html":
            request.send_body(200, _HTML_PAGE, "text/html; charset=utf-8")
            return
        if outcome == "reset":
            if process_first:
                self._count(self._fault_counts, "reset_after_processing")
                _safe(answer)
            request.reset()
            return
        if outcome == "timeout":
            result = None
            if process_first:
                self._count(self._fault_counts, "timeout_after_processing")
                result = _safe(answer)
            self.stopping.wait(self.faults.timeout_seconds)
            if result is None:
                raise ApiError(504, "gateway_timeout", "网关等待平台超时（模拟） / the gateway timed out waiting for "
                                                       "the platform (simulated)")
            status, document, headers = result
            request.send_json(status, document, headers)
            return
        status, document, headers = answer()
        request.send_json(status, document, headers)

    def _draw_fault(self) -> tuple[str, bool]:
        """(outcome, processed first?) for the next data request, in arrival order."""
        faults = self.faults
        with self._fault_lock:
            draw, second = self._rng.random(), self._rng.random()
        for outcome, rate in faults.request_rates():
            if draw < rate:
                return outcome, second < 0.5
            draw -= rate
        return "ok", False

    # -- endpoints --------------------------------------------------------------------------------

    @staticmethod
    def _json_body(body: bytes) -> dict:
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "bad_json", "请求体须为 UTF-8 编码的 JSON / the body must be UTF-8 JSON") from None
        if not isinstance(document, dict):
            raise ApiError(400, "bad_request", "请求体须为 JSON 对象 / the body must be a JSON object")
        return document

    def _receipt_id(self) -> str:
        return f"{self.flavor[0].upper()}{dt.datetime.now(_UTC):%Y%m%d}-{uuid.uuid4().hex[:20]}"

    def _remembered(self, db: sqlite3.Connection, endpoint: str, key: str, content: str) -> dict | None:
        """The original receipt of a key already seen, marked duplicate; None for a new key."""
        row = db.execute("SELECT receipt_id, status, reason_code, reason, content_sha256 FROM receipts "
                         "WHERE endpoint = ? AND idempotency_key = ?", (endpoint, key)).fetchone()
        if row is None:
            return None
        self._count(self._counters, "duplicates")
        if row["content_sha256"] != content:
            self._count(self._counters, "conflicting_duplicates")
        return {"idempotency_key": key, "status": row["status"], "receipt_id": row["receipt_id"], "duplicate": True,
                "reason_code": row["reason_code"], "reason": row["reason"]}

    def _remember(self, db: sqlite3.Connection, endpoint: str, key: str, content: str, receipt: dict,
                  now: str) -> None:
        db.execute("INSERT INTO receipts (endpoint, idempotency_key, receipt_id, status, reason_code, reason, "
                   "content_sha256, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (endpoint, key, receipt["receipt_id"], receipt["status"], receipt["reason_code"],
                    receipt["reason"], content, now))

    def _push_publicity(self, body: bytes) -> Response:
        document = self._json_body(body)
        items = document.get("items")
        if not isinstance(items, list):
            raise ApiError(400, "bad_request", "请求体须含 items 列表 / the body needs an `items` list")
        if len(items) > MAX_ITEMS:
            raise ApiError(413, "too_many_items", f"每批最多 {MAX_ITEMS} 条，本批 {len(items)} 条 / at most "
                                                  f"{MAX_ITEMS} items per request, got {len(items)}")
        now = _now_text()
        with self._db().transaction() as db:
            receipts = [self._publicity_receipt(db, item, now) for item in items]
        return 200, {"receipts": receipts}, {}

    def _publicity_receipt(self, db: sqlite3.Connection, item: object, now: str) -> dict:
        key = item.get("idempotency_key") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(key, str) or not _KEY.fullmatch(key):
            # without a usable key nothing can be remembered: the receipt is not kept for dedup
            return {"idempotency_key": key if isinstance(key, str) else None, "status": "rejected",
                    "receipt_id": self._receipt_id(), "duplicate": False, "reason_code": "invalid_item",
                    "reason": "条目须为 JSON 对象，idempotency_key 为 1–200 位字母、数字、. _ : - / "
                              "each item must be a JSON object with an idempotency_key of 1-200 characters "
                              "A-Z a-z 0-9 . _ : -"}
        content = _content_sha256(item)
        original = self._remembered(db, "publicity", key, content)
        if original is not None:
            return original
        receipt = {"idempotency_key": key, "status": "accepted", "receipt_id": self._receipt_id(),
                   "duplicate": False, "reason_code": None, "reason": None}
        try:
            _check_publicity_item(item)
            if self.faults.rejects(key):
                self._count(self._fault_counts, "platform_rejected")
                raise _Rejection("platform_rejected", "平台退回（模拟） / rejected by the platform (simulated)")
        except _Rejection as rejection:
            receipt.update(status="rejected", reason_code=rejection.code, reason=rejection.reason)
        self._remember(db, "publicity", key, content, receipt, now)
        if receipt["status"] == "accepted":
            payload = item.get("payload") if isinstance(item.get("payload"), dict) else {}
            db.execute("INSERT INTO publicity_items (idempotency_key, receipt_id, action, record_type, record_uid, "
                       "department_code, decision_date, payload, accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (key, receipt["receipt_id"], item["action"], item["record_type"], item["record_uid"],
                        item["department_code"], item["decision_date"], json.dumps(payload, ensure_ascii=False), now))
            state = "published" if item["action"] == "upsert" else "withdrawn"
            db.execute("INSERT INTO publicity_current (record_type, record_uid, state, department_code, decision_date, "
                       "idempotency_key, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                       "ON CONFLICT (record_type, record_uid) DO UPDATE SET state = excluded.state, "
                       "department_code = excluded.department_code, decision_date = excluded.decision_date, "
                       "idempotency_key = excluded.idempotency_key, updated_at = excluded.updated_at",
                       (item["record_type"], item["record_uid"], state, item["department_code"],
                        item["decision_date"], key, now))
        return receipt

    def _push_indicators(self, body: bytes) -> Response:
        document = self._json_body(body)
        key = document.get("idempotency_key")
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ApiError(400, "bad_request", "idempotency_key 须为 1–200 位字母、数字、. _ : - / "
                                               "idempotency_key must be 1-200 characters A-Z a-z 0-9 . _ : -")
        content = _content_sha256(document)
        now = _now_text()
        with self._db().transaction() as db:
            original = self._remembered(db, "indicators", key, content)
            if original is not None:
                return 200, original, {}
            receipt = {"idempotency_key": key, "status": "accepted", "receipt_id": self._receipt_id(),
                       "duplicate": False, "reason_code": None, "reason": None}
            try:
                _check_indicators(document)
                if self.faults.rejects(key):
                    self._count(self._fault_counts, "platform_rejected")
                    raise _Rejection("platform_rejected", "平台退回（模拟） / rejected by the platform (simulated)")
            except _Rejection as rejection:
                receipt.update(status="rejected", reason_code=rejection.code, reason=rejection.reason)
            self._remember(db, "indicators", key, content, receipt, now)
            if receipt["status"] == "accepted":
                db.execute("INSERT INTO indicator_submissions (idempotency_key, receipt_id, city_code, period, "
                           "edition, indicator_values, accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (key, receipt["receipt_id"], document["city_code"], document["period"], document["edition"],
                            json.dumps(document["values"], ensure_ascii=False), now))
        return 200, receipt, {}

    def _push_items(self, body: bytes) -> Response:
        """Monitoring items, each with its own receipt; an item key seen again replaces the item (a new
        version), an idempotency key seen again answers the first receipt."""
        document = self._json_body(body)
        items = document.get("items")
        if not isinstance(items, list) or not isinstance(document.get("city_code"), str):
            raise ApiError(400, "bad_request", "请求体须含 city_code 与 items 列表 / the body needs `city_code` and "
                                               "an `items` list")
        if len(items) > MAX_ITEMS:
            raise ApiError(413, "too_many_items", f"每批最多 {MAX_ITEMS} 条 / at most {MAX_ITEMS} items per request")
        now = _now_text()
        receipts = []
        with self._db().transaction() as db:
            for item in items:
                key = item.get("idempotency_key") if isinstance(item, dict) else None
                if not isinstance(key, str) or not _KEY.fullmatch(key):
                    raise ApiError(400, "bad_request", "每个条目须有合法的 idempotency_key / every item needs a "
                                                       "valid idempotency_key")
                content = _content_sha256(item)
                original = self._remembered(db, "items", key, content)
                if original is not None:
                    receipts.append(original)
                    continue
                receipt = {"idempotency_key": key, "status": "accepted", "receipt_id": self._receipt_id(),
                           "duplicate": False, "reason_code": None, "reason": None}
                try:
                    _check_item(item)
                except _Rejection as rejection:
                    receipt.update(status="rejected", reason_code=rejection.code, reason=rejection.reason)
                self._remember(db, "items", key, content, receipt, now)
                if receipt["status"] == "accepted":
                    db.execute("INSERT INTO indicator_items (item_key, idempotency_key, item_type, item_date, payload, "
                               "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (item_key) DO UPDATE SET "
                               "idempotency_key = excluded.idempotency_key, payload = excluded.payload, "
                               "updated_at = excluded.updated_at",
                               (item["item_key"], key, item["item_type"], item["date"],
                                json.dumps(item, ensure_ascii=False), now))
                receipts.append(receipt)
        return 200, {"receipts": receipts}, {}

    def count_items(self) -> dict[str, int]:
        """Monitoring items held, by type (test accessor)."""
        with self._db().reading() as db:
            return dict(db.execute("SELECT item_type, count(*) FROM indicator_items GROUP BY item_type").fetchall())

    @staticmethod
    def _date_param(query: dict[str, str], name: str) -> str | None:
        value = query.get(name)
        if value in (None, ""):
            return None
        if not _is_iso_date(value):
            raise ApiError(400, "bad_request", f"{name} 须为 YYYY-MM-DD / {name} must be an ISO date YYYY-MM-DD")
        return value

    @staticmethod
    def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
        try:
            return query_int(query, name, default, low, high)
        except ValueError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None

    def _counts(self, query: dict[str, str]) -> Response:
        if query.get("group_by") != "department_day":
            raise ApiError(400, "bad_request", "group_by 须为 department_day / group_by must be department_day")
        conditions, params = [], []
        if query.get("department_code"):
            conditions.append("department_code = ?")
            params.append(query["department_code"])
        if (date_from := self._date_param(query, "date_from")) is not None:
            conditions.append("decision_date >= ?")
            params.append(date_from)
        if (date_to := self._date_param(query, "date_to")) is not None:
            conditions.append("decision_date <= ?")
            params.append(date_to)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._db().reading() as db:
            rows = db.execute(
                "SELECT department_code, decision_date, record_type, "
                "sum(state = 'published') AS accepted, sum(state = 'withdrawn') AS withdrawn "
                f"FROM publicity_current {where} GROUP BY department_code, decision_date, record_type "
                "ORDER BY department_code, decision_date, record_type", params).fetchall()
        return 200, {"counts": [dict(row) for row in rows]}, {}

    def _records(self, query: dict[str, str]) -> Response:
        limit = self._int_param(query, "limit", 100, 1, MAX_PAGE_SIZE)
        offset = self._int_param(query, "offset", 0, 0, 10**12)
        conditions, params = [], []
        if query.get("department_code"):
            conditions.append("department_code = ?")
            params.append(query["department_code"])
        if (decision_date := self._date_param(query, "decision_date")) is not None:
            conditions.append("decision_date = ?")
            params.append(decision_date)
        if query.get("record_type"):
            conditions.append("record_type = ?")
            params.append(query["record_type"])
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._db().reading() as db:
            total = db.execute(f"SELECT count(*) FROM publicity_items {where}", params).fetchone()[0]
            rows = db.execute(
                "SELECT idempotency_key, record_uid, record_type, action, receipt_id, accepted_at, department_code, "
                f"decision_date FROM publicity_items {where} ORDER BY seq LIMIT ? OFFSET ?",
                [*params, limit, offset]).fetchall()
        return 200, {"records": [dict(row) for row in rows], "total": total}, {}

    def _record(self, key: str) -> Response:
        with self._db().reading() as db:
            receipt = db.execute("SELECT receipt_id, status, reason_code, reason, received_at FROM receipts "
                                 "WHERE endpoint = 'publicity' AND idempotency_key = ?", (key,)).fetchone()
            item = db.execute("SELECT i.*, c.state AS current_state FROM publicity_items i "
                              "LEFT JOIN publicity_current c USING (record_type, record_uid) "
                              "WHERE i.idempotency_key = ?", (key,)).fetchone()
        if receipt is None:
            raise ApiError(404, "not_found", "平台未收到该幂等键 / no item with this idempotency key")
        if item is None:
            return 200, {"idempotency_key": key, "status": receipt["status"], "receipt_id": receipt["receipt_id"],
                         "reason_code": receipt["reason_code"], "reason": receipt["reason"],
                         "received_at": receipt["received_at"]}, {}
        return 200, {"idempotency_key": key, "status": "accepted", "receipt_id": item["receipt_id"],
                     "action": item["action"], "record_type": item["record_type"], "record_uid": item["record_uid"],
                     "department_code": item["department_code"], "decision_date": item["decision_date"],
                     "payload": json.loads(item["payload"]), "accepted_at": item["accepted_at"],
                     "current_state": item["current_state"]}, {}


def _equal_keys(a: str, b: str) -> bool:
    """Constant-time string equality (app keys are not secret, but there is no reason to leak them by timing)."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _safe(answer) -> Response | None:
    """Process a request whose answer will be lost anyway; a refusal (ApiError) is processing too."""
    try:
        return answer()
    except ApiError as exc:
        return exc.status, {"error": exc.code, "message": exc.message}, exc.headers


# -- command line ---------------------------------------------------------------------------------


@click.command("platform")
@click.option("--flavor", type=click.Choice(FLAVORS), required=True, help="Which upstream platform to play.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="TCP port (default 8780 provincial, 8781 national; 0 picks a free one).")
@click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SQLite file keeping what the platform accepted (default: var/sim/platform-<flavor>.sqlite).")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of data requests answered 500.")
@click.option("--latency-ms", type=click.IntRange(min=0), default=0, show_default=True,
              help="Delay added to every data request.")
@click.option("--timeout-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of data requests answered only after --timeout-seconds (half of them stored first).")
@click.option("--timeout-seconds", type=click.FloatRange(0, 600, min_open=True), default=5.0, show_default=True,
              help="How long a timed-out request hangs.")
@click.option("--rate-limit-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of data requests answered 429 with Retry-After: 1.")
@click.option("--reject-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of records rejected (platform_rejected), by idempotency key.")
@click.option("--reset-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of data requests whose connection is closed without an answer (half of them stored first).")
@click.option("--html-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of data requests answered 200 with an HTML page.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fault sequence.")
def platform_command(flavor: str, host: str, port: int | None, store_path: Path | None, error_rate: float,
                     latency_ms: int, timeout_rate: float, timeout_seconds: float, rate_limit_rate: float,
                     reject_rate: float, reset_rate: float, html_rate: float, seed: int) -> None:
    """Serve a provincial or national platform (双公示 receipts, indicators) until stopped.

    The app key and secret come from CREDITWH_PLATFORM_APP_KEY and CREDITWH_PLATFORM_SECRET; without
    them a local default is used (never the secret on screen).
    """
    import os

    from etl import config
    from simulators.cli import MASK

    faults = PlatformFaults(error_rate=error_rate, latency_ms=latency_ms, timeout_rate=timeout_rate,
                            timeout_seconds=timeout_seconds, rate_limit_rate=rate_limit_rate,
                            reject_rate=reject_rate, reset_rate=reset_rate, html_rate=html_rate, seed=seed)
    app_key = os.environ.get("CREDITWH_PLATFORM_APP_KEY") or DEFAULT_APP_KEY
    secret = os.environ.get("CREDITWH_PLATFORM_SECRET") or LOCAL_DEFAULT_SECRET
    store_path = store_path or config.settings().var_dir / "sim" / f"platform-{flavor}.sqlite"
    port = DEFAULT_PORTS[flavor] if port is None else port
    simulator = PlatformSimulator(flavor, store_path, app_key=app_key, secret=secret, port=port, faults=faults,
                                  host=host)
    with stop_signals() as stop:  # handlers first: a supervisor may signal as soon as the banner appears
        simulator.start()
        try:
            click.echo(f"{flavor} platform simulator on {simulator.base_url} (store {simulator.store_path})")
            if not os.environ.get("CREDITWH_PLATFORM_APP_KEY"):
                click.echo(f"CREDITWH_PLATFORM_APP_KEY not set: app key {app_key!r} (local default)")
            if not os.environ.get("CREDITWH_PLATFORM_SECRET"):
                click.echo("CREDITWH_PLATFORM_SECRET not set: using the local default secret "
                           "(docs/platform_api.md); set it for anything but this machine")
            entry = {name: json.dumps({**json.loads(value), "password": MASK})
                     for name, value in simulator.connection_env().items()}
            click.echo("connection (secret masked):")
            click.echo("\n".join(f"export {name}='{value}'" for name, value in entry.items()))
            click.echo("Ctrl-C to stop")
            wait_for_stop(stop)
        finally:
            simulator.stop()
    click.echo(f"{flavor} platform simulator stopped", err=True)
