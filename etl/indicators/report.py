"""Reading stored indicator values: the tree, the gap report, the upward payload, and text tables.

The credit office raises its rank "indicator by indicator" (seed report): the gap report answers
which leaves lose the most points and which departments cause the loss, so the office knows whom
to call first; the payload is what the national monitoring platform receives for the month.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from tabulate import tabulate

from etl.errors import UserError
from etl.indicators import catalog as indicator_catalog
from etl.indicators.catalog import Edition
from etl.indicators.period import Period, parse_period

CITY_CODE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class TreeRow:
    """One indicator of the city-wide tree for a month."""

    code: str
    number: str
    level: int
    name_zh: str
    name_en: str
    is_leaf: bool
    unit: str | None
    direction: str | None
    status: str  # computed | manual / national (awaiting input) | entered (given by hand) | rollup
    basis: str  # published | draft | local
    measured_by: str | None  # warehouse | office | national for a leaf
    in_total: bool
    value: Decimal | None
    numerator: Decimal | None
    denominator: Decimal | None
    points_possible: Decimal
    points_awarded: Decimal | None


@dataclass(frozen=True)
class IndicatorTree:
    edition: str
    period: str
    is_closed_period: bool
    computed_at: dt.datetime
    rows: tuple[TreeRow, ...]

    @property
    def points_awarded(self) -> Decimal:
        return sum((r.points_awarded or Decimal(0) for r in self.rows if r.level == 1 and r.in_total), Decimal(0))

    @property
    def points_possible(self) -> Decimal:
        return sum((r.points_possible for r in self.rows if r.level == 1 and r.in_total), Decimal(0))


@dataclass(frozen=True)
class DepartmentGap:
    """A department's part of a leaf's shortfall, in the leaf's own units (late records, duplicates, …)."""

    department_code: str
    name_zh: str
    value: Decimal | None
    numerator: Decimal | None
    denominator: Decimal | None
    units: Decimal
    share: Decimal  # of the leaf's shortfall units over all departments


@dataclass(frozen=True)
class Gap:
    code: str
    number: str
    name_zh: str
    name_en: str
    unit: str
    direction: str
    status: str
    value: Decimal | None
    points_possible: Decimal
    points_awarded: Decimal
    departments: tuple[DepartmentGap, ...]

    @property
    def shortfall(self) -> Decimal:
        return self.points_possible - self.points_awarded


@dataclass(frozen=True)
class Coverage:
    """How much of the edition's total the self-estimate covers: the points of the leaves the warehouse
    computes and of those the office enters (and has entered), apart from those the national centre measures."""

    total: Decimal
    warehouse: Decimal
    office: Decimal
    office_entered: Decimal
    national: Decimal
    national_entered: Decimal

    @property
    def self_estimate(self) -> Decimal:
        return self.warehouse + self.office


@dataclass(frozen=True)
class GapReport:
    edition: str
    period: str
    gaps: tuple[Gap, ...]
    manual_pending: int
    manual_pending_points: Decimal
    coverage: Coverage


def _edition(code: str) -> Edition:
    return indicator_catalog.edition(code)


def _period_rows(conn: Connection, ed: Edition, p: Period) -> list:
    rows = conn.execute(sa.text("""
        SELECT i.indicator_code AS code, i.number, i.level, i.name_zh, i.name_en, i.is_leaf, i.is_computable,
               i.unit, i.direction, i.points, i.basis, i.measured_by, i.in_total, v.value, v.numerator,
               v.denominator, v.points_possible,
               v.points_awarded, v.source, v.computed_at, v.is_closed_period
          FROM dw.dim_indicator i
          LEFT JOIN dw.fact_indicator_value v
                 ON v.edition = i.edition AND v.indicator_code = i.indicator_code AND v.period = :period
                AND v.department_code = ''
         WHERE i.edition = :edition
         ORDER BY i.sort_order
    """), {"edition": ed.code, "period": p.code}).all()
    if not any(r.source == "measure" for r in rows):
        raise UserError(f"{p.code} 尚未计算 {ed.code} 版指标，请先运行 `creditwh indicators --period {p.code}` / "
                        f"Indicators of edition {ed.code} have not been computed for {p.code}; compute them first.")
    return rows


def _status(row) -> str:
    if not row.is_leaf:
        return "rollup"
    if row.is_computable:
        return "computed"
    if row.value is not None:
        return "entered"
    return "national" if row.measured_by == "national" else "manual"


def indicator_tree(engine: Engine, period: str | Period, edition: str = "2020") -> IndicatorTree:
    """The month's city-wide values and points for every indicator, in the edition's order."""
    p, ed = parse_period(period), _edition(edition)
    with engine.connect() as conn:
        rows = _period_rows(conn, ed, p)
    stored = [r for r in rows if r.source is not None]
    return IndicatorTree(
        edition=ed.code, period=p.code,
        is_closed_period=all(r.is_closed_period for r in stored),
        computed_at=max(r.computed_at for r in stored if r.source == "measure"),
        rows=tuple(TreeRow(code=r.code, number=r.number, level=r.level, name_zh=r.name_zh, name_en=r.name_en,
                           is_leaf=r.is_leaf, unit=r.unit, direction=r.direction, status=_status(r),
                           basis=r.basis, measured_by=r.measured_by, in_total=r.in_total, value=r.value,
                           numerator=r.numerator, denominator=r.denominator,
                           points_possible=r.points_possible if r.points_possible is not None else r.points,
                           points_awarded=r.points_awarded) for r in rows),
    )


def _department_units(unit: str, direction: str, numerator: Decimal | None,
                      denominator: Decimal | None) -> Decimal | None:
    """How much of a leaf's shortfall a department causes, in the leaf's units; None when not attributable.

    Higher-is-better ratio: the records that failed (denominator − numerator); lower-is-better: the bad
    ones counted (numerator). A higher-is-better count (e.g. commitments collected) has no culprit.
    """
    if direction == "lower":
        return numerator
    if unit == "ratio" and numerator is not None and denominator is not None:
        return denominator - numerator
    return None


def gap_report(engine: Engine, period: str | Period, edition: str = "2020", top: int = 10,
               departments: int = 3, include_manual: bool = False) -> GapReport:
    """The leaves losing the most points (possible − awarded) and, for each, the departments most behind it.

    Manual leaves nobody has entered are counted apart (include_manual=True ranks them too, at full loss).
    """
    if top < 1 or departments < 0:
        raise UserError("top 至少为 1，departments 不能为负 / top must be at least 1 and departments not negative.")
    p, ed = parse_period(period), _edition(edition)
    with engine.connect() as conn:
        rows = [r for r in _period_rows(conn, ed, p) if r.is_leaf]
        coverage = _coverage(ed, rows)
        pending = [r for r in rows if _status(r) in ("manual", "national") and r.in_total]
        # Local indicators are in the tree but not in the ranking: they lose none of the 100 points.
        ranked = [r for r in rows if r.in_total and (include_manual or _status(r) not in ("manual", "national"))]
        ranked.sort(key=lambda r: (-(r.points - (r.points_awarded or 0)), r.number))
        chosen = [r for r in ranked if r.points - (r.points_awarded or 0) > 0][:top]
        by_leaf: dict[str, list] = {r.code: [] for r in chosen}
        if chosen and departments:
            for d in conn.execute(sa.text("""
                SELECT v.indicator_code, v.department_code, coalesce(d.name_zh, v.department_code) AS name_zh,
                       v.value, v.numerator, v.denominator
                  FROM dw.fact_indicator_value v
                  LEFT JOIN dw.dim_department d ON d.department_code = v.department_code
                 WHERE v.edition = :edition AND v.period = :period AND v.department_code <> ''
                   AND v.indicator_code = ANY(:codes)
            """), {"edition": ed.code, "period": p.code, "codes": list(by_leaf)}):
                by_leaf[d.indicator_code].append(d)
    gaps = []
    for r in chosen:
        units = []
        for d in by_leaf[r.code]:
            amount = _department_units(r.unit, r.direction, d.numerator, d.denominator)
            if amount is not None and amount > 0:
                units.append((d, amount))
        total = sum((a for _, a in units), Decimal(0))
        units.sort(key=lambda x: (-x[1], x[0].department_code))
        gaps.append(Gap(
            code=r.code, number=r.number, name_zh=r.name_zh, name_en=r.name_en, unit=r.unit, direction=r.direction,
            status=_status(r), value=r.value, points_possible=r.points, points_awarded=r.points_awarded or Decimal(0),
            departments=tuple(DepartmentGap(d.department_code, d.name_zh, d.value, d.numerator, d.denominator, a,
                                            a / total) for d, a in units[:departments]),
        ))
    return GapReport(edition=ed.code, period=p.code, gaps=tuple(gaps), manual_pending=len(pending),
                     manual_pending_points=sum((r.points for r in pending), Decimal(0)), coverage=coverage)


def _coverage(ed: Edition, leaves: list) -> Coverage:
    """The edition's split by who measures (from the catalog), and what of it has a value entered this month."""
    split = ed.points_by_source()

    def entered(measured_by: str) -> Decimal:
        return sum((r.points for r in leaves if r.in_total and r.measured_by == measured_by and r.value is not None),
                   Decimal(0))

    return Coverage(total=ed.total_points, warehouse=split["warehouse"], office=split["office"],
                    office_entered=entered("office"), national=split["national"], national_entered=entered("national"))


def _number(value: Decimal | None) -> int | float | None:
    """JSON numbers: whole values as integers, others as the shortest float of the stored decimal."""
    if value is None:
        return None
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def indicator_payload(engine: Engine, period: str | Period, edition: str = "2020",
                      city_code: str | None = None) -> dict:
    """The month's JSON body for the national monitoring endpoint (leaf values and points).

    The idempotency key depends on city, edition, period and the values only, so pushing the same
    numbers twice is recognised by the platform, and a recomputation that changed them is not.
    """
    if city_code is None:
        from etl.catalog import catalog

        city_code = catalog().county.division_code
    if not CITY_CODE.match(str(city_code)):
        raise UserError(f"城市代码应为 6 位行政区划代码，收到 {city_code!r} / "
                        f"The city code must be the 6-digit division code, got {city_code!r}.")
    tree = indicator_tree(engine, period, edition)
    # Local indicators stay home: the platform scores the edition's indicators only.
    values = [{"code": r.code, "value": _number(r.value), "points": _number(r.points_awarded)}
              for r in tree.rows if r.is_leaf and r.in_total]
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return {
        "city_code": city_code,
        "period": tree.period,
        "edition": tree.edition,
        "idempotency_key": f"{city_code}-{tree.edition}-{tree.period}-{digest[:24]}",
        "values": values,
    }


# -- text tables ---------------------------------------------------------------------------------------

_STATUS_TEXT = {"computed": "计算 computed", "manual": "待填报 manual", "national": "待录入国家中心数值 national",
                "entered": "人工 manual", "rollup": ""}
_BASIS_TEXT = {"published": "公布 published", "draft": "草案 draft", "local": "本地 local"}


def format_value(value: Decimal | None, unit: str | None, status: str = "computed") -> str:
    """Ratios as percentages, counts as whole numbers; say why a value is missing."""
    if value is None:
        return {"manual": "待填报", "national": "待录入", "rollup": ""}.get(status, "无数据 n/a")
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"


def _points(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def render_tree(tree: IndicatorTree) -> str:
    """The tree as a text table with Chinese names, indented by level, for the command line."""
    body = [[r.number, "  " * (r.level - 1) + r.name_zh, format_value(r.value, r.unit, r.status),
             _points(r.points_awarded), _points(r.points_possible), _STATUS_TEXT[r.status], _BASIS_TEXT[r.basis]]
            for r in tree.rows]
    state = "已结束 closed" if tree.is_closed_period else "进行中 open"
    head = (f"城市信用监测指标 {tree.edition} 版 · {tree.period}（{state}）· 得分 {_points(tree.points_awarded)} / "
            f"{_points(tree.points_possible)}\nCity credit monitoring indicators, edition {tree.edition}, "
            f"{tree.period}: {_points(tree.points_awarded)} of {_points(tree.points_possible)} points")
    table = tabulate(body, headers=["编号", "指标 Indicator", "值 Value", "得分 Points", "满分 Max", "状态 Status",
                                    "依据 Basis"],
                     colalign=("left", "left", "right", "right", "right", "left", "left"))
    local = ("\n编号 L 开头的是本地补充指标，不计入总分、不上报 / Numbers starting with L are local indicators, "
             "outside the total and never sent.") if any(not r.in_total for r in tree.rows) else ""
    return f"{head}\n{table}{local}"


def render_gaps(report: GapReport) -> str:
    """The gap report as a text table: rank, leaf, points lost, value, and the departments behind it."""
    body = []
    for rank, g in enumerate(report.gaps, 1):
        who = "；".join(f"{d.name_zh} {format_value(d.units, 'count')}（{d.share * 100:.0f}%）"
                       for d in g.departments) or "—"
        body.append([rank, g.number, g.name_zh, _points(g.shortfall), f"{_points(g.points_awarded)}/"
                     f"{_points(g.points_possible)}", format_value(g.value, g.unit, g.status), who])
    head = (f"失分最多的指标 · {report.edition} 版 · {report.period} / Leaves losing the most points, "
            f"edition {report.edition}, {report.period}")
    headers = ["#", "编号", "指标 Indicator", "失分 Lost", "得分 Points", "值 Value",
               "主要部门（差额，占比）Departments behind it"]
    table = tabulate(body, headers=headers) if body else "（无失分 / no points lost）"
    c = report.coverage
    tail = (f"\n自评覆盖 {_points(c.self_estimate)}/{_points(c.total)} 分：仓库计算 {_points(c.warehouse)} 分，"
            f"信用办填报 {_points(c.office)} 分（已填 {_points(c.office_entered)} 分）；国家中心自行监测 "
            f"{_points(c.national)} 分（已录入平台数值 {_points(c.national_entered)} 分）"
            f"\nThe self-estimate covers {_points(c.self_estimate)} of {_points(c.total)} points: "
            f"{_points(c.warehouse)} computed by the warehouse, {_points(c.office)} entered by the office "
            f"({_points(c.office_entered)} so far); {_points(c.national)} are measured by the national centre "
            f"({_points(c.national_entered)} entered from the platform).")
    if report.manual_pending:
        points = _points(report.manual_pending_points)
        tail += (f"\n另有 {report.manual_pending} 项人工指标待填报（{points} 分）/ "
                f"{report.manual_pending} manual indicators ({points} points) await input.")
    return f"{head}\n{table}{tail}"
