"""Plain-text summaries of ingest runs and of the warehouse, for the terminal."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from tabulate import tabulate

from etl.ingest import BatchOutcome
from etl.personal import mask_text
from etl.status import NOT_TAKEN, BatchStatus


def outcomes_table(outcomes: Iterable[BatchOutcome]) -> str:
    """Per department: batches and rows in / loaded / unchanged / quarantined, plus held and failed."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0] * 8)
    for o in outcomes:
        row = totals[o.department]
        row[0] += o.batch_id is not None and o.status != BatchStatus.ALREADY_LOADED
        row[1] += o.rows_in
        row[2] += o.rows_loaded
        row[3] += o.rows_unchanged
        row[4] += o.rows_quarantined
        row[5] += o.status == BatchStatus.HELD
        row[6] += o.status in (BatchStatus.FAILED, BatchStatus.SOURCE_ERROR, BatchStatus.SETUP_ERROR)
        row[7] += o.status in NOT_TAKEN
    rows = [[department, *values] for department, values in sorted(totals.items())]
    rows.append(["TOTAL", *[sum(r[i] for r in totals.values()) for i in range(8)]])
    return tabulate(rows, headers=["department", "batches", "rows in", "loaded", "unchanged", "quarantined",
                                   "held", "failed", "files not taken"], tablefmt="simple", intfmt=",")


def identity_violations(conn: Connection) -> list[int]:
    """Loaded batches whose rows do not add up (the schema forbids it; this double-checks)."""
    return list(conn.scalars(sa.text("""
        SELECT batch_id FROM audit.batch
         WHERE status = 'loaded' AND rows_in <> rows_loaded + rows_unchanged + rows_quarantined
    """)))


def department_status(conn: Connection) -> str:
    """Per department (named in Chinese, as the office knows them): its batches, last batch in Beijing time, the
    accounting identity's counts, held and failed batches."""
    rows = conn.execute(sa.text("""
        SELECT d.department_code, d.name_zh, count(b.batch_id) AS batches,
               max(b.updated_at) AT TIME ZONE 'Asia/Shanghai' AS last_batch,
               coalesce(sum(b.rows_in), 0) AS rows_in, coalesce(sum(b.rows_loaded), 0) AS loaded,
               coalesce(sum(b.rows_unchanged), 0) AS unchanged, coalesce(sum(b.rows_quarantined), 0) AS quarantined,
               count(*) FILTER (WHERE b.status = 'held') AS held,
               count(*) FILTER (WHERE b.status = 'failed') AS failed
          FROM dw.dim_department d
          LEFT JOIN audit.batch b ON b.department_code = d.department_code
         WHERE d.is_active
         GROUP BY d.department_code, d.name_zh ORDER BY d.department_code
    """)).all()
    table = [[r.name_zh, r.department_code, r.batches, r.last_batch.strftime("%Y-%m-%d %H:%M") if r.last_batch else "-",
              r.rows_in, r.loaded, r.unchanged, r.quarantined, r.held, r.failed] for r in rows]
    return tabulate(table, headers=["部门", "department", "批次 batches", "最近批次 last batch (北京时间)",
                                    "收到 rows in", "入库 loaded", "未变 unchanged", "隔离 quarantined", "暂扣 held",
                                    "失败 failed"], tablefmt="simple", intfmt=",")


def drop_notices(conn: Connection) -> str:
    """Entries of the drop folders that were not taken and still need a look (refused, or named for no feed)."""
    rows = conn.execute(sa.text("""
        SELECT department_code, entry_name, kind, reason_zh, reason_en, first_seen_at
          FROM audit.drop_notice WHERE resolved_at IS NULL ORDER BY department_code, entry_name
    """)).all()
    if not rows:
        return "no drop-folder entries waiting for a look / 投放文件夹无待处理条目"
    return tabulate([[r.department_code, mask_text(r.entry_name)[:40], r.kind,
                      r.first_seen_at.strftime("%Y-%m-%d %H:%M"),
                      mask_text(f"{r.reason_zh} / {r.reason_en}")[:160]] for r in rows],
                    headers=["department", "drop-folder entry", "kind", "first seen (UTC)", "reason"],
                    tablefmt="simple")


def held_batches(conn: Connection) -> str:
    rows = conn.execute(sa.text("""
        SELECT batch_id, department_code, feed_code, source_name, rows_in, status_reason
          FROM audit.batch WHERE status IN ('held', 'failed') ORDER BY batch_id
    """)).all()
    if not rows:
        return "no held or failed batches"
    return tabulate([[r.batch_id, r.department_code, r.feed_code, mask_text(r.source_name)[:40], r.rows_in,
                      mask_text(r.status_reason or "")[:120]] for r in rows],
                    headers=["batch", "department", "feed", "source", "rows", "reason"], tablefmt="simple")


def describe_warehouse(conn: Connection) -> str:
    """A short plain-text inventory of the warehouse, for people."""
    migrations = conn.execute(sa.text(
        "SELECT count(*) AS n, max(name) AS last FROM audit.schema_migration")).one()
    counts = conn.execute(sa.text("""
        SELECT (SELECT count(*) FROM dw.dim_department WHERE is_active) AS departments,
               (SELECT count(*) FROM dw.dim_record_type) AS record_types,
               (SELECT count(*) FROM dw.dim_date) AS dates,
               (SELECT min(date) FROM dw.dim_date) AS first_date,
               (SELECT max(date) FROM dw.dim_date) AS last_date,
               (SELECT count(*) FROM dw.dim_date WHERE is_workday) AS workdays,
               (SELECT count(*) FROM dw.dim_subject WHERE is_current) AS subjects,
               (SELECT count(*) FROM dw.fact_credit_record) AS facts,
               (SELECT count(*) FROM audit.batch) AS batches,
               (SELECT count(*) FROM audit.quarantine) AS quarantined
    """)).one()
    lines = [
        f"migrations:    {migrations.n} applied (latest {migrations.last})",
        f"departments:   {counts.departments}",
        f"record types:  {counts.record_types}",
        f"calendar:      {counts.dates} days, {counts.first_date} to {counts.last_date} "
        f"({counts.workdays} working days)",
        f"subjects:      {counts.subjects} current",
        f"credit facts:  {counts.facts}",
        f"batches:       {counts.batches} ({counts.quarantined} quarantined row findings)",
    ]
    return "\n".join(lines)
