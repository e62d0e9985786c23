"""Migrations from empty, re-runs, drift and failure handling, and the warehouse contract they build."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl import config
from etl.errors import UserError
from etl.migrate import discover, migrate

pytestmark = pytest.mark.integration

CONTRACT = {
    "dw.dim_department": ["department_key", "department_code", "name_zh", "agency_uscc"],
    "dw.dim_record_type": ["record_type_key", "record_type_code", "name_zh", "catalog_category", "polarity"],
    "dw.dim_subject": ["subject_key", "subject_code", "subject_type", "name", "valid_from", "valid_to", "is_current"],
    "dw.dim_date": ["date_key", "date", "is_workday"],
    "dw.fact_credit_record": ["record_key", "record_uid", "subject_key", "record_type_key", "department_key",
                              "decision_date_key", "document_number", "status", "publicity_start",
                              "publicity_end", "fine_amount", "attributes", "content_hash", "batch_id"],
    "audit.batch": ["batch_id", "department_code", "feed_code", "sha256", "rows_in", "rows_loaded",
                    "rows_unchanged", "rows_quarantined", "status"],
    "audit.quarantine": ["batch_id", "row_no", "field", "rule", "message", "raw"],
    "audit.watermark": ["department_code", "feed_code", "watermark_value"],
}


def _applied(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(sa.text("SELECT name FROM audit.schema_migration ORDER BY version")))


def _copy_sql(tmp_path: Path) -> Path:
    target = tmp_path / "warehouse_sql"
    shutil.copytree(config.SQL_DIR, target)
    return target


def test_from_empty_applies_every_file_then_nothing(empty_database):
    files = [m.name for m in discover()]
    repeatable = sorted(p.name for p in (config.SQL_DIR / "repeatable").glob("*.sql"))
    assert migrate(empty_database) == [*files, "pii (catalog/personal_data.yml)", *repeatable,
                                       "data: document numbers in canonical form (022): 0 rewritten, 0 merged, "
                                       "0 aliases"]
    assert _applied(empty_database) == files
    assert migrate(empty_database) == []


def test_a_view_is_edited_in_place_and_re_applied(empty_database, tmp_path):
    """One file per view (as jaffle-shop keeps one model per file): an edit is re-applied on the next run,
    readers keep their grant, and a view a numbered migration dropped is made again."""
    sql_dir = _copy_sql(tmp_path)
    migrate(empty_database, sql_dir)
    view = sql_dir / "repeatable" / "50_mart.v_pipeline_health.sql"
    view.write_text(view.read_text().replace("now() AS checked_at", "now() AS checked_at,\n       1 AS added"))
    assert migrate(empty_database, sql_dir) == ["50_mart.v_pipeline_health.sql"]
    with empty_database.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'mart' "
                                   "AND table_name = 'v_pipeline_health' AND column_name = 'added'")) == 1
        assert conn.scalar(sa.text("SELECT has_table_privilege('bi_reader', 'mart.v_pipeline_health', 'SELECT')"))
    (sql_dir / "900_drop_a_view.sql").write_text("DROP VIEW mart.v_indicator_latest;")
    assert migrate(empty_database, sql_dir) == ["900_drop_a_view.sql", "50_mart.v_indicator_latest.sql"]
    with empty_database.connect() as conn:
        assert conn.scalar(sa.text("SELECT to_regclass('mart.v_indicator_latest')")) is not None


def test_a_dropped_trigger_is_made_again(empty_database):
    """History and the profile marks hang on the facts' triggers: one dropped by hand is back at the next run."""
    migrate(empty_database)
    with empty_database.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER fact_versions_kept ON dw.fact_credit_record"))
    assert migrate(empty_database) == ["30_dw.keep_fact_versions.sql"]
    assert migrate(empty_database) == []
    with empty_database.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM pg_trigger WHERE tgname = 'fact_versions_kept' "
                                   "AND tgrelid = 'dw.fact_credit_record'::regclass")) == 1


def test_changed_applied_file_is_refused_and_nothing_new_runs(empty_database, tmp_path):
    sql_dir = _copy_sql(tmp_path)
    migrate(empty_database, sql_dir)
    first = sorted(sql_dir.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- an edit after the fact\n")
    (sql_dir / "900_later.sql").write_text("CREATE TABLE audit.later_table (id int);")
    with pytest.raises(UserError, match=rf"{first.name} was changed after it was applied"):
        migrate(empty_database, sql_dir)
    with empty_database.connect() as conn:
        assert conn.scalar(sa.text("SELECT to_regclass('audit.later_table')")) is None


def test_failing_migration_is_rolled_back_whole(empty_database, tmp_path):
    sql_dir = _copy_sql(tmp_path)
    (sql_dir / "900_broken.sql").write_text(
        "CREATE TABLE audit.half_done (id int);\nSELECT * FROM no_such_table;\n")
    with pytest.raises(UserError, match="900_broken.sql failed and was rolled back"):
        migrate(empty_database, sql_dir)
    with empty_database.connect() as conn:
        assert conn.scalar(sa.text("SELECT to_regclass('audit.half_done')")) is None
    assert "900_broken.sql" not in _applied(empty_database)
    assert len(_applied(empty_database)) == len(discover())


def test_misnamed_file_is_refused(tmp_path):
    sql_dir = _copy_sql(tmp_path)
    (sql_dir / "7_oops.sql").write_text("SELECT 1;")
    with pytest.raises(UserError, match="7_oops.sql is misnamed"):
        discover(sql_dir)


def test_contract_tables_and_columns_exist(warehouse):
    inspector = sa.inspect(warehouse)
    for qualified, columns in CONTRACT.items():
        schema, table = qualified.split(".")
        present = {c["name"] for c in inspector.get_columns(table, schema=schema)}
        assert set(columns) <= present, f"{qualified} lacks {set(columns) - present}"
    assert {"staging", "dw", "audit", "outbox", "mart"} <= set(inspector.get_schema_names())


def test_every_table_and_column_is_commented_in_chinese_and_english(warehouse):
    with warehouse.connect() as conn:
        tables = conn.execute(sa.text("""
            SELECT n.nspname || '.' || c.relname AS name, obj_description(c.oid, 'pg_class') AS comment
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname IN ('staging', 'dw', 'audit', 'outbox', 'mart') AND c.relkind IN ('r', 'v', 'm', 'p')
        """)).all()
        columns = conn.execute(sa.text("""
            SELECT n.nspname || '.' || c.relname || '.' || a.attname AS name,
                   col_description(c.oid, a.attnum) AS comment
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             WHERE n.nspname IN ('staging', 'dw', 'audit', 'outbox', 'mart') AND c.relkind IN ('r', 'v', 'm', 'p')
        """)).all()
    assert len(tables) >= len(CONTRACT)
    for row in [*tables, *columns]:
        assert row.comment, f"{row.name} has no COMMENT"
        assert any("\u4e00" <= ch <= "\u9fff" for ch in row.comment), f"{row.name}: comment lacks Chinese"
        assert any(ch.isascii() and ch.isalpha() for ch in row.comment), f"{row.name}: comment lacks English"
    for row in tables:
        assert "one row per" in row.comment.lower() or "每" in row.comment, f"{row.name}: grain not stated"


def test_catalog_seeds_26_departments_and_record_types(warehouse):
    with warehouse.connect() as conn:
        departments = conn.execute(sa.text(
            "SELECT department_code, agency_uscc, dw.is_valid_uscc(agency_uscc) AS valid "
            "FROM dw.dim_department WHERE is_active")).all()
        record_types = set(conn.scalars(sa.text("SELECT record_type_code FROM dw.dim_record_type")))
    assert len(departments) == 26
    assert all(d.valid for d in departments)
    assert {"license", "penalty", "commitment", "red_list", "serious_dishonesty", "dishonest_debtor",
            "abnormal_operation", "credit_rating", "registration"} <= record_types


def test_dim_date_covers_2000_to_2035_with_official_working_days(warehouse):
    with warehouse.connect() as conn:
        first, last, n = conn.execute(sa.text("SELECT min(date), max(date), count(*) FROM dw.dim_date")).one()
        workday = dict(conn.execute(sa.text(
            "SELECT date, is_workday FROM dw.dim_date WHERE date = ANY(:d)"),
            {"d": [dt.date(2024, 2, 4), dt.date(2024, 2, 12), dt.date(2025, 10, 11), dt.date(2024, 10, 1),
                   dt.date(2024, 10, 8), dt.date(2026, 11, 24)]}).all())
        estimated = dict(conn.execute(sa.text(
            "SELECT year, bool_and(is_workday_estimated) FROM dw.dim_date WHERE year IN (2024, 2035) GROUP BY year"
        )).all())
        gaps = conn.scalar(sa.text(
            "SELECT count(*) FROM (SELECT date - lag(date) OVER (ORDER BY date) AS step FROM dw.dim_date) s "
            "WHERE step <> 1"))
    assert first <= dt.date(2000, 1, 1) and last >= dt.date(2035, 12, 31)
    assert n == (last - first).days + 1 and gaps == 0
    # 2024-02-04 and 2025-10-11 are make-up working weekend days (调休); Spring Festival and National Day are off.
    assert workday == {dt.date(2024, 2, 4): True, dt.date(2024, 2, 12): False, dt.date(2025, 10, 11): True,
                       dt.date(2024, 10, 1): False, dt.date(2024, 10, 8): True, dt.date(2026, 11, 24): True}
    assert estimated == {2024: False, 2035: True}


def test_workday_number_counts_working_days(warehouse):
    with warehouse.connect() as conn:
        # 2024-09-30 (Mon) + 7 working days skips National Day (Oct 1-7) and counts the 2024-10-12 make-up Saturday.
        seventh = conn.scalar(sa.text("""
            SELECT d.date FROM dw.dim_date d
             WHERE d.is_workday AND d.workday_number =
                   (SELECT workday_number FROM dw.dim_date WHERE date = '2024-09-30') + 7
        """))
    assert seventh == dt.date(2024, 10, 15)  # Oct 8, 9, 10, 11, 12 (Sat), 14, 15


def test_reseeding_changes_nothing(warehouse):
    from etl.catalog import catalog
    from etl.reference import seed_reference_data

    snapshot = "SELECT md5(string_agg(t::text, '|' ORDER BY 1)) FROM (SELECT * FROM {table}) t"
    with warehouse.connect() as conn:
        before = [conn.scalar(sa.text(snapshot.format(table=t)))
                  for t in ("dw.dim_department", "dw.dim_record_type", "dw.dim_date")]
    seed_reference_data(warehouse, catalog())
    with warehouse.connect() as conn:
        after = [conn.scalar(sa.text(snapshot.format(table=t)))
                 for t in ("dw.dim_department", "dw.dim_record_type", "dw.dim_date")]
    assert before == after


def test_loaded_batch_must_account_for_every_row(warehouse):
    insert = sa.text("""
        INSERT INTO audit.batch (department_code, feed_code, record_type_code, source_name, sha256, byte_count,
                                 rows_in, rows_loaded, rows_unchanged, rows_quarantined, status)
        VALUES ('tax', 'penalty', 'penalty', 'test', repeat('a', 64), 1, 10, 6, 1, 2, 'loaded')
    """)
    with warehouse.connect() as conn, pytest.raises(sa.exc.IntegrityError, match="batch_rows_accounted"):
        conn.execute(insert)
    with warehouse.connect() as conn, pytest.raises(sa.exc.IntegrityError, match="batch_held_has_reason"):
        conn.execute(sa.text("""
            INSERT INTO audit.batch (department_code, feed_code, record_type_code, source_name, sha256,
                                     byte_count, status)
            VALUES ('tax', 'penalty', 'penalty', 'test', repeat('b', 64), 1, 'held')
        """))


def test_subject_versions_cannot_be_deleted(warehouse):
    """Facts refer to subject versions without a per-row foreign key (migration 017): the dimension
    refuses DELETE and TRUNCATE instead, so no fact's subject key can come to point at nothing."""
    with warehouse.connect() as conn:
        conn.execute(sa.text("""
            INSERT INTO dw.dim_subject (subject_code, code_kind, subject_type, name, attributes_hash, valid_from)
            VALUES ('91110000100000000A', 'uscc', '法人及非法人组织', '测试主体', repeat('c', 64), now())
        """))
        with pytest.raises(sa.exc.DBAPIError, match="never deleted") as raised:
            conn.execute(sa.text("DELETE FROM dw.dim_subject WHERE subject_code = '91110000100000000A'"))
        assert raised.value.orig.pgcode == "23001"  # restrict_violation
        conn.rollback()
        with pytest.raises(sa.exc.DBAPIError, match="never deleted"):
            conn.execute(sa.text("TRUNCATE dw.dim_subject CASCADE"))
        conn.rollback()


def test_the_stored_batch_statuses_are_the_enums(warehouse):
    """`audit.batch.status` accepts exactly the statuses etl.status stores, no more, no fewer."""
    import re

    from etl.status import STORED

    with warehouse.connect() as conn:
        check = conn.scalar(sa.text("""
            SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
             WHERE c.conrelid = 'audit.batch'::regclass AND c.contype = 'c'
               AND pg_get_constraintdef(c.oid) LIKE '%status = ANY%'"""))
    assert set(re.findall(r"'(\w+)'::text", check)) == {str(s) for s in STORED}
