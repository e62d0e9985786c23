"""Quarantine findings: a rejected row, the field and rule it failed, and a reason people can read."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from etl.catalog import RecordType, Rule, catalog
from etl.personal import mask_text
from etl.sqltext import execute_script

# A batch's clean row (alias n) that no finding quarantined: the rows the load writes and the rows the GX audit
# gate checks, one condition so that the two can never disagree about which rows those are. The flag is set when
# the batch's findings are written (`flag_quarantined_rows`), so readers filter a column instead of joining the
# findings: that anti-join, planned with the batch's findings unknown to the statistics (they were just written),
# became a nested loop over every pair of row and finding (at 1,000,000 records 92,663 rows x 3,320 findings:
# 25.8 s for one statement).
NOT_QUARANTINED = "NOT n.quarantined"


def flag_quarantined_rows(conn: Connection, clean_table: str, batch_id: int, failing_rows: str) -> int:
    """Mark the batch's clean rows that have findings, in the transaction that wrote them; how many.
    `failing_rows` is the rule step's table of exactly those rows (row_no), indexed and analysed, so the
    planner knows how few they are; audit.quarantine's statistics do not know this batch yet."""
    return execute_script(conn, f"""
        UPDATE {clean_table} n SET quarantined = true
          FROM {failing_rows} f
         WHERE n.batch_id = {int(batch_id)} AND n.row_no = f.row_no
    """)


@dataclass(frozen=True)
class Finding:
    row_no: int
    field: str
    rule: Rule
    raw: dict
    detail_zh: str = ""
    detail_en: str = ""


def messages(rule: Rule, field_code: str, record_type: RecordType, detail_zh: str = "",
             detail_en: str = "") -> tuple[str, str]:
    """The Chinese and English reason for a finding, from the templates in rules.yml."""
    template = catalog().rules[rule]
    spec = record_type.field_by_code.get(field_code)
    name_zh = spec.name_zh if spec else field_code
    name_en = spec.name_en if spec else field_code
    return (template.message_zh.format(field=field_code, name=name_zh, detail=detail_zh),
            template.message_en.format(field=field_code, name=name_en, detail=detail_en or detail_zh))


def record_findings(conn: Connection, batch_id: int, record_type: RecordType, findings: list[Finding]) -> None:
    """Insert findings found in Python (parse failures); SQL-side rules insert set-based themselves."""
    if not findings:
        return
    rows = []
    for finding in findings:
        zh, en = messages(finding.rule, finding.field, record_type, finding.detail_zh, finding.detail_en)
        zh, en = mask_text(zh), mask_text(en)  # the raw row keeps the values; the reasons quote them masked
        rows.append((batch_id, finding.row_no, finding.field, str(finding.rule), zh, en,
                     json.dumps(finding.raw, ensure_ascii=False)))
    cursor = conn.connection.driver_connection.cursor()
    from psycopg2.extras import execute_values

    execute_values(cursor, """
        INSERT INTO audit.quarantine (batch_id, row_no, field, rule, message_zh, message_en, raw)
        VALUES %s ON CONFLICT (batch_id, row_no, field, rule) DO NOTHING
    """, rows, page_size=1000)
