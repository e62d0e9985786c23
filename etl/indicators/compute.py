"""Compute a month's indicator values in the warehouse: one set-based statement per computable leaf.

Each leaf's measure (SQL from the edition file) runs inside an INSERT that scores it with
dw.indicator_points and stores the city-wide row and one row per department; the period's old
values are deleted first in the same transaction, so re-running a month replaces it whole and a
failure leaves the previous values in place. Inner indicators are then summed from their leaves.
"""

from __future__ import annotations

import datetime as dt
import time
import zlib
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl.errors import UserError
from etl.indicators import catalog as indicator_catalog
from etl.indicators.catalog import Edition, Node
from etl.indicators.period import Period, parse_period

COLUMNS = ("edition, period, period_start, indicator_code, department_code, value, numerator, denominator, "
           "points_possible, points_awarded, source, computed_at, is_closed_period")

# The measure is SQL from the edition file (code, not values); every value is a bound parameter.
_LEAF_INSERT = """
WITH m AS (
{measure}
),
v AS (
    SELECT coalesce(CAST(m.department_code AS text), '') AS department_code,
           CAST(m.numerator AS numeric) AS numerator,
           CASE WHEN i.unit = 'ratio' THEN CAST(m.denominator AS numeric) END AS denominator,
           round(CASE WHEN i.unit = 'ratio'
                      THEN CAST(m.numerator AS numeric) / nullif(CAST(m.denominator AS numeric), 0)
                      ELSE CAST(m.numerator AS numeric) END, 6) AS value,
           i.points, i.scoring_rule, i.direction, i.target, i.floor, i.when_empty
      FROM m
     CROSS JOIN dw.dim_indicator i
     WHERE i.edition = :edition AND i.indicator_code = :code
)
INSERT INTO dw.fact_indicator_value ({columns})
SELECT :edition, :period, :period_start, :code, v.department_code, v.value, v.numerator, v.denominator, v.points,
       dw.indicator_points(v.value, v.points, v.scoring_rule, v.direction, v.target, v.floor, v.when_empty),
       'measure', now(), :closed
  FROM v
"""

# Manual leaves nobody has entered yet: a row with no value, so the tree shows them as manual.
_MANUAL_PLACEHOLDERS = f"""
INSERT INTO dw.fact_indicator_value ({COLUMNS})
SELECT i.edition, :period, :period_start, i.indicator_code, '', NULL, NULL, NULL, i.points, NULL, 'manual', now(),
       :closed
  FROM dw.dim_indicator i
 WHERE i.edition = :edition AND i.is_leaf AND NOT i.is_computable
ON CONFLICT (edition, period, indicator_code, department_code) DO UPDATE
   SET is_closed_period = EXCLUDED.is_closed_period
"""

# Every inner indicator: its catalog points, and the sum of what its leaves (at any depth) were awarded.
_ROLLUP = f"""
WITH RECURSIVE descendant AS (
    SELECT i.indicator_code AS ancestor, i.indicator_code AS node, i.is_leaf
      FROM dw.dim_indicator i
     WHERE i.edition = :edition AND NOT i.is_leaf
    UNION ALL
    SELECT d.ancestor, c.indicator_code, c.is_leaf
      FROM descendant d
      JOIN dw.dim_indicator c ON c.edition = :edition AND c.parent_code = d.node
)
INSERT INTO dw.fact_indicator_value ({COLUMNS})
SELECT :edition, :period, :period_start, a.indicator_code, '', NULL, NULL, NULL, a.points,
       coalesce(sum(v.points_awarded), 0), 'rollup', now(), :closed
  FROM dw.dim_indicator a
  JOIN descendant d ON d.ancestor = a.indicator_code AND d.is_leaf
  LEFT JOIN dw.fact_indicator_value v
         ON v.edition = :edition AND v.period = :period AND v.indicator_code = d.node AND v.department_code = ''
 WHERE a.edition = :edition AND NOT a.is_leaf
 GROUP BY a.indicator_code, a.points
"""


@dataclass(frozen=True)
class IndicatorRun:
    """What one computation stored: counts, the city's total, and whether the month was closed."""

    edition: str
    period: str
    computed_at: dt.datetime
    is_closed_period: bool
    leaves_computed: int
    leaves_manual: int
    manual_entered: int
    rows_written: int
    points_awarded: Decimal
    points_possible: Decimal
    seconds: float

    def as_dict(self) -> dict:
        """Plain JSON types, for an Airflow task's return value (XCom) or a log line."""
        return {"edition": self.edition, "period": self.period, "computed_at": self.computed_at.isoformat(),
                "is_closed_period": self.is_closed_period, "leaves_computed": self.leaves_computed,
                "leaves_manual": self.leaves_manual, "manual_entered": self.manual_entered,
                "rows_written": self.rows_written, "points_awarded": float(self.points_awarded),
                "points_possible": float(self.points_possible), "seconds": round(self.seconds, 3)}

    def describe(self) -> str:
        """One line for the command line and the DAG log."""
        state = "已结账 closed" if self.is_closed_period else "未结束 open"
        return (f"指标 {self.edition} 版 {self.period}（{state}）：计算 {self.leaves_computed} 项，"
                f"人工 {self.manual_entered}/{self.leaves_manual} 项已填报，"
                f"得分 {self.points_awarded:.2f}/{self.points_possible} "
                f"/ Indicators {self.edition} {self.period}: {self.leaves_computed} computed, "
                f"{self.manual_entered} of {self.leaves_manual} manual entered, {self.points_awarded:.2f} of "
                f"{self.points_possible} points, {self.rows_written} rows in {self.seconds:.1f} s.")


def _lock(conn: Connection, edition_code: str, period: Period) -> None:
    """Two runs of the same month would delete each other's rows: let them take turns."""
    key = zlib.crc32(f"indicators:{edition_code}:{period.code}".encode())
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def sync_dimension(conn: Connection, ed: Edition) -> int:
    """Copy the edition's tree into dw.dim_indicator (parents first), changing only what differs."""
    rows = [{
        "edition": ed.code, "code": n.code, "number": n.number, "parent": n.parent_code, "level": n.level,
        "sort": n.sort_order, "zh": n.name_zh, "en": n.name_en, "points": n.points, "leaf": n.is_leaf,
        "computable": bool(n.is_leaf and n.computable), "unit": n.unit, "direction": n.direction,
        "rule": n.scoring.rule if n.scoring else None, "target": n.scoring.target if n.scoring else None,
        "floor": n.scoring.floor if n.scoring else None, "empty": n.when_empty if n.is_leaf else None,
        "description": n.description, "basis": n.basis, "source": n.source, "measured_by": n.source_of_value,
        "in_total": n.in_total,
    } for n in ed.nodes]
    codes = [n.code for n in ed.nodes]
    # Indicators the file no longer holds go with their values (the edition was corrected: a value of a
    # leaf that is not in it would be summed into a total it is not part of). Numbers that move are parked
    # first, since two indicators may swap positions within the one statement below.
    conn.execute(sa.text("""
        DELETE FROM dw.fact_indicator_value WHERE edition = :edition AND NOT indicator_code = ANY(:codes)
    """), {"edition": ed.code, "codes": codes})
    conn.execute(sa.text("""
        UPDATE dw.dim_indicator i SET number = '~' || i.indicator_code
         WHERE i.edition = :edition
           AND i.number IS DISTINCT FROM (
               SELECT n.number FROM unnest(CAST(:codes AS text[]), CAST(:numbers AS text[])) AS n(code, number)
                WHERE n.code = i.indicator_code)
    """), {"edition": ed.code, "codes": codes, "numbers": [n.number for n in ed.nodes]})
    conn.execute(sa.text("""
        INSERT INTO dw.dim_indicator (edition, indicator_code, number, parent_code, level, sort_order, name_zh,
                                      name_en, points, is_leaf, is_computable, unit, direction, scoring_rule,
                                      target, floor, when_empty, description, basis, source, measured_by, in_total)
        VALUES (:edition, :code, :number, :parent, :level, :sort, :zh, :en, :points, :leaf, :computable, :unit,
                :direction, :rule, :target, :floor, :empty, :description, :basis, :source, :measured_by, :in_total)
        ON CONFLICT (edition, indicator_code) DO UPDATE
           SET number = EXCLUDED.number, parent_code = EXCLUDED.parent_code, level = EXCLUDED.level,
               sort_order = EXCLUDED.sort_order, name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,
               points = EXCLUDED.points, is_leaf = EXCLUDED.is_leaf, is_computable = EXCLUDED.is_computable,
               unit = EXCLUDED.unit, direction = EXCLUDED.direction, scoring_rule = EXCLUDED.scoring_rule,
               target = EXCLUDED.target, floor = EXCLUDED.floor, when_empty = EXCLUDED.when_empty,
               description = EXCLUDED.description, basis = EXCLUDED.basis, source = EXCLUDED.source,
               measured_by = EXCLUDED.measured_by, in_total = EXCLUDED.in_total, updated_at = now()
         WHERE (dw.dim_indicator.number, dw.dim_indicator.parent_code, dw.dim_indicator.level,
                dw.dim_indicator.sort_order, dw.dim_indicator.name_zh, dw.dim_indicator.name_en,
                dw.dim_indicator.points, dw.dim_indicator.is_leaf, dw.dim_indicator.is_computable,
                dw.dim_indicator.unit, dw.dim_indicator.direction, dw.dim_indicator.scoring_rule,
                dw.dim_indicator.target, dw.dim_indicator.floor, dw.dim_indicator.when_empty,
                dw.dim_indicator.description, dw.dim_indicator.basis, dw.dim_indicator.source,
                dw.dim_indicator.measured_by, dw.dim_indicator.in_total)
               IS DISTINCT FROM
               (EXCLUDED.number, EXCLUDED.parent_code, EXCLUDED.level, EXCLUDED.sort_order, EXCLUDED.name_zh,
                EXCLUDED.name_en, EXCLUDED.points, EXCLUDED.is_leaf, EXCLUDED.is_computable, EXCLUDED.unit,
                EXCLUDED.direction, EXCLUDED.scoring_rule, EXCLUDED.target, EXCLUDED.floor, EXCLUDED.when_empty,
                EXCLUDED.description, EXCLUDED.basis, EXCLUDED.source, EXCLUDED.measured_by, EXCLUDED.in_total)
    """), rows)
    # Children first: a removed indicator may still be the parent of another removed one.
    conn.execute(sa.text("""
        DELETE FROM dw.dim_indicator WHERE edition = :edition AND NOT indicator_code = ANY(:codes)
    """), {"edition": ed.code, "codes": codes})
    return len(rows)


def _measure_error(ed: Edition, leaf: Node, exc: sa.exc.DBAPIError) -> UserError:
    reason = str(getattr(exc.orig, "pgerror", None) or exc.orig).strip().splitlines()[0]
    return UserError(f"指标 {leaf.code}（{leaf.name_zh}）的计算 SQL 执行失败 / The measure of indicator {leaf.code} "
                     f"in {ed.path.name} failed: {reason}. Fix field `measure` of {leaf.code}; nothing was stored.")


def _rollup(conn: Connection, base: dict) -> int:
    conn.execute(sa.text("""
        DELETE FROM dw.fact_indicator_value
         WHERE edition = :edition AND period = :period AND source = 'rollup'
    """), base)
    return conn.execute(sa.text(_ROLLUP), base).rowcount


def compute_indicators(engine: Engine, period: str | Period, edition: str = "2020") -> IndicatorRun:
    """Compute, score and store every computable leaf for the month, then roll points up the tree.

    Re-running a month replaces its values (manual entries are kept); a month already over in China
    is stored as closed.
    """
    started = time.monotonic()
    p = parse_period(period)
    ed = _edition(edition)
    closed = p.is_closed()
    base = {"edition": ed.code, "period": p.code, "period_start": p.start, "closed": closed}
    rows = 0
    with engine.begin() as conn:
        _lock(conn, ed.code, p)
        sync_dimension(conn, ed)
        conn.execute(sa.text("""
            DELETE FROM dw.fact_indicator_value
             WHERE edition = :edition AND period = :period AND NOT (source = 'manual' AND value IS NOT NULL)
        """), base)
        for leaf in ed.computable_leaves:
            statement = sa.text(_LEAF_INSERT.format(measure=leaf.measure.strip().removesuffix(";"), columns=COLUMNS))
            try:
                rows += conn.execute(statement, {**p.parameters(), **base, "code": leaf.code}).rowcount
            except sa.exc.DBAPIError as exc:
                raise _measure_error(ed, leaf, exc) from None
        rows += conn.execute(sa.text(_MANUAL_PLACEHOLDERS), base).rowcount
        rows += _rollup(conn, base)
        summary = conn.execute(sa.text("""
            SELECT now() AS computed_at,
                   coalesce(sum(v.points_awarded) FILTER (WHERE i.level = 1 AND i.in_total), 0) AS awarded,
                   count(*) FILTER (WHERE v.source = 'manual' AND v.value IS NOT NULL) AS manual_entered
              FROM dw.fact_indicator_value v
              JOIN dw.dim_indicator i ON i.edition = v.edition AND i.indicator_code = v.indicator_code
             WHERE v.edition = :edition AND v.period = :period AND v.department_code = ''
        """), base).one()
    return IndicatorRun(
        edition=ed.code, period=p.code, computed_at=summary.computed_at, is_closed_period=closed,
        leaves_computed=len(ed.computable_leaves), leaves_manual=len(ed.manual_leaves),
        manual_entered=summary.manual_entered, rows_written=rows, points_awarded=summary.awarded,
        points_possible=ed.total_points, seconds=time.monotonic() - started,
    )


def record_manual_value(engine: Engine, period: str | Period, code: str, value: float | Decimal | None,
                        edition: str = "2020") -> Decimal | None:
    """Enter (or with None, clear) the value of a manual leaf, score it and refresh the roll-up.

    Returns the points awarded. The value survives later recomputations of the month.
    """
    p = parse_period(period)
    ed = _edition(edition)
    leaf = ed.node(code)
    if not leaf.is_leaf or leaf.computable:
        raise UserError(f"指标 {code} 不是人工填报的末级指标 / Indicator {code} is not a manual leaf; "
                        f"only leaves with computable: false in {ed.path.name} take hand-entered values "
                        f"(measured by the office, or by the national centre with its figure entered).")
    base = {"edition": ed.code, "period": p.code, "period_start": p.start, "closed": p.is_closed()}
    with engine.begin() as conn:
        _lock(conn, ed.code, p)
        sync_dimension(conn, ed)
        awarded = conn.execute(sa.text(f"""
            INSERT INTO dw.fact_indicator_value ({COLUMNS})
            SELECT i.edition, :period, :period_start, i.indicator_code, '', CAST(:value AS numeric), NULL, NULL,
                   i.points, CASE WHEN CAST(:value AS numeric) IS NOT NULL THEN
                       dw.indicator_points(CAST(:value AS numeric), i.points, i.scoring_rule, i.direction, i.target,
                                           i.floor, i.when_empty) END,
                   'manual', now(), :closed
              FROM dw.dim_indicator i
             WHERE i.edition = :edition AND i.indicator_code = :code
            ON CONFLICT (edition, period, indicator_code, department_code) DO UPDATE
               SET value = EXCLUDED.value, points_awarded = EXCLUDED.points_awarded, source = 'manual',
                   computed_at = EXCLUDED.computed_at, is_closed_period = EXCLUDED.is_closed_period
            RETURNING points_awarded
        """), {**base, "code": code, "value": value}).scalar_one()
        _rollup(conn, base)
    return awarded


def _edition(code: str) -> Edition:
    # The public functions take `edition` as a parameter name, which hides the catalog function.
    return indicator_catalog.edition(code)
