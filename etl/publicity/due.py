"""Early warning: 双公示 records close to their 7-working-day deadline and not yet accepted upstream."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from tabulate import tabulate

from etl.publicity.outbox import TODAY
from etl.publicity.policy import policy


def due_records(conn: Connection, within_working_days: int = 2) -> list:
    """Per department and platform: records whose publication is due within N working days (or overdue)
    and that the platform has not accepted yet."""
    platforms = [p.code for p in policy().platforms]
    return conn.execute(sa.text(f"""
        WITH today AS (SELECT d.workday_number FROM dw.dim_date d WHERE d.date = {TODAY}),
        open_records AS (
            SELECT f.record_key, dep.department_code, dep.name_zh, r.record_type_code, f.publicity_due
              FROM dw.fact_credit_record f
              JOIN dw.dim_department dep USING (department_key)
              JOIN dw.dim_record_type r USING (record_type_key)
             WHERE f.status = 'active' AND f.publicity_start IS NOT NULL AND f.publicity_due IS NOT NULL
               AND f.publicity_end >= {TODAY}
        )
        SELECT o.department_code, o.name_zh, p.platform,
               count(*) FILTER (WHERE o.publicity_due < {TODAY}) AS overdue,
               count(*) FILTER (WHERE o.publicity_due >= {TODAY}) AS due_soon,
               min(o.publicity_due) AS earliest_due
          FROM open_records o
         CROSS JOIN unnest(CAST(:platforms AS text[])) AS p(platform)
          JOIN dw.dim_date due ON due.date = o.publicity_due
         CROSS JOIN today
         WHERE due.workday_number <= today.workday_number + :within
           AND NOT EXISTS (SELECT 1 FROM outbox.publicity_item i
                            WHERE i.record_key = o.record_key AND i.platform = p.platform
                              AND i.action = 'upsert' AND i.status = 'accepted')
         GROUP BY o.department_code, o.name_zh, p.platform
         ORDER BY overdue DESC, earliest_due, o.department_code, p.platform
    """), {"platforms": platforms, "within": within_working_days}).all()


def describe_due(conn: Connection, within_working_days: int = 2) -> str:
    rows = due_records(conn, within_working_days)
    if not rows:
        return f"双公示预警：{within_working_days} 个工作日内到期且未被平台接收的记录：无 / nothing due or overdue"
    table = tabulate([(r.department_code, r.name_zh, r.platform, r.overdue, r.due_soon, r.earliest_due)
                      for r in rows],
                     headers=["department", "部门", "platform", "已逾期 overdue",
                              f"{within_working_days} 个工作日内到期 due soon", "最早截止 earliest due"])
    return f"双公示预警 / publicity due within {within_working_days} working days, not yet accepted:\n{table}"
