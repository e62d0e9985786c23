"""Early warning: 双公示 records close to their 7-working-day deadline and not yet accepted upstream."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from tabulate import tabulate

from etl.personal import mask_text
from etl.publicity.outbox import TODAY
from etl.publicity.policy import policy


def due_records(conn: Connection, within_working_days: int = 2) -> list:
    """Each record and platform whose publication is due within N working days (or overdue) and that the platform
    has not accepted yet: department, platform, record type, document number, subject, decision and due dates."""
    platforms = [p.code for p in policy().platforms]
    return conn.execute(sa.text(f"""
        WITH today AS (SELECT d.workday_number FROM dw.dim_date d WHERE d.date = {TODAY}),
        open_records AS (
            SELECT f.record_key, dep.department_code, dep.name_zh, r.record_type_code, r.name_zh AS record_type_zh,
                   f.document_number, s.name AS subject_name, dd.date AS decision_date, f.publicity_due
              FROM dw.fact_credit_record f
              JOIN dw.dim_department dep USING (department_key)
              JOIN dw.dim_record_type r USING (record_type_key)
              JOIN dw.dim_subject s USING (subject_key)
              JOIN dw.dim_date dd ON dd.date_key = f.decision_date_key
             WHERE f.status = 'active' AND f.publicity_start IS NOT NULL AND f.publicity_due IS NOT NULL
               AND f.publicity_end >= {TODAY}
        )
        SELECT o.*, p.platform, o.publicity_due < {TODAY} AS overdue
          FROM open_records o
         CROSS JOIN unnest(CAST(:platforms AS text[])) AS p(platform)
          JOIN dw.dim_date due ON due.date = o.publicity_due
         CROSS JOIN today
         WHERE due.workday_number <= today.workday_number + :within
           AND NOT EXISTS (SELECT 1 FROM outbox.publicity_item i
                            WHERE i.record_key = o.record_key AND i.platform = p.platform
                              AND i.action = 'upsert' AND i.status = 'accepted')
         ORDER BY o.publicity_due, o.department_code, o.document_number, p.platform
    """), {"platforms": platforms, "within": within_working_days}).all()


def describe_due(conn: Connection, within_working_days: int = 2, details: bool = False) -> str:
    """Counts per department and platform (overdue first); with `details`, the records themselves."""
    rows = due_records(conn, within_working_days)
    if not rows:
        return f"双公示预警：{within_working_days} 个工作日内到期且未被平台接收的记录：无 / nothing due or overdue"
    groups: dict[tuple[str, str, str], list] = {}
    for row in rows:
        groups.setdefault((row.department_code, row.name_zh, row.platform), []).append(row)
    counts = sorted(((key, sum(r.overdue for r in group), sum(not r.overdue for r in group),
                      min(r.publicity_due for r in group)) for key, group in groups.items()),
                    key=lambda item: (-item[1], item[3], item[0]))
    table = tabulate([(name, code, platform, overdue, soon, earliest)
                      for (code, name, platform), overdue, soon, earliest in counts],
                     headers=["部门", "department", "platform", "已逾期 overdue",
                              f"{within_working_days} 个工作日内到期 due soon", "最早截止 earliest due"])
    text = f"双公示预警 / publicity due within {within_working_days} working days, not yet accepted:\n{table}"
    if not details:
        return text + "\n（--details 列出每条记录 / --details lists the records）"
    records = tabulate([(r.name_zh, r.platform, r.record_type_zh, mask_text(r.document_number),
                         mask_text(r.subject_name), r.decision_date, r.publicity_due, "已逾期" if r.overdue else "")
                        for r in rows],
                       headers=["部门", "platform", "类别", "决定文书号 document", "主体 subject",
                                "决定日期 decided", "截止 due", "overdue"])
    return f"{text}\n\n每条记录 / the records ({len(rows)}):\n{records}"
