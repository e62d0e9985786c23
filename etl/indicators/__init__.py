"""City credit monitoring indicators (城市信用状况监测预警指标), computed from the warehouse each month.

The national platform ranks cities monthly on an edition of the indicator system; each edition is a
file in etl/catalog/indicators/ (hierarchy, points, scoring, SQL measures), so the numbers the
office reports upward are computed the same way every month, stored per department, and traceable
to the records behind them.

    run = compute_indicators(engine, "2026-10")          # compute, score, store (idempotent)
    print(render_tree(indicator_tree(engine, "2026-10")))
    print(render_gaps(gap_report(engine, "2026-10")))
    body = indicator_payload(engine, "2026-10")          # JSON for the national endpoint
"""

from etl.indicators.catalog import Edition, Indicator, Node, edition, editions, load_edition
from etl.indicators.compute import IndicatorRun, compute_indicators, record_manual_value, sync_dimension
from etl.indicators.period import Period, parse_period
from etl.indicators.report import (
    Coverage,
    DepartmentGap,
    Gap,
    GapReport,
    IndicatorTree,
    TreeRow,
    gap_report,
    indicator_payload,
    indicator_tree,
    render_gaps,
    render_tree,
)

__all__ = [
    "Coverage", "DepartmentGap", "Edition", "Gap", "GapReport", "Indicator", "IndicatorRun", "IndicatorTree", "Node",
    "Period", "TreeRow", "compute_indicators", "edition", "editions", "gap_report", "indicator_payload",
    "indicator_tree", "load_edition", "parse_period", "record_manual_value", "render_gaps", "render_tree",
    "sync_dimension",
]
