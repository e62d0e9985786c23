"""Mart benchmark: typical BI queries on every mart view over a warehouse of about a million facts.

    python bench/mart_bench.py --facts 1000000 --runs 5

Builds a fresh database on the warehouse server (WAREHOUSE_URL or the embedded one), migrates and seeds
it, then fills it with bulk SQL straight into the star schema (generate_series over the dimensions; the
ingest has its own benchmark): subjects with SCD2 history, one batch per department and day, facts of
every record type over five years with their standard fields and publicity windows, the outbox items
of the 双公示 facts with platform receipts, and monthly indicator values. Each query then runs `--runs`
times as role bi_reader (SET ROLE, so through the views' grants and security barriers) after one
untimed warm-up run; the report gives median, min and max in milliseconds against the 200 ms target.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from etl.catalog import catalog  # noqa: E402
from etl.migrate import migrate  # noqa: E402
from etl.reference import seed_reference_data  # noqa: E402
from etl.sqltext import execute_script  # noqa: E402
from etl.warehouse import get_engine, redact  # noqa: E402

# A typical BI query (one department and month, one subject) and an overview of a whole view, at 1M facts.
TARGET_MS = 50
OVERVIEW_TARGET_MS = 1000
HISTORY_DAYS = 5 * 365

# One statement per step; {facts}, {subjects}, {days} are filled in. Record-type shares follow the catalog.
BUILD_STEPS: list[tuple[str, str]] = [
    ("subjects", """
        SELECT setseed(0.42);
        INSERT INTO dw.dim_subject (subject_code, code_kind, subject_type, name, legal_representative, id_type,
                                    attributes_hash, valid_from)
        SELECT CASE k.kind WHEN 'org' THEN '91410523' || lpad(g::text, 9, '0') || 'X'
                           WHEN 'ind' THEN '92410523' || lpad(g::text, 9, '0') || 'Y'
                           ELSE '410523' || to_char(DATE '1950-01-01' + (g % 20000), 'YYYYMMDD')
                                || lpad((g / 20000)::text, 3, '0') || '1' END,
               CASE k.kind WHEN 'person' THEN 'id_number' ELSE 'uscc' END,
               CASE k.kind WHEN 'org' THEN '法人及非法人组织' WHEN 'ind' THEN '个体工商户' ELSE '自然人' END,
               CASE k.kind WHEN 'person' THEN '张' || g ELSE '示范县第' || g || '号商贸有限公司' END,
               CASE k.kind WHEN 'person' THEN NULL ELSE '李' || g END,
               CASE k.kind WHEN 'person' THEN '身份证' END,
               repeat('0', 64), now() - interval '400 days'
          FROM generate_series(1, {subjects}) AS g
         CROSS JOIN LATERAL (SELECT CASE WHEN g % 100 < 70 THEN 'org' WHEN g % 100 < 88 THEN 'ind'
                                         ELSE 'person' END AS kind) AS k;
        -- Every 20th subject changed its name once: an older, closed version the facts may point at.
        INSERT INTO dw.dim_subject (subject_code, code_kind, subject_type, name, legal_representative, id_type,
                                    attributes_hash, valid_from, valid_to, is_current)
        SELECT subject_code, code_kind, subject_type, name || '（曾用名）', legal_representative, id_type,
               repeat('1', 64), now() - interval '1500 days', now() - interval '400 days', false
          FROM dw.dim_subject WHERE subject_key % 20 = 0;
    """),
    ("batches", """
        INSERT INTO audit.batch (batch_id, department_code, feed_code, record_type_code, source_name, sha256,
                                 byte_count, rows_in, rows_loaded, rows_unchanged, rows_quarantined, status,
                                 status_reason, created_at, updated_at)
        OVERRIDING SYSTEM VALUE
        SELECT day_no * 100 + d.department_key, d.department_code, 'bench', 'penalty', 'bench_' || day_no,
               encode(sha256(convert_to(d.department_code || day_no, 'UTF8')), 'hex'), 1000,
               l + u + q, l, u, q,
               CASE WHEN (day_no + d.department_key) % 97 = 0 THEN 'held' ELSE 'loaded' END,
               CASE WHEN (day_no + d.department_key) % 97 = 0 THEN '整批暂扣 / held' END,
               ((current_date - {days} + day_no)::timestamp + time '10:00') AT TIME ZONE 'Asia/Shanghai',
               ((current_date - {days} + day_no)::timestamp + time '10:05') AT TIME ZONE 'Asia/Shanghai'
          FROM generate_series(0, {days}) AS day_no
         CROSS JOIN dw.dim_department AS d
         CROSS JOIN LATERAL (SELECT 20 + (day_no * 7 + d.department_key * 13) % 40 AS l,
                                    (day_no + d.department_key) % 5 AS u,
                                    (day_no * 3 + d.department_key) % 4 AS q) AS n;
    """),
    ("facts", """
        SELECT setseed(0.43);
        CREATE TEMP TABLE bench_types AS
        SELECT record_type_key, record_type_code,
               sum(share) OVER (ORDER BY record_type_code) - share AS lo,
               sum(share) OVER (ORDER BY record_type_code) AS hi
          FROM dw.dim_record_type
          JOIN (VALUES ('license', 0.15), ('penalty', 0.08), ('commitment', 0.40), ('registration', 0.22),
                       ('red_list', 0.04), ('serious_dishonesty', 0.02), ('dishonest_debtor', 0.03),
                       ('abnormal_operation', 0.03), ('credit_rating', 0.03)) AS s(code, share)
            ON s.code = record_type_code;
        CREATE TEMP TABLE bench_dept AS SELECT department_key, department_code, name_zh,
               row_number() OVER (ORDER BY department_key) - 1 AS n FROM dw.dim_department;
        INSERT INTO dw.fact_credit_record
               (record_uid, subject_key, record_type_key, department_key, decision_date_key, document_number, status,
                publicity_tier, publicity_start, publicity_end, publicity_due, fine_amount, attributes, content_hash,
                batch_id, source_row_no, first_loaded_at, updated_at)
        SELECT md5('bench' || gs.g)::uuid, x.subject_key, t.record_type_key, d.department_key,
               to_char(x.decided, 'YYYYMMDD')::integer, x.doc, x.status,
               CASE WHEN t.record_type_code = 'penalty' THEN x.tier END,
               CASE WHEN t.record_type_code = 'license' OR (t.record_type_code = 'penalty' AND x.tier <> 'minor')
                    THEN x.decided END,
               CASE WHEN t.record_type_code = 'license' THEN y.valid_to
                    WHEN t.record_type_code = 'penalty' AND x.tier <> 'minor'
                    THEN (x.decided + CASE x.tier WHEN 'serious' THEN interval '36 months'
                                                  ELSE interval '12 months' END)::date END,
               CASE WHEN t.record_type_code = 'license' OR (t.record_type_code = 'penalty' AND x.tier <> 'minor')
                    THEN x.decided + 9 END,
               CASE WHEN t.record_type_code = 'penalty' THEN x.fine END,
               CASE t.record_type_code
                   WHEN 'penalty' THEN jsonb_build_object(
                       'CF_XDR_MC', s.name, 'CF_XDR_LB', s.subject_type,
                       'CF_XDR_SHXYM', CASE WHEN s.code_kind = 'uscc' THEN s.subject_code END,
                       'CF_FRDB', s.legal_representative,
                       'CF_XDR_ZJLX', s.id_type,
                       'CF_XDR_ZJHM', CASE WHEN s.code_kind = 'id_number' THEN s.subject_code END,
                       'CF_WSH', x.doc, 'CF_WFXW', '未按规定办理', 'CF_SY', s.name || '经营中存在违法行为，经查属实。',
                       'CF_YJ', '《中华人民共和国行政处罚法》第二十八条', 'CF_CFLB', x.types,
                       'CF_NR', '罚款' || x.fine || '万元', 'CF_NR_FK', x.fine, 'CF_JDRQ', x.decided,
                       'CF_YXQ', x.decided + 365, 'CF_CFJG', d.name_zh, 'CF_CFJGDM', '11410523MB0000000X',
                       'CF_SJLY', d.name_zh, 'CF_SJLYDM', '11410523MB0000000X')
                   WHEN 'license' THEN jsonb_build_object(
                       'XK_XDR_MC', s.name, 'XK_XDR_LB', s.subject_type,
                       'XK_XDR_SHXYM', CASE WHEN s.code_kind = 'uscc' THEN s.subject_code END,
                       'XK_FRDB', s.legal_representative,
                       'XK_XDR_ZJLX', s.id_type,
                       'XK_XDR_ZJHM', CASE WHEN s.code_kind = 'id_number' THEN s.subject_code END,
                       'XK_XKWS', '准予行政许可决定书', 'XK_WSH', x.doc, 'XK_XKLB', '普通', 'XK_XKZS', '经营许可证',
                       'XK_XKBH', 'XK' || gs.g, 'XK_NR', '准予从事相关经营活动', 'XK_JDRQ', x.decided,
                       'XK_YXQZ', x.decided, 'XK_YXQZI', y.valid_to, 'XK_XKJG', d.name_zh,
                       'XK_XKJGDM', '11410523MB0000000X', 'XK_ZT', '有效', 'XK_LYDW', d.name_zh,
                       'XK_LYDWDM', '11410523MB0000000X')
                   WHEN 'red_list' THEN jsonb_build_object(
                       'RY_RYMC', '诚实守信先进单位', 'RY_RYJB', '县级', 'RY_WSH', x.doc, 'RY_RDRQ', x.decided,
                       'RY_YXQZ', CASE WHEN x.r2 < 0.6 THEN x.decided + 730 END, 'RY_RDJG', d.name_zh,
                       'RY_RDJGDM', '11410523MB0000000X')
                   WHEN 'serious_dishonesty' THEN jsonb_build_object(
                       'SX_MDLX', '其他', 'SX_LRYY', s.name || '被认定为严重失信主体。', 'SX_WSH', x.doc,
                       'SX_LRRQ', x.decided, 'SX_YCRQ', CASE WHEN x.r2 < 0.4 AND x.decided + 700 <= current_date
                                                             THEN x.decided + 700 END,
                       'SX_RDJG', d.name_zh, 'SX_RDJGDM', '11410523MB0000000X')
                   WHEN 'dishonest_debtor' THEN jsonb_build_object(
                       'ZX_AH', x.doc, 'ZX_ZXFY', d.name_zh, 'ZX_LARQ', x.decided - 60, 'ZX_FBRQ', x.decided,
                       'ZX_SXQX', '有履行能力而拒不履行生效法律文书确定义务', 'ZX_LXQK', '全部未履行')
                   WHEN 'abnormal_operation' THEN jsonb_build_object(
                       'YC_LRYY', '未按规定公示年度报告', 'YC_WSH', x.doc, 'YC_LRRQ', x.decided,
                       'YC_YCRQ', CASE WHEN x.r2 < 0.35 AND x.decided + 300 <= current_date THEN x.decided + 300 END,
                       'YC_ZCJG', d.name_zh, 'YC_ZCJGDM', '11410523MB0000000X')
                   WHEN 'credit_rating' THEN jsonb_build_object(
                       'PJ_PJLY', '纳税信用', 'PJ_PJDJ', (ARRAY['A', 'B', 'M', 'C', 'D'])[1 + (gs.g % 5)],
                       'PJ_PJND', extract(year FROM x.decided)::text, 'PJ_WSH', x.doc, 'PJ_PJRQ', x.decided,
                       'PJ_PJJG', d.name_zh, 'PJ_PJJGDM', '11410523MB0000000X')
                   WHEN 'commitment' THEN jsonb_build_object(
                       'CN_CNLX', '主动型', 'CN_CNSX', '依法诚信经营', 'CN_CNNR', '本单位承诺依法诚信经营。',
                       'CN_WSH', x.doc, 'CN_CNRQ', x.decided, 'CN_SLBM', d.name_zh,
                       'CN_SLBMDM', '11410523MB0000000X', 'CN_LYQK', '履约中')
                   ELSE jsonb_build_object(
                       'DJ_DJBH', x.doc, 'DJ_QYLX', '有限责任公司', 'DJ_CLRQ', x.decided,
                       'DJ_ZS', '示范县人民路' || gs.g || '号',
                       'DJ_DJJG', d.name_zh, 'DJ_DJJGDM', '11410523MB0000000X', 'DJ_DJZT', '存续')
               END,
               md5(gs.g::text) || md5(gs.g::text), (y.loaded_day - (current_date - {days})) * 100 + d.department_key,
               gs.g, y.loaded_at, y.loaded_at
          FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5
                  FROM generate_series(1, {facts}) AS g) AS gs
          JOIN bench_types AS t ON gs.r1 >= t.lo AND gs.r1 < t.hi
          JOIN bench_dept AS d ON d.n = gs.g % 26
         CROSS JOIN LATERAL (
               SELECT current_date - (gs.r2 * {days})::integer AS decided,
                      1 + (gs.r3 * (SELECT max(subject_key) - 1 FROM dw.dim_subject))::bigint AS subject_key,
                      'BENCH-' || gs.g AS doc,
                      CASE WHEN gs.r4 < 0.90 THEN 'active' WHEN gs.r4 < 0.94 THEN 'expired'
                           WHEN gs.r4 < 0.97 THEN 'revoked' ELSE 'repaired' END AS status,
                      CASE WHEN gs.r5 < 0.1 THEN 'minor' WHEN gs.r5 < 0.2 THEN 'serious' ELSE 'ordinary' END AS tier,
                      CASE WHEN gs.r5 < 0.1 THEN '警告' ELSE '罚款' END AS types,
                      round((0.05 + gs.r4 * 5)::numeric, 2) AS fine,
                      gs.r5 AS r2) AS x
         CROSS JOIN LATERAL (
               SELECT CASE WHEN gs.r4 < 0.2 THEN DATE '2099-12-31'
                           ELSE x.decided + (365 * (1 + (gs.g % 5))) END AS valid_to,
                      least(x.decided + (gs.g % 13), current_date) AS loaded_day,
                      (least(x.decided + (gs.g % 13), current_date)::timestamp + time '10:01')
                          AT TIME ZONE 'Asia/Shanghai' AS loaded_at) AS y
          JOIN dw.dim_subject AS s ON s.subject_key = x.subject_key;
    """),
    ("outbox", """
        INSERT INTO outbox.publicity_item
               (platform, record_key, record_uid, department_code, record_type_code, action, payload, content_hash,
                cause, idempotency_key, decision_date, due_date, status, attempts, sent_at, accepted_at, receipt_id)
        SELECT p.platform, f.record_key, f.record_uid, d.department_code, r.record_type_code, 'upsert', '{{}}'::jsonb,
               f.content_hash, 'batch:' || f.batch_id, md5(p.platform || f.record_key),
               to_date(f.decision_date_key::text, 'YYYYMMDD'), f.publicity_due,
               CASE WHEN f.record_key % 10 = 0 THEN 'pending' ELSE 'accepted' END, 1,
               f.first_loaded_at + interval '8 hours',
               CASE WHEN f.record_key % 10 <> 0 THEN f.first_loaded_at + (f.record_key % 7) * interval '1 day' END,
               CASE WHEN f.record_key % 10 <> 0 THEN 'R' || f.record_key END
          FROM dw.fact_credit_record AS f
          JOIN dw.dim_department AS d USING (department_key)
          JOIN dw.dim_record_type AS r USING (record_type_key)
         CROSS JOIN (VALUES ('provincial'), ('national')) AS p(platform)
         WHERE f.publicity_due IS NOT NULL;
    """),
    ("indicators", """
        INSERT INTO dw.dim_indicator (edition, indicator_code, number, parent_code, level, sort_order, name_zh, name_en,
                                      points, is_leaf, is_computable)
        SELECT '2020', 'group_' || a, a::text, NULL, 1, a * 100, '一级指标' || a, 'Group ' || a, 25, false, false
          FROM generate_series(1, 4) AS a;
        INSERT INTO dw.dim_indicator (edition, indicator_code, number, parent_code, level, sort_order, name_zh, name_en,
                                      points, is_leaf, is_computable, unit, direction, scoring_rule, target, floor,
                                      when_empty, measured_by)
        SELECT '2020', 'leaf_' || a || '_' || b, a || '.' || b, 'group_' || a, 2, a * 100 + b, '指标' || a || '.' || b,
               'Indicator ' || a || '.' || b, 5, true, true, 'ratio', 'higher', 'linear', 1, 0, 'full', 'warehouse'
          FROM generate_series(1, 4) AS a CROSS JOIN generate_series(1, 5) AS b;
        INSERT INTO dw.fact_indicator_value (edition, period, period_start, indicator_code, department_code, value,
                                             numerator, denominator, points_possible, points_awarded, source,
                                             is_closed_period)
        SELECT '2020', to_char(m, 'YYYY-MM'), m, i.indicator_code, coalesce(d.department_code, ''),
               0.5 + (i.sort_order % 7) / 20.0, 50, 100, 5, 2.5 + (i.sort_order % 7) / 4.0, 'measure',
               m < date_trunc('month', current_date)
          FROM generate_series(date_trunc('month', current_date) - interval '59 months',
                               date_trunc('month', current_date), interval '1 month') AS months(ts)
         CROSS JOIN LATERAL (SELECT ts::date AS m) AS mm
         CROSS JOIN dw.dim_indicator AS i
         CROSS JOIN (SELECT department_code FROM dw.dim_department UNION ALL SELECT NULL) AS d
         WHERE i.is_leaf;
    """),
]
# Statistics and the visibility map, as the nightly ANALYZE and autovacuum leave a loaded warehouse.
VACUUM_SQL = "VACUUM ANALYZE"



@dataclass(frozen=True)
class Query:
    view: str
    name: str
    sql: str
    targeted: bool = True  # a typical BI query (TARGET_MS), else an overview (OVERVIEW_TARGET_MS)


def queries(department: str, month_start: dt.date, subject_code: str, subject_name: str) -> list[Query]:
    month_end = (month_start + dt.timedelta(days=32)).replace(day=1)
    month = f"{month_start:%Y-%m}"
    d, a, b = f"'{department}'", f"DATE '{month_start}'", f"DATE '{month_end}'"
    return [
        Query("v_publicity_license", f"{department}, decisions in {month}",
              f"SELECT * FROM mart.v_publicity_license WHERE department_code = {d} "
              f"AND decision_date >= {a} AND decision_date < {b}"),
        Query("v_publicity_license", "count per department (whole view)",
              "SELECT department_code, count(*) FROM mart.v_publicity_license GROUP BY 1", targeted=False),
        Query("v_publicity_penalty", f"{department}, decisions in {month}",
              f"SELECT * FROM mart.v_publicity_penalty WHERE department_code = {d} AND decision_month = '{month}'"),
        Query("v_publicity_penalty", "fines per department (whole view)",
              "SELECT department_code, count(*), sum(fine_amount) FROM mart.v_publicity_penalty GROUP BY 1",
              targeted=False),
        Query("v_subject_profile", "one subject by USCC",
              f"SELECT * FROM mart.v_subject_profile WHERE subject_code = '{subject_code}'"),
        Query("v_subject_profile", "subjects by exact name",
              f"SELECT * FROM mart.v_subject_profile WHERE subject_name = '{subject_name}'"),
        Query("v_subject_profile", "name search (LIKE prefix)",
              f"SELECT * FROM mart.v_subject_profile WHERE subject_name LIKE '{subject_name[:-6]}%'"),
        Query("v_subject_profile", "first 100 rows (BI preview)", "SELECT * FROM mart.v_subject_profile LIMIT 100"),
        Query("v_subject_profile", "subjects on the red list now (whole view)",
              "SELECT count(*) FROM mart.v_subject_profile WHERE is_on_red_list", targeted=False),
        Query("v_department_submission", f"{department}, days of {month}",
              f"SELECT * FROM mart.v_department_submission WHERE department_code = {d} "
              f"AND submission_date >= {a} AND submission_date < {b}"),
        Query("v_department_submission", f"all departments, {month} totals",
              f"SELECT department_code, sum(rows_received), sum(rows_quarantined), sum(publicity_loaded_on_time) "
              f"FROM mart.v_department_submission WHERE submission_date >= {a} AND submission_date < {b} "
              f"GROUP BY 1"),
        Query("v_blacklist_current", f"{department}, listed in {month}",
              f"SELECT * FROM mart.v_blacklist_current WHERE department_code = {d} AND listed_month = '{month}'"),
        Query("v_blacklist_current", "is this subject listed? (by USCC)",
              f"SELECT * FROM mart.v_blacklist_current WHERE subject_code = '{subject_code}'"),
        Query("v_blacklist_current", "is this subject listed? (by exact name)",
              f"SELECT * FROM mart.v_blacklist_current WHERE subject_name = '{subject_name}'"),
        Query("v_blacklist_current", "name search (LIKE, whole view)",
              f"SELECT * FROM mart.v_blacklist_current WHERE subject_name LIKE '{subject_name[:-6]}%'",
              targeted=False),
        Query("v_blacklist_current", "count per list (whole view)",
              "SELECT list_type, count(*) FROM mart.v_blacklist_current GROUP BY 1", targeted=False),
        Query("v_redlist_current", f"{department}, awarded in {month}",
              f"SELECT * FROM mart.v_redlist_current WHERE department_code = {d} AND award_month = '{month}'"),
        Query("v_indicator_latest", f"{department}, all indicators",
              f"SELECT * FROM mart.v_indicator_latest WHERE department_code = {d}"),
        Query("v_indicator_latest", "city-wide, all indicators",
              "SELECT * FROM mart.v_indicator_latest WHERE department_code = ''"),
    ]


def fresh_database(admin_url: str) -> sa.Engine:
    name = f"bench_marts_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.create_engine(sa.make_url(admin_url).set(database=name))


def drop_database(admin_url: str, engine: sa.Engine) -> None:
    name = engine.url.database
    engine.dispose()
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def build(engine: sa.Engine, facts: int) -> dict[str, float]:
    """Migrate, seed and fill the warehouse; returns seconds per step."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    migrate(engine)
    seed_reference_data(engine, catalog())
    timings["migrate + seed"] = time.monotonic() - started
    params = {"facts": facts, "subjects": max(facts // 5, 100), "days": HISTORY_DAYS}
    for name, sql in BUILD_STEPS:
        started = time.monotonic()
        with engine.begin() as conn:
            execute_script(conn, "SET LOCAL work_mem = '256MB'")
            execute_script(conn, sql.format(**params))
        timings[name] = time.monotonic() - started
        print(f"  built {name} in {timings[name]:.1f} s", flush=True)
    # What the load keeps current after each batch: the stored subject profiles of the subjects it touched.
    started = time.monotonic()
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT dw.refresh_subject_profile()")
    timings["subject profiles"] = time.monotonic() - started
    started = time.monotonic()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(VACUUM_SQL)
    timings["vacuum analyze"] = time.monotonic() - started
    return timings


def sample_subject(engine: sa.Engine) -> tuple[str, str]:
    """A company with a blacklist entry, as an analyst would look one up."""
    with engine.connect() as conn:
        row = conn.execute(sa.text("""
            SELECT s.subject_code, c.name FROM dw.fact_credit_record f
              JOIN dw.dim_record_type r USING (record_type_key)
              JOIN dw.dim_subject s USING (subject_key)
              JOIN dw.dim_subject c ON c.subject_code = s.subject_code AND c.is_current
             WHERE r.record_type_code = 'serious_dishonesty' AND f.status = 'active' AND s.code_kind = 'uscc'
             ORDER BY f.record_key LIMIT 1""")).one()
    return row.subject_code, row.name


def time_queries(engine: sa.Engine, plan: list[Query], runs: int) -> list[tuple[Query, list[float], int]]:
    results = []
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        cursor.execute("SET ROLE bi_reader")
        for query in plan:
            cursor.execute(query.sql)
            rows = len(cursor.fetchall())  # warm-up, untimed
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                cursor.execute(query.sql)
                cursor.fetchall()
                samples.append((time.perf_counter() - started) * 1000)
            results.append((query, samples, rows))
            print(f"  {query.view}: {query.name}: median {statistics.median(samples):.1f} ms ({rows} rows)",
                  flush=True)
        cursor.close()
        conn.rollback()
    return results


def report(args: argparse.Namespace, server: str, counts: dict[str, int], timings: dict[str, float],
           results: list[tuple[Query, list[float], int]]) -> str:
    lines = [
        f"# Mart benchmark — {counts['facts']:,} facts, {args.runs} runs per query",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; server: {server} (PostgreSQL {counts['server_version']})",
        f"- command: `python bench/mart_bench.py --facts {args.facts} --runs {args.runs}`",
        f"- warehouse: {counts['facts']:,} facts, {counts['subjects']:,} subject versions, {counts['batches']:,} "
        f"batches, {counts['outbox']:,} outbox items, {counts['indicator_values']:,} indicator values; "
        f"built with bulk SQL in {sum(timings.values()):.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())})",
        f"- each query ran once untimed, then {args.runs} times, as role bi_reader (SET ROLE), rows fetched; "
        f"target: a typical BI query (one department and one month, or one subject) under {TARGET_MS} ms, an "
        f"overview of a whole view under {OVERVIEW_TARGET_MS} ms",
        "",
        "| view | query | rows | median ms | min ms | max ms | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for query, samples, rows in results:
        median = statistics.median(samples)
        target = TARGET_MS if query.targeted else OVERVIEW_TARGET_MS
        verdict = "ok" if median < target else "MISSED"
        lines.append(f"| {query.view} | {query.name} | {rows:,} | {median:.1f} | {min(samples):.1f} | "
                     f"{max(samples):.1f} | {verdict} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--department", default="market_regulation")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "marts.md")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database (its name is printed)")
    args = parser.parse_args()

    admin_url = get_engine().url.set(database="postgres").render_as_string(hide_password=False)
    engine = fresh_database(admin_url)
    print(f"benchmark database {engine.url.database}", flush=True)
    try:
        timings = build(engine, args.facts)
        with engine.connect() as conn:
            counts = {name: conn.scalar(sa.text(sql)) for name, sql in {
                "facts": "SELECT count(*) FROM dw.fact_credit_record",
                "subjects": "SELECT count(*) FROM dw.dim_subject",
                "batches": "SELECT count(*) FROM audit.batch",
                "outbox": "SELECT count(*) FROM outbox.publicity_item",
                "indicator_values": "SELECT count(*) FROM dw.fact_indicator_value",
                "server_version": "SELECT split_part(current_setting('server_version'), ' ', 1)",
            }.items()}
        subject_code, subject_name = sample_subject(engine)
        # A month some way back: its licences and penalties are still inside their publicity windows.
        today = dt.date.today()
        month_start = (today.replace(day=1) - dt.timedelta(days=150)).replace(day=1)
        results = time_queries(engine, queries(args.department, month_start, subject_code, subject_name), args.runs)
        url = engine.url
        text = report(args, f"{redact(url.render_as_string(hide_password=False)).split('@')[-1].split('/')[0]}",
                      counts, timings, results)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(text)
    finally:
        if args.keep:
            print(f"kept database {engine.url.database}")
            engine.dispose()
        else:
            drop_database(admin_url, engine)


if __name__ == "__main__":
    main()
