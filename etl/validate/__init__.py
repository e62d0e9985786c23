"""Validate a staged batch inside PostgreSQL: normalise, quarantine failing rows, hold suspicious batches.

Row-level rules come from `etl.validate.rules` (compiled from the catalog) and run as one
set-based INSERT into audit.quarantine. Batch-level checks hold the whole batch (status `held`)
with a reason in Chinese and English; nothing from a held batch is loaded until it is released.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl.catalog import Catalog, RecordType, Role
from etl.faults import crash_point
from etl.land import Batch
from etl.personal import mask_text
from etl.quarantine import flag_quarantined_rows, messages
from etl.sqltext import execute_script, jsonb_object, literal, use_batch_settings
from etl.stage.tables import clean_table, column, staging_table
from etl.status import BatchStatus
from etl.validate.rules import CodeReading, check_sql, clean_columns, code_reading, repeatable_parts, row_rules

# Great Expectations logs hundreds of INFO lines of its own bookkeeping on import and per run ("Skipping
# registering function …", 214 of a validate task's 237 log lines); its warnings and errors still show.
logging.getLogger("great_expectations").setLevel(logging.WARNING)

# A feed whose batch is this many times larger or smaller than its usual size is held for review.
ROW_COUNT_FACTOR = 10
ROW_COUNT_MIN_HISTORY = 3
# Batches from this size on have their clean rows analysed before the rules run (see validate_batch).
ANALYZE_FROM_ROWS = 1000


@dataclass(frozen=True)
class ValidationResult:
    rows_in: int
    rows_quarantined: int
    held: bool
    reason: str | None
    elapsed_ms: int


def _materialise_clean(conn: Connection, record_type: RecordType, batch_id: int,
                       reading: CodeReading | None = None) -> None:
    columns = clean_columns(record_type, reading)
    document = record_type.role(Role.DOCUMENT_NUMBER)
    document_expr = next(c.expression for c in columns if c.name == column(document.code))
    # PostgreSQL evaluates a sub-expression as often as it is written: a document number's canonical form
    # (three translates) for the partition and the column, a date's parse for its value and its flag, a trimmed
    # text up to four times in a coded value. Each one still written twice or more once the parts before it are
    # replaced is computed once per row, below a fence (OFFSET 0: the planner would otherwise pull the subquery
    # up and write the expressions out again).
    document_sql, *column_sql = [document_expr, *(c.expression for c in columns)]
    shared: dict[str, str] = {}
    for part in dict.fromkeys(p for field in record_type.fields for p in repeatable_parts(field, record_type)):
        # the document expression is written twice below (its test and the partition), the columns once each
        if 2 * document_sql.count(part) + sum(e.count(part) for e in column_sql) >= 2:
            name = f"shared_{len(shared)}"
            shared[part] = name
            document_sql = document_sql.replace(part, f"s.{name}")
            column_sql = [e.replace(part, f"s.{name}") for e in column_sql]
    computed = "".join(f", {part} AS {name}" for part, name in shared.items())
    execute_script(conn, f"DELETE FROM {clean_table(record_type)} WHERE batch_id = {int(batch_id)}")
    execute_script(conn, f"""
        INSERT INTO {clean_table(record_type)}
               (batch_id, row_no, record_uid, extra, first_row_no, {", ".join(c.name for c in columns)})
        SELECT s.batch_id, s.row_no, s.record_uid, s.extra,
               CASE WHEN {document_sql} IS NULL THEN s.row_no
                    ELSE min(s.row_no) OVER (PARTITION BY {document_sql}) END,
               {", ".join(column_sql)}
          FROM (SELECT s.*{computed} FROM {staging_table(record_type)} s
                 WHERE s.batch_id = {int(batch_id)} OFFSET 0) s
    """)


def _raw_json(header_map: dict[str, str]) -> str:
    """The raw row keyed by the department's own headers, for feedback; personal data stays in audit."""
    return jsonb_object([f"{literal(header)}, s_raw.{column(code)}" for header, code in header_map.items()])


def _quarantine_rows(conn: Connection, record_type: RecordType, batch_id: int, header_map: dict[str, str],
                     reading: CodeReading | None = None) -> None:
    rules = row_rules(record_type, reading)
    checks = []
    for rule in rules:
        template_zh, template_en = messages(rule.rule, rule.field, record_type, "{detail}", "{detail}")
        # Details quote the values as sent: masked, as every text a department or a person sees.
        checks.append(f"(CASE WHEN {rule.sql(joined_checks=True)} THEN {literal(rule.field)} END, "
                      f"{literal(str(rule.rule))}, {literal(template_zh)}, {literal(template_en)}, "
                      f"pii.mask_text({rule.detail_zh}), pii.mask_text({rule.detail_en}))")
    # Codes repeat (an agency's own code is on every row): check each distinct code once, for the kinds it
    # is used as. One scan of the batch unpivots its code columns; CASE (not AND, whose operands may run in
    # any order) keeps a code from being checked as a kind it is not used as.
    checked = sorted(set().union(*(rule.checked_columns() for rule in rules)))
    table = clean_table(record_type)
    by_kind = sorted(set().union(*(rule.checked_codes() for rule in rules)))
    if by_kind:
        pairs = ", ".join(f"('{kind}', n.{c})" for kind, c in by_kind)
        distinct_codes = f"""
            SELECT v.code, bool_or(v.kind = 'uscc') AS as_uscc, bool_or(v.kind = 'id_number') AS as_id_number
              FROM {table} n CROSS JOIN LATERAL (VALUES {pairs}) AS v (kind, code)
             WHERE n.batch_id = {int(batch_id)} AND v.code IS NOT NULL
             GROUP BY v.code"""
    else:
        distinct_codes = "SELECT NULL::text AS code, false AS as_uscc, false AS as_id_number WHERE false"
    execute_script(conn, f"""
        DROP TABLE IF EXISTS code_checks;
        CREATE TEMP TABLE code_checks ON COMMIT DROP AS
        SELECT code, CASE WHEN as_uscc THEN {check_sql('uscc', 'code')} ELSE false END AS uscc_ok,
               CASE WHEN as_id_number THEN {check_sql('id_number', 'code')} ELSE false END AS id_number_ok
          FROM ({distinct_codes}) AS distinct_codes;
        CREATE INDEX ON code_checks (code);
        ANALYZE code_checks;
    """)
    # Most rows pass everything: find the failing ones first (one pass over the batch), then say why
    # for those few. Two statements, so the planner never joins the wide raw rows of the whole batch.
    # Both temp tables are indexed on their join key, because the staging tables' statistics cannot be
    # trusted mid-transaction: autovacuum, run after another load deleted its rows, records a staging
    # table with pages but no live rows (this batch's rows are not yet committed, so not counted), and
    # the planner then takes the batch for one row and rescans an unindexed temp table for each row it
    # joins (a 10,000-row batch's quarantine statement took 14 s). With the indexes a rescan is a lookup.
    joins = "\n".join(f"LEFT JOIN code_checks v_{c} ON v_{c}.code = n.{c}" for c in checked)
    execute_script(conn, f"""
        DROP TABLE IF EXISTS failing_rows;
        CREATE TEMP TABLE failing_rows ON COMMIT DROP AS
        SELECT n.row_no
          FROM {table} n
          {joins}
         WHERE n.batch_id = {int(batch_id)}
           AND ({" OR ".join(f"coalesce({rule.sql(joined_checks=True)}, false)" for rule in rules)});
        CREATE INDEX ON failing_rows (row_no);
        ANALYZE failing_rows;
    """)
    execute_script(conn, f"""
        INSERT INTO audit.quarantine (batch_id, row_no, field, rule, message_zh, message_en, raw)
        SELECT n.batch_id, n.row_no, f.field, f.rule,
               replace(f.template_zh, '{{detail}}', coalesce(f.detail_zh, '')),
               replace(f.template_en, '{{detail}}', coalesce(f.detail_en, '')),
               {_raw_json(header_map)}
          FROM failing_rows failing
          JOIN {table} n ON n.batch_id = {int(batch_id)} AND n.row_no = failing.row_no
          JOIN {staging_table(record_type)} s_raw ON s_raw.batch_id = n.batch_id AND s_raw.row_no = n.row_no
          {joins}
         CROSS JOIN LATERAL (VALUES {", ".join(checks)})
               AS f(field, rule, template_zh, template_en, detail_zh, detail_en)
         WHERE f.field IS NOT NULL
        ON CONFLICT (batch_id, row_no, field, rule) DO NOTHING
    """)
    # Every failing row has at least one finding above (the same predicates), and no other row has one:
    # parse findings are rows staging never held.
    flag_quarantined_rows(conn, table, batch_id, "failing_rows")


def _looks_like_data(headers: list[str]) -> bool:
    """Whether "headers" are values: organisation codes, identity numbers, dates or amounts, not field names."""
    from etl.codes import classify_code
    from etl.personal import find_numbers

    def value_like(text: str) -> bool:
        text = text.strip()
        return (classify_code(text) != "unknown" or bool(find_numbers(text))
                or bool(re.fullmatch(r"[0-9０-９][0-9０-９./\-年月日:： ]*", text)))

    return sum(value_like(h) for h in headers) >= 2


def _hold_reasons(conn: Connection, record_type: RecordType, batch: Batch, rows_in: int,
                  header_info: dict) -> list[str]:
    reasons: list[str] = []
    if not header_info.get("mapped"):
        reasons.append("文件为空或没有可识别的表头 / the source is empty or has no recognisable header row")
    if header_info.get("unknown"):
        unknown = "、".join(header_info["unknown"][:20])
        reasons.append(f"表头不属于“{record_type.name_zh}”：{unknown} / "
                       f"headers unknown for record type {record_type.code}: {', '.join(header_info['unknown'][:20])}")
        if _looks_like_data(header_info["unknown"]):
            reasons.append("第一行看起来是数据而不是表头，文件可能缺少表头行 / the first row looks like data, not "
                           "headers: the file may be missing its header row")
    if header_info.get("other_sheets"):
        sheets = "、".join(header_info["other_sheets"][:10])
        reasons.append(f"工作簿除第一个工作表外，工作表“{sheets}”也有数据，只读取第一个工作表；"
                       f"请合并后重报或分文件报送 / "
                       f"sheets other than the first hold data ({', '.join(header_info['other_sheets'][:10])}); "
                       f"only the first sheet is read: merge them or send one file per sheet")
    if header_info.get("unreadable_cells"):
        cells = ", ".join(header_info["unreadable_cells"][:20])
        reasons.append(f"工作簿有错误值或未保存计算结果的公式单元格：{cells}；请改为数值后重报 / "
                       f"the workbook has error values or formulas saved without their result in cells {cells}; "
                       f"replace them with values")
    if header_info.get("duplicate_fields"):
        fields = ", ".join(header_info["duplicate_fields"])
        reasons.append(f"多个表头对应同一字段：{fields} / several headers map to the same field: {fields}")
    if rows_in > 0:
        required = [f for f in record_type.fields if f.required]
        empties = conn.execute(sa.text(
            "SELECT " + ", ".join(f"count({column(f.code)}) AS {column(f.code)}" for f in required)
            + f" FROM {staging_table(record_type)} WHERE batch_id = :b"), {"b": batch.batch_id}).one()._mapping
        empty = [f for f in required if empties[column(f.code)] == 0]
        if empty:
            reasons.append("必填列整列为空：" + "、".join(f"{f.name_zh}（{f.code}）" for f in empty)
                           + " / required columns entirely empty: " + ", ".join(f.code for f in empty))
    history = conn.execute(sa.text("""
        SELECT count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY rows_in) AS median
          FROM (SELECT rows_in FROM audit.batch
                 WHERE department_code = :d AND feed_code = :f AND status = 'loaded' AND batch_id <> :b
                   AND rows_in > 0
                 ORDER BY batch_id DESC LIMIT 20) recent
    """), {"d": batch.department_code, "f": batch.feed_code, "b": batch.batch_id}).one()
    if history.n >= ROW_COUNT_MIN_HISTORY and history.median:
        median = float(history.median)
        if rows_in > median * ROW_COUNT_FACTOR or rows_in < median / ROW_COUNT_FACTOR:
            reasons.append(f"行数 {rows_in} 与该数据源近期中位数 {median:.0f} 相差超过 {ROW_COUNT_FACTOR} 倍 / "
                           f"{rows_in} rows is more than {ROW_COUNT_FACTOR}x away from the feed's recent median "
                           f"of {median:.0f}")
    return reasons


def validate_batch(engine: Engine, batch: Batch, catalog: Catalog, *, released: bool = False) -> ValidationResult:
    """Normalise and check a staged batch; quarantine failing rows; hold it if batch-level checks fail."""
    started = time.monotonic()
    record_type = catalog.record_type_by_code[batch.record_type_code]
    # Enumerated values are read with the feed's code tables (a department's own numbering, where it has one).
    reading = code_reading(record_type, catalog.find_feed(batch.department_code, batch.feed_code), catalog)
    with engine.begin() as conn:
        use_batch_settings(conn)
        row = conn.execute(sa.text("SELECT rows_in, header_map FROM audit.batch WHERE batch_id = :b FOR UPDATE"),
                           {"b": batch.batch_id}).one()
        header_info = row.header_map or {}
        _materialise_clean(conn, record_type, batch.batch_id, reading)
        # Fresh rows have no planner statistics: without them the rule joins of a large batch pick nested
        # loops (100x slower). A small batch is quick under any plan, and analysing costs ~8 ms a batch.
        if row.rows_in >= ANALYZE_FROM_ROWS:
            execute_script(conn, f"ANALYZE {clean_table(record_type)}")
        # Parse findings from staging stay; row rules are re-derived, so a re-run records each finding once.
        conn.execute(sa.text("DELETE FROM audit.quarantine WHERE batch_id = :b AND rule <> 'parse'"),
                     {"b": batch.batch_id})
        _quarantine_rows(conn, record_type, batch.batch_id, header_info.get("mapped", {}), reading)
        quarantined = conn.scalar(sa.text(
            "SELECT count(DISTINCT row_no) FROM audit.quarantine WHERE batch_id = :b"), {"b": batch.batch_id})
        reasons = [] if released else _hold_reasons(conn, record_type, batch, row.rows_in, header_info)
        # Values quoted in a reason (a data row taken for the header, say) are masked like any text shown.
        reason = mask_text("；".join(reasons)) if reasons else None
        crash_point("validate.before_commit")
        elapsed = int((time.monotonic() - started) * 1000)
        conn.execute(sa.text("""
            UPDATE audit.batch
               SET status = :status, status_reason = :reason, rows_quarantined = :quarantined,
                   validate_ms = :ms, updated_at = now()
             WHERE batch_id = :b
        """), {"status": str(BatchStatus.HELD if reasons else BatchStatus.VALIDATED), "reason": reason,
               "quarantined": quarantined, "ms": elapsed, "b": batch.batch_id})
    return ValidationResult(rows_in=row.rows_in, rows_quarantined=quarantined, held=bool(reasons), reason=reason,
                            elapsed_ms=elapsed)



def check_with_great_expectations(engine: Engine, batch: Batch) -> str | None:
    """The audit gate: the record type's GX suite on the rows about to be loaded (the committed clean batch
    without its quarantined rows). Both come from the catalog's one list of rules, so any row breaking one
    means the rules and the quarantine disagree: the batch is held (the reason is returned), never loaded."""
    from etl import config
    from etl.validate.gx_run import run_suite

    started = time.monotonic()
    # The page is rendered with the feed's other pages afterwards (`etl.ingest.render_data_docs`).
    outcome = run_suite(engine.url.render_as_string(hide_password=False), batch.record_type_code, batch.batch_id,
                        config.settings().data_docs_dir, render_page=False)
    with engine.begin() as conn:
        reason = None
        if outcome.errors or outcome.unexpected:
            broken = "; ".join(f"{field} {rule}: {rows}" for (field, rule), rows in sorted(outcome.unexpected.items()))
            reason = ("Great Expectations 审核未通过：待入库的行违反规则，请检查规则与隔离 / the Great Expectations "
                      f"audit gate failed: rows about to be loaded break rules "
                      f"({broken or '; '.join(outcome.errors[:2])})")
        conn.execute(sa.text("""
            UPDATE audit.batch SET gx_success = :ok, gx_ms = :ms, gx_data_docs = :page,
                   status = CASE WHEN CAST(:reason AS text) IS NULL THEN status ELSE 'held' END,
                   status_reason = coalesce(CAST(:reason AS text), status_reason), updated_at = now()
             WHERE batch_id = :b
        """), {"ok": outcome.success, "ms": int((time.monotonic() - started) * 1000),
               "page": str(outcome.data_docs_page) if outcome.data_docs_page else None, "reason": reason,
               "b": batch.batch_id})
    return reason
