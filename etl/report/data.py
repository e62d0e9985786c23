"""What a credit report says about one subject: its sections, summary and suggestions, from the warehouse.

A record appears when it is in force on the report date, by the same rule the credit check uses
(dw.is_record_in_force, migration 013): repaired, revoked or expired records and penalties past their
publicity window are left out (the section says how many). Personal ID numbers never reach the page:
ID fields are not selected at all, and any value that still holds a valid ID number is masked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.check.core import VERDICT_ZH, CheckResult
from etl.codes import classify_code, normalize_code
from etl.config import CHINA
from etl.errors import UserError
from etl.personal import mask_id, mask_text

LONG_TERM = "2099-12-31"
MAX_TABLE_ROWS = 30  # long lists (commitments, licences) show the latest ones and say how many more
TITLES = {
    "法人及非法人组织": "法人和非法人组织公共信用信息报告",
    "个体工商户": "个体工商户公共信用信息报告",
    "自然人": "自然人公共信用信息报告",
}


def masked(value: object) -> str:
    """Display text with every identity number in it masked (etl.personal)."""
    return "" if value is None else mask_text(str(value))


def _wan_yuan(value: object) -> str:
    if value in (None, ""):
        return ""
    amount = Decimal(str(value))
    yuan = amount * 10000
    return f"{amount.normalize():f} 万元（{yuan:,.0f} 元）"


def _validity(start: object, end: object) -> str:
    end_text = "长期" if end == LONG_TERM else (end or "")
    if start and end_text:
        return f"{start} 至 {end_text}"
    return str(start or end_text)


@dataclass(frozen=True)
class Column:
    label: str
    value: Callable[[dict], object]
    width: str | None = None  # CSS width of a table column


@dataclass
class Section:
    key: str
    number: str
    title: str
    layout: str  # table | cards | fields
    columns: list[Column]
    rows: list[list[str]] = field(default_factory=list)
    shown: int = 0
    total: int = 0
    not_shown_note: str = ""
    short_title: str = ""
    empty_text: str = ""
    tone: str = "neutral"  # negative | positive | neutral: how a non-empty section is marked in the summary


def _a(code: str) -> Callable[[dict], object]:
    return lambda r: r["attributes"].get(code)


# (key, record type, title, layout, columns, tone, cap)
SECTION_SPECS: list[tuple[str, str, str, str, list[Column], str, int | None]] = [
    ("license", "license", "行政许可", "table", [
        Column("许可决定文书号", _a("XK_WSH"), "19%"),
        Column("许可证书（文书）名称", lambda r: r["attributes"].get("XK_XKZS") or r["attributes"].get("XK_XKWS"),
               "17%"),
        Column("类别", _a("XK_XKLB"), "7%"),
        Column("许可内容", _a("XK_NR"), "22%"),
        Column("有效期", lambda r: _validity(r["attributes"].get("XK_YXQZ"), r["attributes"].get("XK_YXQZI")),
               "17%"),
        Column("许可机关", _a("XK_XKJG"), "18%"),
    ], "neutral", MAX_TABLE_ROWS),
    ("penalty", "penalty", "行政处罚", "cards", [
        Column("决定书文号", _a("CF_WSH")),
        Column("违法行为类型", _a("CF_WFXW")),
        Column("违法事实", _a("CF_SY")),
        Column("处罚依据", _a("CF_YJ")),
        Column("处罚类别", lambda r: "、".join((r["attributes"].get("CF_CFLB") or "").split(";"))),
        Column("处罚内容", _a("CF_NR")),
        Column("罚款金额", lambda r: _wan_yuan(r["fine_amount"])),
        Column("处罚决定日期", lambda r: r["decision_date"]),
        Column("公示期限", lambda r: _validity(r["publicity_start"], r["publicity_end"])
               if r["publicity_start"] else "（未确定公示期）"),
        Column("处罚机关", _a("CF_CFJG")),
    ], "negative", None),
    ("red_list", "red_list", "荣誉信息（红名单）", "table", [
        Column("荣誉名称", _a("RY_RYMC"), "26%"),
        Column("级别", _a("RY_RYJB"), "9%"),
        Column("认定文号", _a("RY_WSH"), "20%"),
        Column("认定日期", _a("RY_RDRQ"), "13%"),
        Column("有效期至", lambda r: r["attributes"].get("RY_YXQZ") or "长期", "13%"),
        Column("认定机关", _a("RY_RDJG"), "19%"),
    ], "positive", None),
    ("serious_dishonesty", "serious_dishonesty", "严重失信主体名单", "cards", [
        Column("名单类别", _a("SX_MDLX")),
        Column("列入原因", _a("SX_LRYY")),
        Column("列入决定文书号", _a("SX_WSH")),
        Column("列入日期", _a("SX_LRRQ")),
        Column("认定机关", _a("SX_RDJG")),
    ], "negative", None),
    ("abnormal_operation", "abnormal_operation", "经营异常名录", "table", [
        Column("列入原因", _a("YC_LRYY"), "34%"),
        Column("列入决定书文号", _a("YC_WSH"), "22%"),
        Column("列入日期", _a("YC_LRRQ"), "14%"),
        Column("作出决定机关", _a("YC_ZCJG"), "30%"),
    ], "negative", None),
    ("commitment", "commitment", "信用承诺", "table", [
        Column("承诺类型", _a("CN_CNLX"), "14%"),
        Column("承诺事项", _a("CN_CNSX"), "28%"),
        Column("承诺书编号", _a("CN_WSH"), "17%"),
        Column("承诺日期", _a("CN_CNRQ"), "12%"),
        Column("受理部门", _a("CN_SLBM"), "18%"),
        Column("履约情况", lambda r: r["attributes"].get("CN_LYQK") or "—", "11%"),
    ], "neutral", MAX_TABLE_ROWS),
    ("credit_rating", "credit_rating", "信用评价", "table", [
        Column("评价领域", _a("PJ_PJLY"), "14%"),
        Column("等级", _a("PJ_PJDJ"), "9%"),
        Column("年度", _a("PJ_PJND"), "8%"),
        Column("评价结果文号", _a("PJ_WSH"), "21%"),
        Column("评价日期", _a("PJ_PJRQ"), "13%"),
        Column("有效期至", lambda r: r["attributes"].get("PJ_YXQZ") or "—", "13%"),
        Column("评价机关", _a("PJ_PJJG"), "22%"),
    ], "neutral", None),
    ("dishonest_debtor", "dishonest_debtor", "司法信息（失信被执行人）", "cards", [
        Column("案号", _a("ZX_AH")),
        Column("执行法院", _a("ZX_ZXFY")),
        Column("执行依据文号", lambda r: r["attributes"].get("ZX_ZXYJ") or "—"),
        Column("立案日期", _a("ZX_LARQ")),
        Column("发布日期", _a("ZX_FBRQ")),
        Column("失信被执行人行为具体情形", _a("ZX_SXQX")),
        Column("履行情况", _a("ZX_LXQK")),
    ], "negative", None),
]
NOT_SHOWN_REASON = {
    "penalty": "已信用修复、已撤销或超过公示期的行政处罚",
    "license": "已失效或已撤销的行政许可",
    "red_list": "已过有效期的荣誉",
    "serious_dishonesty": "已移出名单或已修复的记录",
    "abnormal_operation": "已移出名录的记录",
    "credit_rating": "已过有效期的评价",
    "dishonest_debtor": "已撤销或已修复的记录",
    "commitment": "已撤销的承诺",
}
SECTION_NUMBERS = "一二三四五六七八九十"
SHORT_TITLES = {"red_list": ("红名单", "荣誉"), "dishonest_debtor": ("失信被执行人", "失信被执行人")}


@dataclass
class Subject:
    subject_key: int
    code: str  # restricted: never rendered; `code_display` is
    code_kind: str
    code_display: str
    code_label: str
    name: str
    subject_type: str
    legal_representative: str | None


@dataclass
class ReportData:
    title: str
    subject: Subject
    check: CheckResult
    as_of: dt.date
    office: str
    county: str
    purpose: str | None
    registration: list[tuple[str, str]]
    sections: list[Section]
    suggestions: list[str]
    report_no: str = ""
    issued_at: dt.datetime | None = None

    @property
    def verdict_zh(self) -> str:
        return VERDICT_ZH[self.check.verdict]

    @property
    def data_as_of_text(self) -> str:
        if self.check.data_as_of is None:
            return "（尚无入库数据）"
        local = self.check.data_as_of.astimezone(CHINA)
        return local.strftime("%Y-%m-%d %H:%M（北京时间）")


def resolve_subject(conn: Connection, given: str, check: CheckResult) -> Subject:
    """The current subject the check found (by code, or by its unique exact name)."""
    if check.lookup_status == "found":
        where, params = "s.subject_code = :code", {"code": normalize_code(given)}
    elif check.lookup_status == "found_by_name":
        where = ("s.code_kind = 'uscc' AND translate(s.name, '（）', '()') = "
                 "translate(btrim(:name, E' \\t\\r\\n\\u3000'), '（）', '()')")
        params = {"name": given}
    else:
        from etl.check.core import LOOKUP_EN, LOOKUP_ZH

        shown = f" ({check.code})" if check.code else ""
        shown_zh = f"（{check.code}）" if check.code else ""
        raise UserError(f"未出具信用报告：{LOOKUP_ZH.get(check.lookup_status, '')}{shown_zh} / "
                        f"No credit report for this query: {LOOKUP_EN.get(check.lookup_status, '')}{shown}.")
    rows = conn.execute(sa.text(f"""
        SELECT s.subject_key, s.subject_code, s.code_kind, s.name, s.subject_type, s.legal_representative
          FROM dw.dim_subject AS s WHERE s.is_current AND {where}
    """), params).all()
    if len(rows) != 1:
        raise UserError("未出具信用报告：无法唯一确定主体，请提供其代码 / "
                        "No credit report: the subject could not be identified uniquely; give its code.")
    row = rows[0]
    kind = classify_code(row.subject_code)
    display = row.subject_code if kind == "uscc" else mask_id(row.subject_code)
    label = {"uscc": "统一社会信用代码", "id_number": "身份证号码"}.get(kind, "证件号码")
    return Subject(row.subject_key, row.subject_code, kind, display, label, row.name, row.subject_type,
                   row.legal_representative)


def _not_found_text(check: CheckResult) -> str:
    from etl.check.core import LOOKUP_EN, LOOKUP_ZH

    shown = f" ({check.code})" if check.code else ""
    return f"{LOOKUP_ZH.get(check.lookup_status, '')} / {LOOKUP_EN.get(check.lookup_status, '')}{shown}"


def _facts(conn: Connection, subject_code: str, as_of: dt.date) -> list[dict]:
    rows = conn.execute(sa.text("""
        SELECT t.record_type_code, f.status, f.attributes, f.fine_amount, f.publicity_start, f.publicity_end,
               to_date(f.decision_date_key::text, 'YYYYMMDD') AS decision_date,
               dw.is_record_in_force(t.record_type_code, f.status, f.attributes,
                                     to_date(f.decision_date_key::text, 'YYYYMMDD'), f.publicity_start,
                                     f.publicity_end, f.publicity_tier,
                                     (SELECT c.lookback_months FROM dw.dim_check_condition AS c
                                       WHERE c.condition_code = 'active_penalty'), :as_of) AS in_force
          FROM dw.dim_subject AS v
          JOIN dw.fact_credit_record AS f ON f.subject_key = v.subject_key
          JOIN dw.dim_record_type AS t ON t.record_type_key = f.record_type_key
         WHERE v.subject_code = :code
           AND to_date(f.decision_date_key::text, 'YYYYMMDD') <= :as_of
         ORDER BY to_date(f.decision_date_key::text, 'YYYYMMDD') DESC, f.record_key DESC
    """), {"code": subject_code, "as_of": as_of}).mappings().all()
    return [dict(r) for r in rows]


def _cell(column: Column, record: dict) -> str:
    value = column.value(record)
    if isinstance(value, dt.date):
        value = value.isoformat()
    return masked(value) if value not in (None, "") else "—"


def _registration(subject: Subject, facts: list[dict]) -> list[tuple[str, str]]:
    latest = next((f for f in facts if f["record_type_code"] == "registration" and f["in_force"]), None)
    a = latest["attributes"] if latest else {}
    person = subject.subject_type == "自然人"
    fields = [
        ("姓名" if person else "主体名称", subject.name),
        (subject.code_label, subject.code_display),
        ("主体类别", subject.subject_type),
    ]
    if not person:
        representative = "经营者" if subject.subject_type == "个体工商户" else "法定代表人（负责人）"
        fields.append((representative, subject.legal_representative or a.get("DJ_FRDB") or "—"))
    if latest:
        fields += [
            ("主体类型", a.get("DJ_QYLX")),
            ("成立日期", a.get("DJ_CLRQ")),
            ("注册资本", _wan_yuan(a.get("DJ_ZCZB")) if a.get("DJ_ZCZB") else None),
            ("登记状态", a.get("DJ_DJZT")),
            ("登记机关", a.get("DJ_DJJG")),
            ("登记编号", a.get("DJ_DJBH")),
            ("住所", a.get("DJ_ZS")),
            ("经营范围", a.get("DJ_JYFW")),
        ]
    return [(label, masked(value) if value else "—") for label, value in fields]


def build_sections(facts: list[dict]) -> list[Section]:
    sections = []
    for index, (key, record_type, title, layout, columns, tone, cap) in enumerate(SECTION_SPECS, start=2):
        of_type = [f for f in facts if f["record_type_code"] == record_type]
        in_force = [f for f in of_type if f["in_force"]]
        shown = in_force[:cap] if cap else in_force
        short, empty = SHORT_TITLES.get(key, (title, title))
        section = Section(key, SECTION_NUMBERS[index - 1], title, layout, columns, tone=tone, short_title=short,
                          empty_text=f"暂无{empty}信息。",
                          rows=[[_cell(c, f) for c in columns] for f in shown], shown=len(shown),
                          total=len(in_force))
        hidden = len(of_type) - len(in_force)
        notes = []
        if len(in_force) > len(shown):
            notes.append(f"共 {len(in_force)} 条，列出最近的 {len(shown)} 条")
        if hidden:
            notes.append(f"另有 {hidden} 条{NOT_SHOWN_REASON.get(key, '不在有效期内的记录')}，依规不予展示")
        section.not_shown_note = "；".join(notes)
        sections.append(section)
    return sections


def suggestions(check: CheckResult, sections: list[Section]) -> list[str]:
    """信用建议: what follows from the findings, for the subject and for whoever reads the report."""
    by_condition = {r["condition"]: r for r in check.reasons}
    count = {s.key: s.total for s in sections}
    out = []
    if "serious_dishonesty" in by_condition:
        out.append(f"该主体被列入严重失信主体名单（{count['serious_dishonesty']} 条）。在申请财政性资金和政府补贴、"
                   "评先评优、参加政府采购等事项中应依法依规实施失信惩戒。建议主体纠正失信行为、消除不良影响，"
                   "符合条件后向认定部门申请移出名单并进行信用修复。")
    if "dishonest_debtor" in by_condition:
        out.append(f"该主体为失信被执行人（{count['dishonest_debtor']} 条）。建议尽快履行生效法律文书确定的义务；"
                   "全部履行后由执行法院依法删除失信信息。在此之前将受到限制高消费、限制申请政府补贴等惩戒。")
    if "active_penalty" in by_condition:
        out.append(f"该主体有 {count['penalty']} 条行政处罚处于公示期内，办理相关事项时将予以审慎核查。"
                   "建议依法全面履行处罚决定，最短公示期满后可作出信用承诺，通过“信用中国”网站申请信用修复。")
    if "abnormal_operation" in by_condition:
        out.append("该主体被列入经营异常名录。建议按规定补报年度报告、更正公示信息或办理住所（经营场所）变更登记，"
                   "并向作出决定的机关申请移出。")
    if "low_rating" in by_condition:
        detail = by_condition["low_rating"].get("detail") or ""
        out.append(f"该主体信用评价等级较低（{detail}），将被列为重点监管对象。建议加强合规管理，提升信用评价等级。")
    unfulfilled = sum(1 for row in next((s.rows for s in sections if s.key == "commitment"), [])
                      if row[-1] == "未履约")
    if unfulfilled:
        out.append(f"该主体有 {unfulfilled} 项信用承诺未履约，建议及时履行承诺，避免影响信用状况。")
    rewards = [m for m in check.measures if m["kind"] == "reward"]
    if rewards:
        names = "、".join(f"“{m['name_zh'].split('（')[0]}”" for m in rewards)
        out.append(f"该主体获得诚实守信相关荣誉（{count['red_list']} 项），可依规享受{names}等守信激励措施。")
    elif "red_list" in by_condition:
        out.append("该主体虽获得诚实守信相关荣誉，但因存在严重失信、失信被执行人或经营异常情形，暂不适用守信激励措施。")
    negative = [r for r in check.reasons if r["polarity"] == "negative"]
    if not negative:
        out.append("截至报告基准日，未发现该主体存在严重失信、失信被执行人、经营异常及公示期内行政处罚等不良信用记录，"
                   "信用状况良好。建议继续保持诚信经营。")
    return out


def build_report_data(conn: Connection, given: str, check: CheckResult, office: str, county: str,
                      purpose: str | None) -> ReportData:
    subject = resolve_subject(conn, given, check)
    facts = _facts(conn, subject.code, check.checked_on)
    sections = build_sections(facts)
    return ReportData(
        title=TITLES.get(subject.subject_type, "公共信用信息报告"),
        subject=subject,
        check=check,
        as_of=check.checked_on,
        office=office,
        county=county,
        purpose=purpose,
        registration=_registration(subject, facts),
        sections=sections,
        suggestions=suggestions(check, sections),
    )
