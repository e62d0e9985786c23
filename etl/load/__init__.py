"""Load a validated batch into the star schema: set-based SQL, two transactions, replay-safe.

Subjects are SCD type 2 (a new version when name, category, legal representative or ID type
changes; a value a department leaves empty is not a change), written and committed first under the
dimension's lock. Facts are upserted by record_uid with a content hash: identical rows count as
unchanged, changed rows keep their prior version in dw.fact_credit_record_history (the facts' UPDATE
trigger writes it). The facts, their
outbox items, the batch's counts and status and the feed's watermark are written in the second
transaction, so a crash leaves either all of them or none of them (and subject versions a re-run
finds unchanged).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl.catalog import Catalog, FieldType, RecordType, Role
from etl.errors import UserError
from etl.faults import crash_point
from etl.land import Batch
from etl.publicity.outbox import PUBLICITY_COLUMNS, WINDOWED_STATUSES, publicity_for_batch, publicity_window_sql
from etl.quarantine import NOT_QUARANTINED
from etl.sqltext import execute_script, fact_change_reason, jsonb_object, literal, use_batch_settings
from etl.stage.tables import clean_table, column, staging_table
from etl.status import BatchStatus

WINDOWED = "(" + ", ".join(literal(status) for status in WINDOWED_STATUSES) + ")"
# Serialises the subject dimension step between concurrent loads (the SCD2 insert is check-then-act).
SUBJECT_LOCK_ID = 0x73756264  # "subd"


@dataclass(frozen=True)
class LoadResult:
    rows_in: int
    rows_loaded: int
    rows_unchanged: int
    rows_quarantined: int
    elapsed_ms: int
    already_loaded: bool = False


def _col(record_type: RecordType, role: Role) -> str:
    field = record_type.role(role)
    return f"n.{column(field.code)}" if field else "NULL::text"


def _status(record_type: RecordType) -> str:
    """The fact status a department's own status field says (revocations), else active."""
    field = record_type.role(Role.RECORD_STATUS)
    if field is None or not record_type.status_values:
        return "'active'"
    cases = " ".join(f"WHEN {literal(value)} THEN {literal(status)}"
                     for value, status in record_type.status_values.items())
    return f"CASE n.{column(field.code)} {cases} ELSE 'active' END"


def _attributes(record_type: RecordType) -> str:
    pairs = [f"{literal(f.code)}, n.{column(f.code)}" for f in record_type.fields]
    return f"jsonb_strip_nulls({jsonb_object(pairs)})"


def _subject_code(record_type: RecordType) -> str:
    """A clean row's subject code: its USCC, else its ID number."""
    return f"coalesce({_col(record_type, Role.SUBJECT_USCC)}, {_col(record_type, Role.ID_NUMBER)})"


def _subject_columns(record_type: RecordType) -> str:
    """A clean row's subject: its code, the code's kind and the subject's attributes."""
    uscc = _col(record_type, Role.SUBJECT_USCC)
    id_type = _col(record_type, Role.ID_TYPE)
    return f"""{_subject_code(record_type)} AS subject_code,
               CASE WHEN {uscc} IS NOT NULL THEN 'uscc' WHEN {id_type} = '身份证' THEN 'id_number'
                    ELSE 'other' END AS code_kind,
               {_col(record_type, Role.SUBJECT_TYPE)} AS subject_type,
               {_col(record_type, Role.SUBJECT_NAME)} AS subject_name,
               {_col(record_type, Role.LEGAL_REPRESENTATIVE)} AS legal_representative,
               {id_type} AS id_type"""


def _valid_rows(record_type: RecordType, batch: Batch) -> str:
    """FROM and WHERE of the batch's clean rows that are not quarantined (alias n)."""
    return f"""{clean_table(record_type)} n
         WHERE n.batch_id = {int(batch.batch_id)} AND {NOT_QUARANTINED}"""


def _incoming(conn: Connection, record_type: RecordType, batch: Batch) -> int:
    fine = record_type.role(Role.FINE_AMOUNT)
    fine_expr = f"n.{column(fine.code)}" if fine and fine.type == FieldType.DECIMAL else "NULL::numeric"
    window = publicity_window_sql(record_type.code, "b")
    return execute_script(conn, f"""
        CREATE TEMP TABLE incoming ON COMMIT DROP AS
        SELECT b.*, w.*
          FROM (
        SELECT n.row_no,
               -- a decision first loaded under another spelling of its number keeps that record's id
               coalesce(alias.record_uid, n.record_uid) AS record_uid,
               {_subject_code(record_type)} AS subject_code,
               {_col(record_type, Role.DOCUMENT_NUMBER)} AS document_number,
               to_char({_col(record_type, Role.DECISION_DATE)}, 'YYYYMMDD')::integer AS decision_date_key,
               {fine_expr} AS fine_amount,
               {_status(record_type)} AS status,
               a.attributes, n.extra,
               encode(sha256(convert_to(a.attributes::text, 'UTF8')), 'hex') AS content_hash
          FROM {clean_table(record_type)} n
          LEFT JOIN dw.record_uid_alias alias ON alias.alias_uid = n.record_uid
         -- OFFSET 0 keeps the subquery from being flattened, which would build the jsonb twice (for the
         -- column and for its hash): 33 µs -> 22 µs a row on a 118,282-row batch.
         CROSS JOIN LATERAL (SELECT {_attributes(record_type)} AS attributes OFFSET 0) a
         WHERE n.batch_id = {int(batch.batch_id)} AND {NOT_QUARANTINED}
        OFFSET 0) b
          LEFT JOIN LATERAL {window} w ON b.status IN {WINDOWED}
    """)


def _upsert_subjects(conn: Connection, record_type: RecordType, batch: Batch) -> None:
    """SCD2 versions of the batch's subjects, in a transaction of their own (see `load_batch`)."""
    batch_id = batch.batch_id
    # The latest valid row of the batch speaks for a subject. Picked before the lock, which is held to this
    # transaction's commit: concurrent loads wait for each other only while they read and write the dimension.
    execute_script(conn, f"""
        CREATE TEMP TABLE batch_subject ON COMMIT DROP AS
        SELECT DISTINCT ON (subject_code) *
          FROM (SELECT n.row_no, {_subject_columns(record_type)} FROM {_valid_rows(record_type, batch)}) valid
         WHERE subject_code IS NOT NULL
         ORDER BY subject_code, row_no DESC;
        ANALYZE batch_subject;
    """)
    execute_script(conn, f"SELECT pg_advisory_xact_lock({SUBJECT_LOCK_ID})")
    # Empty attributes keep the current version's value. The hash is over the merged values (OFFSET 0:
    # merged once, not again inside the hash); one write of the table, not a write and an UPDATE.
    execute_script(conn, """
        CREATE TEMP TABLE incoming_subject ON COMMIT DROP AS
        SELECT m.*, encode(sha256(convert_to(jsonb_build_array(m.name, m.subject_type, m.legal_representative,
                                                               m.id_type)::text, 'UTF8')), 'hex')::char(64)
                   AS attributes_hash
          FROM (SELECT i.subject_code, i.code_kind, i.subject_type, i.subject_name AS name,
                       coalesce(i.legal_representative, d.legal_representative) AS legal_representative,
                       coalesce(i.id_type, d.id_type) AS id_type,
                       d.subject_key AS current_key, d.attributes_hash AS current_hash
                  FROM batch_subject i
                  LEFT JOIN dw.dim_subject d ON d.subject_code = i.subject_code AND d.is_current
                OFFSET 0) m
    """)
    execute_script(conn, """
        ANALYZE incoming_subject;
        UPDATE dw.dim_subject d
           SET valid_to = now(), is_current = false
          FROM incoming_subject i
         WHERE d.subject_key = i.current_key AND i.current_hash <> i.attributes_hash;
    """)
    execute_script(conn, f"""
        INSERT INTO dw.dim_subject (subject_code, code_kind, subject_type, name, legal_representative, id_type,
                                    attributes_hash, valid_from, batch_id)
        SELECT subject_code, code_kind, subject_type, name, legal_representative, id_type, attributes_hash, now(),
               {int(batch_id)}
          FROM incoming_subject
         WHERE current_key IS NULL OR current_hash <> attributes_hash
    """)


def _upsert_facts(conn: Connection, batch: Batch) -> int:
    keys = conn.execute(sa.text("""
        SELECT (SELECT department_key FROM dw.dim_department WHERE department_code = :d) AS department_key,
               (SELECT record_type_key FROM dw.dim_record_type WHERE record_type_code = :r) AS record_type_key
    """), {"d": batch.department_code, "r": batch.record_type_code}).one()
    kept_status = "dw.fact_credit_record.status IN ('repaired', 'expired') AND EXCLUDED.status = 'active'"
    windows = ",\n               ".join(
        f"{c} = CASE WHEN {kept_status} OR EXCLUDED.status NOT IN {WINDOWED} "
        f"THEN dw.fact_credit_record.{c} ELSE EXCLUDED.{c} END" for c in PUBLICITY_COLUMNS)
    return execute_script(conn, f"""
        INSERT INTO dw.fact_credit_record
               (record_uid, subject_key, record_type_key, department_key, decision_date_key, document_number,
                fine_amount, status, attributes, extra, content_hash, batch_id, source_row_no,
                {", ".join(PUBLICITY_COLUMNS)})
        SELECT i.record_uid, s.subject_key, {int(keys.record_type_key)}, {int(keys.department_key)},
               i.decision_date_key, i.document_number, i.fine_amount, i.status, i.attributes, i.extra, i.content_hash,
               {int(batch.batch_id)}, i.row_no, {", ".join(f"i.{c}" for c in PUBLICITY_COLUMNS)}
          FROM incoming i
          JOIN dw.dim_subject s ON s.subject_code = i.subject_code AND s.is_current
        ON CONFLICT (record_uid) DO UPDATE
           SET subject_key = EXCLUDED.subject_key, decision_date_key = EXCLUDED.decision_date_key,
               document_number = EXCLUDED.document_number, fine_amount = EXCLUDED.fine_amount,
               -- Credit repair and an ended window are the office's decisions: a department's resend keeps them.
               status = CASE WHEN {kept_status} THEN dw.fact_credit_record.status ELSE EXCLUDED.status END,
               -- The window follows the new version, unless the office's decision keeps the old status.
               {windows},
               -- the extra columns follow the version; a change in them alone is no new version (not in the hash)
               attributes = EXCLUDED.attributes, extra = EXCLUDED.extra, content_hash = EXCLUDED.content_hash,
               batch_id = EXCLUDED.batch_id, source_row_no = EXCLUDED.source_row_no, updated_at = now()
         WHERE dw.fact_credit_record.content_hash IS DISTINCT FROM EXCLUDED.content_hash
    """)


def _load_state(conn: Connection, batch: Batch) -> sa.Row:
    """The batch's row, locked; a batch not validated (nor loaded) cannot be loaded."""
    state = conn.execute(sa.text("""
        SELECT status, rows_in, rows_loaded, rows_unchanged, rows_quarantined
          FROM audit.batch WHERE batch_id = :b FOR UPDATE
    """), {"b": batch.batch_id}).one()
    if state.status not in (BatchStatus.LOADED, BatchStatus.VALIDATED):
        raise UserError(f"批次 {batch.batch_id} 的状态是 {state.status}，尚未通过校验，暂不能入库 / "
                        f"Batch {batch.batch_id} is {state.status}, not validated; it cannot be loaded yet.")
    return state


def _loaded_before(state: sa.Row) -> LoadResult:
    """A batch loaded earlier is left as it is: its counts as they were recorded."""
    return LoadResult(state.rows_in, state.rows_loaded, state.rows_unchanged, state.rows_quarantined, 0,
                      already_loaded=True)


def refresh_subject_profiles(engine: Engine) -> int:
    """Recompute the stored profiles (dw.subject_profile) of the subjects whose facts changed; how many.
    Run once the loads of an ingest have committed (per batch it recomputed a subject once for each batch
    that touched it: 53 s more for a 300,000-record ingest). Until it runs (a crash, a load still going) the
    mart view computes those subjects from their facts, so nothing depends on it but speed."""
    with engine.begin() as conn:
        return conn.scalar(sa.text("SELECT dw.refresh_subject_profile()"))


def load_batch(engine: Engine, batch: Batch, catalog: Catalog) -> LoadResult:
    """Load the valid rows of a validated batch; a batch already loaded is left as it is."""
    started = time.monotonic()
    record_type = catalog.record_type_by_code[batch.record_type_code]
    # Subjects first, committed on their own: the dimension's lock is then held for that short step, not to
    # the end of the facts' transaction (which serialised every concurrent load whole). A crash between the
    # two commits leaves subject versions the re-run finds unchanged; the facts still commit all or nothing.
    with engine.begin() as conn:
        state = _load_state(conn, batch)
        if state.status == BatchStatus.LOADED:
            return _loaded_before(state)
        use_batch_settings(conn)
        _upsert_subjects(conn, record_type, batch)
    crash_point("load.subjects_committed")
    with engine.begin() as conn:
        use_batch_settings(conn)
        state = _load_state(conn, batch)
        if state.status == BatchStatus.LOADED:  # another run loaded it meanwhile
            return _loaded_before(state)
        valid = _incoming(conn, record_type, batch)
        # Temp tables have no statistics until analysed; without them the join to the subjects is planned blind.
        execute_script(conn, "ANALYZE incoming")
        orphans = conn.execute(sa.text("""
            SELECT count(*) FILTER (WHERE subject_code IS NULL) AS no_subject,
                   count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM dw.dim_date d
                                                       WHERE d.date_key = incoming.decision_date_key)) AS no_date
              FROM incoming
        """)).one()
        # Validation guarantees both; failing loudly beats counting rows as unchanged or loading orphans
        # (the fact table checks the decision date here, once per batch, instead of per row).
        if orphans.no_subject:
            raise UserError(f"批次 {batch.batch_id} 有 {orphans.no_subject} 条有效记录没有主体代码，"
                            f"请检查 record_types.yml 中该记录类型的主体识别规则 / "
                            f"Batch {batch.batch_id}: {orphans.no_subject} valid rows have no subject code; "
                            f"the record type's identity rules in record_types.yml need a look.")
        if orphans.no_date:
            raise UserError(f"批次 {batch.batch_id} 有 {orphans.no_date} 条有效记录的决定日期超出数据仓库日历"
                            f"（dw.dim_date），请检查日期规则 / "
                            f"Batch {batch.batch_id}: {orphans.no_date} valid rows have a decision date outside "
                            f"the warehouse calendar (dw.dim_date); the date rules need a look.")
        # The versions the upsert replaces go to history by the facts' trigger (dw.keep_fact_versions): only for
        # the facts it changes, with no probe of the facts for those it leaves alone.
        with fact_change_reason(conn, "correction"):
            loaded = _upsert_facts(conn, batch)
        # The upward duty commits with the facts (transactional outbox).
        outbox_started = time.monotonic()
        publicity_for_batch(conn, batch.batch_id, batch.record_type_code)
        outbox_ms = int((time.monotonic() - outbox_started) * 1000)
        quarantined = conn.scalar(sa.text(
            "SELECT count(DISTINCT row_no) FROM audit.quarantine WHERE batch_id = :b"), {"b": batch.batch_id})
        elapsed = int((time.monotonic() - started) * 1000)
        conn.execute(sa.text("""
            UPDATE audit.batch
               SET status = 'loaded', status_reason = NULL, rows_loaded = :loaded, rows_unchanged = :unchanged,
                   rows_quarantined = :quarantined, load_ms = :ms, outbox_ms = :outbox_ms, updated_at = now()
             WHERE batch_id = :b
        """), {"loaded": loaded, "unchanged": valid - loaded, "quarantined": quarantined, "ms": elapsed,
               "outbox_ms": outbox_ms, "b": batch.batch_id})
        if batch.watermark_to is not None:
            conn.execute(sa.text("""
                INSERT INTO audit.watermark (department_code, feed_code, watermark_kind, watermark_value, batch_id)
                VALUES (:d, :f, :kind, :value, :b)
                ON CONFLICT (department_code, feed_code) DO UPDATE
                   SET watermark_kind = EXCLUDED.watermark_kind, watermark_value = EXCLUDED.watermark_value,
                       batch_id = EXCLUDED.batch_id, updated_at = now()
            """), {"d": batch.department_code, "f": batch.feed_code, "kind": batch.watermark_kind,
                   "value": batch.watermark_to, "b": batch.batch_id})
        for table in (staging_table(record_type), clean_table(record_type)):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE batch_id = :b"), {"b": batch.batch_id})
        crash_point("load.before_commit")
    crash_point("load.after_commit")
    return LoadResult(state.rows_in, loaded, valid - loaded, quarantined, elapsed)
