"""Run the credit check in the warehouse, for one code or for many rows at once, and word its answer.

All judging happens in SQL (`mart.credit_check_batch`, warehouse_sql/repeatable/); this module only feeds
it and turns its rows into sentences in Chinese and English. Many rows go in with one COPY into a temporary
table and come back from one query, however many there are.

Every query states its purpose and is logged by the warehouse (audit.credit_query), with the operator (the
OS user) and the command as the application: so the call runs in autocommit mode, where no rollback can
take its log entry back. A refused call (over a limit, no purpose) is a UserError with the warehouse's reason.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import getpass
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl.errors import UserError

VERDICT_ZH = {"pass": "通过", "veto": "一票否决", "review": "审慎核查", "unchecked": "无法核查", "refused": "拒绝查询"}
VERDICT_EN = {"pass": "pass", "veto": "veto", "review": "review", "unchecked": "not checked", "refused": "refused"}
KIND_ZH = {"uscc": "统一社会信用代码", "id_number": "身份证号码", "unknown": "其他证件号码"}
KIND_EN = {"uscc": "USCC", "id_number": "ID number", "unknown": "other identifier"}

# What the lookup found, for rows that need a word of explanation (found rows need none).
LOOKUP_ZH = {
    "found_by_name": "未提供有效代码，已按名称唯一匹配到该主体，请核对",
    "name_ambiguous": "名称对应多个主体，请提供统一社会信用代码",
    "name_not_found": "填写的是名称而非代码，库中无同名主体，请提供统一社会信用代码",
    "not_found": "代码有效，库中无该主体的信用记录（未发现失信信息）",
    "invalid": "代码校验未通过：既不是有效的统一社会信用代码，也不是有效的身份证号码",
    "empty": "空行，未填写代码或名称",
}
LOOKUP_EN = {
    "found_by_name": "no valid code given; matched the subject by its exact name - please verify",
    "name_ambiguous": "the name matches several subjects; give the USCC",
    "name_not_found": "a name instead of a code, and no subject has that name; give the USCC",
    "not_found": "valid code; the warehouse holds no record of this subject (nothing adverse found)",
    "invalid": "the code fails both the USCC and the ID-number check",
    "empty": "empty row: neither code nor name",
}

COLUMNS = ("code", "code_kind", "is_valid", "lookup_status", "is_found", "subject_name", "subject_type",
           "is_on_serious_dishonesty_list", "is_dishonest_debtor", "active_penalty_count",
           "is_on_abnormal_operation_list", "has_low_rating", "is_on_red_list", "latest_rating", "verdict",
           "reasons", "measures", "checked_on", "data_as_of", "refusal")


@dataclass(frozen=True)
class CheckResult:
    """One row of `mart.credit_check`: the verdict, the conditions found and the measures that apply."""

    code: str | None
    code_kind: str | None
    is_valid: bool
    lookup_status: str
    is_found: bool
    subject_name: str | None
    subject_type: str | None
    is_on_serious_dishonesty_list: bool | None
    is_dishonest_debtor: bool | None
    active_penalty_count: int | None
    is_on_abnormal_operation_list: bool | None
    has_low_rating: bool | None
    is_on_red_list: bool | None
    latest_rating: dict | None
    verdict: str
    reasons: list[dict]
    measures: list[dict]
    checked_on: dt.date
    data_as_of: dt.datetime | None
    refusal: str | None = None

    @classmethod
    def from_row(cls, row: sa.Row) -> CheckResult:
        values = {name: getattr(row, name) for name in COLUMNS}
        for name in ("latest_rating", "reasons", "measures"):
            if isinstance(values[name], str):
                values[name] = json.loads(values[name])
        return cls(**values)

    def as_dict(self) -> dict:
        """JSON-ready (dates as ISO text)."""
        out = {name: getattr(self, name) for name in COLUMNS}
        out["checked_on"] = self.checked_on.isoformat()
        out["data_as_of"] = self.data_as_of.isoformat() if self.data_as_of else None
        return out

    def reason_lines(self) -> tuple[list[str], list[str]]:
        """Why the verdict is what it is, one line per condition or lookup problem, in Chinese and English."""
        zh: list[str] = []
        en: list[str] = []
        if self.lookup_status in LOOKUP_ZH:
            zh.append(LOOKUP_ZH[self.lookup_status])
            en.append(LOOKUP_EN[self.lookup_status])
        for reason in self.reasons:
            count = reason["records"]
            span = _span(reason.get("first_date"), reason.get("last_date"))
            detail = f"（{reason['detail']}）" if reason.get("detail") else ""
            detail_en = f" ({reason['detail']})" if reason.get("detail") else ""
            zh.append(f"{reason['name_zh']}{detail}：{count} 条，{span}")
            en.append(f"{reason['name_en']}{detail_en}: {count} record{'s' if count != 1 else ''}, "
                      f"{_span_en(reason.get('first_date'), reason.get('last_date'))}")
        if self.is_found and not self.reasons:
            zh.append("未发现失信记录和有效荣誉")
            en.append("no adverse records and no honours in force")
        return zh, en

    def measure_lines(self) -> tuple[list[str], list[str]]:
        zh = [f"[{_measure_tag(m)}] {m['name_zh']}" for m in self.measures]
        en = [f"[{_measure_tag(m, english=True)}] {m['name_en']}" for m in self.measures]
        return zh, en


# What a measure does to the subject, said the same way in both languages.
MEASURE_TAGS = {"reward": ("守信激励", "reward"), "veto": ("一票否决", "veto"), "review": ("审慎核查", "review"),
                "punishment": ("失信惩戒", "punishment")}


def _measure_tag(measure: dict, english: bool = False) -> str:
    key = "reward" if measure["kind"] == "reward" else measure["verdict"]
    return MEASURE_TAGS.get(key, MEASURE_TAGS["punishment"])[english]


def _span(first: str | None, last: str | None) -> str:
    if not first:
        return ""
    return f"{first} 认定" if first == last else f"{first} 至 {last} 认定"


def _span_en(first: str | None, last: str | None) -> str:
    if not first:
        return ""
    return f"decided {first}" if first == last else f"decided {first} to {last}"


def _as_of_param(as_of: dt.date | None) -> dt.date | None:
    if isinstance(as_of, dt.datetime):
        return as_of.date()
    return as_of


def _run(conn: sa.Connection, sql: str, params: dict) -> list[sa.Row]:
    try:
        return conn.execute(sa.text(sql), params).all()
    except sa.exc.DBAPIError as exc:
        message = str(getattr(exc.orig, "pgerror", None) or exc.orig).strip().splitlines()[0]
        if "measures list is empty" in message or "does not exist" in message:
            detail = message.removeprefix("ERROR:  ")
            raise UserError(f"本数据仓库尚未配置信用核查（{detail}），请运行 `creditwh init` / "
                            f"The credit check is not set up in this warehouse ({detail}); "
                            "run `creditwh init`.") from None
        raise


@contextlib.contextmanager
def _logged_session(engine: Engine, application: str) -> Iterator[sa.Connection]:
    """A connection in autocommit mode that tells the warehouse who asks (the OS user) and from where."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("SELECT set_config('creditwh.operator', :who, false), "
                             "set_config('application_name', :app, false)"),
                     {"who": getpass.getuser(), "app": application})
        yield conn


def _refused(result: CheckResult) -> None:
    if result.verdict == "refused":
        raise UserError(f"信用查询被拒绝 / the credit query was refused: {result.refusal}")


def _purpose(purpose: str | None) -> str:
    if not purpose or not purpose.strip():
        raise UserError("请用 --purpose 说明查询事由（记入信用查询日志）/ give the purpose of the query with --purpose "
                        "(it goes into the credit query log)")
    return purpose.strip()


def check_code(engine: Engine, code: str, purpose: str | None, as_of: dt.date | None = None,
               application: str = "creditwh check") -> CheckResult:
    """Check one code (or an organisation's exact name) with `mart.credit_check`, for the purpose given."""
    purpose = _purpose(purpose)
    with _logged_session(engine, application) as conn:
        rows = _run(conn, "SELECT * FROM mart.credit_check(:code, :purpose, :as_of)",
                    {"code": code, "purpose": purpose, "as_of": _as_of_param(as_of)})
    result = CheckResult.from_row(rows[0])
    _refused(result)
    return result


def _clean(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; nothing else is changed here (the SQL normalises codes)."""
    return value.replace("\x00", "") if isinstance(value, str) else value


def check_rows(engine: Engine, rows: Sequence[tuple[str | None, str | None]], purpose: str | None,
               as_of: dt.date | None = None, application: str = "creditwh check --file") -> list[CheckResult]:
    """Check many (code, name) rows set-based: one COPY into a temporary table, one query; results in order."""
    purpose = _purpose(purpose)
    if not rows:
        return []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for ordinal, (code, name) in enumerate(rows, start=1):
        writer.writerow([ordinal, _clean(code), _clean(name)])
    buffer.seek(0)
    with _logged_session(engine, application) as conn:
        conn.execute(sa.text("CREATE TEMP TABLE check_input (ordinal integer PRIMARY KEY, code text, name text)"))
        try:
            cursor = conn.connection.driver_connection.cursor()
            try:
                cursor.copy_expert("COPY check_input (ordinal, code, name) FROM STDIN WITH (FORMAT csv)", buffer)
            finally:
                cursor.close()
            result = _run(conn, """
                SELECT * FROM mart.credit_check_batch(
                    (SELECT array_agg(code ORDER BY ordinal) FROM check_input),
                    (SELECT array_agg(name ORDER BY ordinal) FROM check_input),
                    :purpose, :as_of)
            """, {"purpose": purpose, "as_of": _as_of_param(as_of)})
        finally:
            conn.execute(sa.text("DROP TABLE IF EXISTS check_input"))
    if len(result) != len(rows):  # the function returns one row per input row, in order
        raise RuntimeError(f"credit_check_batch returned {len(result)} rows for {len(rows)} inputs")
    results = [CheckResult.from_row(r) for r in result]
    if results:
        _refused(results[0])
    return results
