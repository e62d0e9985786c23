"""Reference data the star schema needs before any load: departments, record types and dates.

Seeded from the catalog and the working-day calendar by `creditwh init`; re-running changes only
what differs, so a catalog edit or a newly announced holiday schedule is picked up in place.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl.catalog import Catalog
from etl.stage.tables import ensure_clean_tables, ensure_staging_tables
from etl.workdays import calendar


@dataclass(frozen=True)
class SeedCounts:
    departments: int
    record_types: int
    dates: int
    measures: int = 0
    migrations_applied: tuple[str, ...] = ()


def _upsert_departments(conn: Connection, catalog: Catalog) -> int:
    rows = [
        {"code": d.code, "zh": d.name_zh, "en": d.name_en, "uscc": d.agency_uscc, "feeds": len(d.feeds)}
        for d in catalog.departments
    ]
    conn.execute(sa.text("""
        INSERT INTO dw.dim_department (department_code, name_zh, name_en, agency_uscc, feed_count, is_active)
        VALUES (:code, :zh, :en, :uscc, :feeds, true)
        ON CONFLICT (department_code) DO UPDATE
           SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en, agency_uscc = EXCLUDED.agency_uscc,
               feed_count = EXCLUDED.feed_count, is_active = true, updated_at = now()
         WHERE (dw.dim_department.name_zh, dw.dim_department.name_en, dw.dim_department.agency_uscc,
                dw.dim_department.feed_count, dw.dim_department.is_active)
               IS DISTINCT FROM (EXCLUDED.name_zh, EXCLUDED.name_en, EXCLUDED.agency_uscc,
                                 EXCLUDED.feed_count, true)
    """), rows)
    # A department dropped from the catalog keeps its key (facts refer to it) but is marked inactive.
    conn.execute(sa.text("""
        UPDATE dw.dim_department SET is_active = false, updated_at = now()
         WHERE is_active AND department_code <> ALL(:codes)
    """), {"codes": [d.code for d in catalog.departments]})
    return len(rows)


def _upsert_record_types(conn: Connection, catalog: Catalog) -> int:
    rows = [
        {"code": r.code, "zh": r.name_zh, "en": r.name_en, "category": r.catalog_category,
         "polarity": r.polarity, "publicity": r.is_publicity, "prefix": r.field_prefix}
        for r in catalog.record_types
    ]
    conn.execute(sa.text("""
        INSERT INTO dw.dim_record_type
               (record_type_code, name_zh, name_en, catalog_category, polarity, is_publicity, field_prefix)
        VALUES (:code, :zh, :en, :category, :polarity, :publicity, :prefix)
        ON CONFLICT (record_type_code) DO UPDATE
           SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,
               catalog_category = EXCLUDED.catalog_category, polarity = EXCLUDED.polarity,
               is_publicity = EXCLUDED.is_publicity, field_prefix = EXCLUDED.field_prefix, updated_at = now()
         WHERE (dw.dim_record_type.name_zh, dw.dim_record_type.name_en, dw.dim_record_type.catalog_category,
                dw.dim_record_type.polarity, dw.dim_record_type.is_publicity, dw.dim_record_type.field_prefix)
               IS DISTINCT FROM (EXCLUDED.name_zh, EXCLUDED.name_en, EXCLUDED.catalog_category,
                                 EXCLUDED.polarity, EXCLUDED.is_publicity, EXCLUDED.field_prefix)
    """), rows)
    return len(rows)


def _upsert_dates(conn: Connection) -> int:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    days = calendar()
    for day in days:
        writer.writerow([
            int(day.date.strftime("%Y%m%d")), day.date.isoformat(), day.is_holiday, day.holiday_name or "",
            day.is_workday, day.is_workday_estimated, day.workday_number,
        ])
    buffer.seek(0)
    conn.execute(sa.text("""
        CREATE TEMP TABLE calendar_in (
            date_key integer, date date, is_holiday boolean, holiday_name text,
            is_workday boolean, is_workday_estimated boolean, workday_number integer
        ) ON COMMIT DROP
    """))
    cursor = conn.connection.driver_connection.cursor()
    cursor.copy_expert("COPY calendar_in FROM STDIN WITH (FORMAT csv)", buffer)
    conn.execute(sa.text("""
        INSERT INTO dw.dim_date (date_key, date, year, quarter, month, day_of_month, iso_day_of_week, year_month,
                                 is_weekend, is_holiday, holiday_name, is_workday, is_workday_estimated,
                                 workday_number)
        SELECT date_key, date, extract(year FROM date), extract(quarter FROM date), extract(month FROM date),
               extract(day FROM date), extract(isodow FROM date), to_char(date, 'YYYY-MM'),
               extract(isodow FROM date) IN (6, 7), is_holiday, nullif(holiday_name, ''), is_workday,
               is_workday_estimated, workday_number
          FROM calendar_in
        ON CONFLICT (date_key) DO UPDATE
           SET is_holiday = EXCLUDED.is_holiday, holiday_name = EXCLUDED.holiday_name,
               is_workday = EXCLUDED.is_workday, is_workday_estimated = EXCLUDED.is_workday_estimated,
               workday_number = EXCLUDED.workday_number
         WHERE (dw.dim_date.is_holiday, dw.dim_date.holiday_name, dw.dim_date.is_workday,
                dw.dim_date.is_workday_estimated, dw.dim_date.workday_number)
               IS DISTINCT FROM (EXCLUDED.is_holiday, EXCLUDED.holiday_name, EXCLUDED.is_workday,
                                 EXCLUDED.is_workday_estimated, EXCLUDED.workday_number)
    """))
    return len(days)


def _sync_uscc_allow_list(conn: Connection, catalog: Catalog) -> None:
    """The table mirrors the catalog file: reviewed codes in, removed codes out."""
    codes = [{"code": a.code, "name": a.name_zh, "by": a.reviewed_by, "on": a.reviewed_on, "reason": a.reason}
             for a in catalog.uscc_allow_list]
    conn.execute(sa.text("DELETE FROM dw.uscc_allow_list WHERE code <> ALL(:codes)"),
                 {"codes": [c["code"] for c in codes]})
    if codes:
        conn.execute(sa.text("""
            INSERT INTO dw.uscc_allow_list (code, name_zh, reviewed_by, reviewed_on, reason)
            VALUES (:code, :name, :by, :on, :reason)
            ON CONFLICT (code) DO UPDATE
               SET name_zh = EXCLUDED.name_zh, reviewed_by = EXCLUDED.reviewed_by,
                   reviewed_on = EXCLUDED.reviewed_on, reason = EXCLUDED.reason, updated_at = now()
        """), codes)


def seed_reference_data(engine: Engine, catalog: Catalog) -> SeedCounts:
    """Bring dimensions and staging tables in line with catalog and calendar (one transaction)."""
    with engine.begin() as conn:
        counts = SeedCounts(
            departments=_upsert_departments(conn, catalog),
            record_types=_upsert_record_types(conn, catalog),
            dates=_upsert_dates(conn),
        )
        _sync_uscc_allow_list(conn, catalog)
        ensure_staging_tables(conn, catalog)
        ensure_clean_tables(conn, catalog)
        return counts


def prepare_warehouse(engine: Engine, catalog: Catalog) -> SeedCounts:
    """Everything `creditwh init` does: migrations, then dimensions, staging tables and the measures list."""
    from dataclasses import replace

    from etl.check import seed_measures
    from etl.migrate import migrate

    applied = migrate(engine)
    counts = seed_reference_data(engine, catalog)
    return replace(counts, measures=seed_measures(engine), migrations_applied=tuple(applied))
