"""Publicity windows on the facts and the transactional outbox (outbox.publicity_item).

Everything here runs inside the caller's transaction: the load computes the windows of the facts a
batch changed and writes the outbox items with them, so a fact and its upward duty commit together
or not at all. The same enqueue step serves the load, the daily expiry and credit repair:

- a record that should be public now gets an `upsert` for every platform;
- a record that should not (revoked, repaired, window ended) gets a `withdraw` for every platform
  that was last told to publish it; a platform that never had it is told nothing;
- items still pending for those records are superseded first (never sent, so nothing to undo).

Idempotency keys are derived from platform, record, action, content and cause, so replaying a
batch writes no new items and the platform can deduplicate a re-sent item.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from sqlalchemy.engine import Connection, Engine

from etl import keys
from etl.catalog import catalog
from etl.errors import UserError
from etl.personal import masked_attributes_sql
from etl.publicity.policy import PublicityPolicy, edition_sql, penalty_tier_sql, periods_sql, policy
from etl.sqltext import execute_script, fact_change_reason, literal

TODAY = "(now() AT TIME ZONE 'Asia/Shanghai')::date"


def _record_type_keys(conn: Connection, codes: tuple[str, ...]) -> dict[str, int]:
    rows = conn.execute(sa.text("SELECT record_type_code, record_type_key FROM dw.dim_record_type "
                                "WHERE record_type_code = ANY(:codes)"), {"codes": list(codes)})
    return {r.record_type_code: r.record_type_key for r in rows}


PUBLICITY_COLUMNS = ("publicity_tier", "publicity_start", "publicity_end", "publicity_due")
# Statuses whose records get a publicity window; revoked ones keep theirs, so the withdrawal is known.
WINDOWED_STATUSES = ("active", "revoked")


def publicity_window_sql(record_type_code: str, row: str, rules: PublicityPolicy | None = None) -> str:
    """A subquery giving one row's publicity columns (`PUBLICITY_COLUMNS`): tier, window and due date of
    a licence or penalty, from `<row>.decision_date_key` and `<row>.attributes`; all NULL for record types
    that are not published (and a penalty's tier NULL where nothing places it, which validation prevents).

    The load computes it for the rows it is about to write, so a fact is written once with its window
    rather than inserted and then updated (a second version of every licence and penalty row).
    """
    rules = rules or policy()
    if record_type_code not in rules.record_types:
        return ("(SELECT NULL::text AS publicity_tier, NULL::date AS publicity_start, NULL::date AS publicity_end, "
                "NULL::date AS publicity_due)")
    decision = f"to_date({row}.decision_date_key::text, 'YYYYMMDD')"
    due = f"""(SELECT due.date FROM dw.dim_date decided JOIN dw.dim_date due
                 ON due.is_workday AND due.workday_number = decided.workday_number + {rules.due_working_days}
              WHERE decided.date_key = {row}.decision_date_key)"""
    if record_type_code == rules.license.record_type:
        end_field = literal(rules.license.publicity_end_field)
        return f"""(SELECT NULL::text AS publicity_tier, {decision} AS publicity_start,
                           greatest({decision}, coalesce(({row}.attributes ->> {end_field})::date, {decision}))
                               AS publicity_end,
                           {due} AS publicity_due)"""
    penalty = rules.penalty

    def attribute(code: str) -> str:
        return f"({row}.attributes ->> {literal(code)})"

    tier = penalty_tier_sql(penalty, "d.decision_date", f"string_to_array({attribute(penalty.types_field)}, ';')",
                            attribute(penalty.severity_field), attribute(penalty.procedure_field))
    stated = f"{attribute(penalty.department_end_field)}::date" if penalty.department_end_field else "NULL::date"
    shortest = "(x.decision_date + make_interval(months => p.min_months))::date"
    longest = "(x.decision_date + make_interval(months => p.max_months))::date"
    # A department's own end date is honoured within the tier's bounds; unpublished tiers get no window.
    return f"""(SELECT x.tier AS publicity_tier,
                       CASE WHEN p.published THEN x.decision_date END AS publicity_start,
                       CASE WHEN p.published
                            THEN least({longest}, greatest({shortest}, coalesce(x.stated_end, {longest}))) END
                           AS publicity_end,
                       CASE WHEN p.published THEN {due} END AS publicity_due
                  FROM (SELECT d.decision_date, d.stated_end, {edition_sql(penalty, "d.decision_date")} AS edition_from,
                               {tier} AS tier
                          FROM (SELECT {decision} AS decision_date, {stated} AS stated_end) d) x
                  LEFT JOIN {periods_sql(penalty)} ON p.edition_from = x.edition_from AND p.tier = x.tier)"""


def payload_sql(fact: str, record_type_code: str, rules: PublicityPolicy | None = None) -> str:
    """SQL for what a platform receives about the fact row `fact` (of the record type `record_type_code`, an SQL
    expression): its attributes in standard field codes without the local ones, ID numbers masked in ID fields
    and in any text, and the publicity end the warehouse decided. Built when an item is first sent."""
    rules = rules or policy()
    cat = catalog()
    record_types = [cat.record_type_by_code[code] for code in rules.record_types]
    # Local fields (a department's declarations the 双公示 standard has no field for) stay in the warehouse.
    local = sorted({f.code for rt in record_types for f in rt.fields if f.local})
    standard = (f"({fact}.attributes - ARRAY[{', '.join(literal(c) for c in local)}]::text[])" if local
                else f"{fact}.attributes")
    payload = masked_attributes_sql(standard, record_types)
    end_field = rules.penalty.department_end_field
    if end_field:
        # The window the warehouse decided goes upward as the record's publicity end, not what the department
        # wrote there (a date before the decision, or beyond the tier's maximum, would mislead the platform).
        payload = (f"CASE WHEN {fact}.publicity_end IS NOT NULL AND {record_type_code} = "
                   f"{literal(rules.penalty.record_type)} THEN ({payload}) || "
                   f"jsonb_build_object({literal(end_field)}, to_char({fact}.publicity_end, 'YYYY-MM-DD')) "
                   f"ELSE {payload} END")
    return payload


def payloads(conn: Connection, record_keys: list[int]) -> dict[int, dict]:
    """What the platforms would receive now about these facts (by record_key), as `payload_sql` builds it."""
    rows = conn.execute(sa.text(f"""
        SELECT f.record_key, {payload_sql("f", "r.record_type_code")} AS payload
          FROM dw.fact_credit_record f JOIN dw.dim_record_type r USING (record_type_key)
         WHERE f.record_key = ANY(:keys)
    """), {"keys": list(record_keys)})
    return {r.record_key: r.payload for r in rows}


def enqueue(conn: Connection, records_sql: str, cause: str, rules: PublicityPolicy | None = None) -> int:
    """Write the outbox items for the facts `records_sql` selects (a query returning record_key); returns how
    many items were written. An item names the fact version (record and content hash); its payload is built
    when it is first sent (`payload_sql`), so a load pays no masking for what the push will send."""
    rules = rules or policy()
    type_keys = _record_type_keys(conn, rules.record_types)
    platforms = "ARRAY[" + ", ".join(literal(p.code) for p in rules.platforms) + "]::text[]"
    execute_script(conn, f"""
        DROP TABLE IF EXISTS touched_records;
        CREATE TEMP TABLE touched_records ON COMMIT DROP AS
        SELECT f.record_key, f.record_uid, f.status, f.publicity_start, f.publicity_end, f.publicity_due,
               f.content_hash, f.decision_date_key, d.department_code, r.record_type_code
          FROM dw.fact_credit_record f
          JOIN dw.dim_department d ON d.department_key = f.department_key
          JOIN dw.dim_record_type r ON r.record_type_key = f.record_type_key
         WHERE f.record_key IN ({records_sql})
           AND f.record_type_key IN ({", ".join(str(k) for k in type_keys.values())});
        -- Probed by record through the index: a join would hash every pending item of the outbox (all of
        -- them until the first nightly push), a cost that grew with each batch of a first load.
        UPDATE outbox.publicity_item o SET status = 'superseded', updated_at = now()
         WHERE o.record_key = ANY (ARRAY(SELECT record_key FROM touched_records)) AND o.status = 'pending';
    """)
    return execute_script(conn, f"""
        INSERT INTO outbox.publicity_item
               (platform, record_key, record_uid, department_code, record_type_code, action, content_hash,
                cause, idempotency_key, decision_date, due_date)
        SELECT p.platform, t.record_key, t.record_uid, t.department_code, t.record_type_code, a.action,
               t.content_hash, {literal(cause)},
               encode(sha256(convert_to(concat_ws('|', p.platform, t.record_uid::text, a.action, t.content_hash,
                                                  {literal(cause)}), 'UTF8')), 'hex'),
               to_date(t.decision_date_key::text, 'YYYYMMDD'), t.publicity_due
          FROM touched_records t
         CROSS JOIN unnest({platforms}) AS p(platform)
         CROSS JOIN LATERAL (
               SELECT CASE WHEN t.status = 'active' AND t.publicity_start IS NOT NULL
                                AND t.publicity_end >= {TODAY} THEN 'upsert' ELSE 'withdraw' END AS action) a
          LEFT JOIN LATERAL (
               SELECT o.action AS told FROM outbox.publicity_item o
                WHERE o.record_key = t.record_key AND o.platform = p.platform AND o.status IN ('sent', 'accepted')
                ORDER BY o.item_id DESC LIMIT 1) last_told ON true
         WHERE a.action = 'upsert' OR last_told.told = 'upsert'
        ON CONFLICT (idempotency_key) DO NOTHING
    """)


def publicity_for_batch(conn: Connection, batch_id: int, record_type_code: str) -> int:
    """The load's step: the outbox items of the facts this batch wrote (with their windows)."""
    rules = policy()
    if record_type_code not in rules.record_types:
        return 0
    return enqueue(conn, f"SELECT record_key FROM dw.fact_credit_record WHERE batch_id = {int(batch_id)}",
                   f"batch:{int(batch_id)}", rules)


def _end_versions(conn: Connection, where: str, reason: str, new_status: str, new_end: str) -> list[int]:
    """Close the current version of the facts `where` selects (kept in history as `reason`), set status and
    window end."""
    with fact_change_reason(conn, reason):
        execute_script(conn, f"""
            DROP TABLE IF EXISTS ending_records;
            CREATE TEMP TABLE ending_records ON COMMIT DROP AS
            SELECT record_key FROM dw.fact_credit_record f WHERE {where} FOR UPDATE;
            UPDATE dw.fact_credit_record f
               SET status = {literal(new_status)}, publicity_end = {new_end}, updated_at = now()
              FROM ending_records e WHERE f.record_key = e.record_key;
        """)
    return list(conn.scalars(sa.text("SELECT record_key FROM ending_records")))


def expire_publicity_windows(engine: Engine, today: dt.date | None = None) -> dict:
    """Daily: facts whose window has ended become `expired` and are withdrawn from the platforms."""
    rules = policy()
    day = f"DATE '{today.isoformat()}'" if today else TODAY
    with engine.begin() as conn:
        type_keys = _record_type_keys(conn, rules.record_types)
        ended = _end_versions(
            conn, f"f.status = 'active' AND f.publicity_end < {day} "
                  f"AND f.record_type_key IN ({', '.join(str(k) for k in type_keys.values())})",
            "expired", "expired", "f.publicity_end")
        cause = f"expired:{today.isoformat() if today else dt.date.today().isoformat()}"
        items = enqueue(conn, "SELECT record_key FROM ending_records", cause, rules) if ended else 0
    return {"expired": len(ended), "withdrawals": items}


def repair_penalty(engine: Engine, department_code: str, document_number: str, repaired_on: dt.date) -> dict:
    """信用修复: end a published penalty's publicity once its tier's minimum period has been served."""
    rules = policy()
    brackets = catalog().record_type_by_code[rules.penalty.record_type].document_brackets
    uid = keys.record_uid(department_code, rules.penalty.record_type, document_number, brackets)
    with engine.begin() as conn:
        fact = conn.execute(sa.text("""
            SELECT f.record_key, f.record_uid, f.status, f.publicity_tier, f.publicity_start, f.publicity_end,
                   to_date(f.decision_date_key::text, 'YYYYMMDD') AS decision_date
              FROM dw.fact_credit_record f
             WHERE f.record_uid = coalesce((SELECT a.record_uid FROM dw.record_uid_alias a WHERE a.alias_uid = :uid),
                                           :uid)
               FOR UPDATE
        """), {"uid": uid}).one_or_none()
        if fact is None:
            raise UserError(f"没有找到部门 {department_code} 文书号 {document_number} 的行政处罚记录 / "
                            f"No penalty of department {department_code} with document number {document_number}.")
        if fact.status != "active" or fact.publicity_start is None:
            raise UserError(f"该处罚当前状态为 {fact.status}，未在公示中，无需修复 / The penalty is {fact.status} "
                            f"and not being published; there is nothing to repair.")
        tier = rules.penalty.edition_for(fact.decision_date).period(fact.publicity_tier)
        earliest = fact.decision_date + relativedelta(months=tier.min_months)  # as PostgreSQL's intervals
        if repaired_on < earliest:
            raise UserError(f"{tier.tier} 等级处罚须公示满 {tier.min_months} 个月，最早 {earliest} 可修复 / "
                            f"a {tier.tier} penalty must be public for {tier.min_months} months; "
                            f"repair is possible from {earliest}.")
        _end_versions(conn, f"f.record_key = {int(fact.record_key)}", "repair", "repaired",
                      f"DATE '{repaired_on.isoformat()}'")
        items = enqueue(conn, "SELECT record_key FROM ending_records", f"repair:{repaired_on.isoformat()}", rules)
    return {"record_uid": str(fact.record_uid), "status": "repaired", "withdrawals": items}
