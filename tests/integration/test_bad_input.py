"""Hostile and broken sources: each ends in a quarantine row or a held/failed batch with a readable reason.

Never a crash, never a silent drop: the accounting identity holds for every loaded batch, and a
batch that cannot be loaded loads nothing.
"""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from etl.catalog import catalog
from etl.extract.base import ExtractedSource
from etl.feedback import write_feedback
from etl.ingest import BatchOutcome, process_batch
from etl.land import land
from etl.migrate import migrate
from etl.reference import seed_reference_data
from etl.sqltext import fact_change_reason

pytestmark = pytest.mark.integration

# Standard Chinese headers of a health penalty file, and one valid row to vary.
PENALTY_HEADERS = [
    "行政相对人名称", "行政相对人类别", "统一社会信用代码", "法定代表人", "行政处罚决定书文号", "违法行为类型",
    "违法事实", "处罚依据", "处罚类别", "处罚内容", "罚款金额（万元）", "处罚决定日期", "处罚有效期", "处罚机关",
    "处罚机关统一社会信用代码", "数据来源单位", "数据来源单位统一社会信用代码",
]


def penalty_row(**overrides: str) -> list[str]:
    health = catalog().department_by_code["health"]
    row = {
        "行政相对人名称": "示范县康宁大药房有限公司", "行政相对人类别": "法人及非法人组织",
        "统一社会信用代码": "914403001922038216", "法定代表人": "张伟",
        "行政处罚决定书文号": f"示卫罚〔2025〕{uuid.uuid4().int % 10**8}号", "违法行为类型": "药品管理",
        "违法事实": "销售过期药品", "处罚依据": "《药品管理法》第一百一十七条", "处罚类别": "罚款;没收违法所得",
        "处罚内容": "罚款二千元", "罚款金额（万元）": "0.2", "处罚决定日期": "2025-06-03", "处罚有效期": "2026-06-03",
        "处罚机关": health.name_zh, "处罚机关统一社会信用代码": health.agency_uscc, "数据来源单位": health.name_zh,
        "数据来源单位统一社会信用代码": health.agency_uscc,
    }
    row.update(overrides)
    return [row[h] for h in PENALTY_HEADERS]


def write_csv(path: Path, rows: list[list[str]], headers: list[str] = PENALTY_HEADERS,
              encoding: str = "utf-8") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def run(warehouse, path: Path, fmt: str = "csv") -> BatchOutcome:
    cat = catalog()
    health = cat.department_by_code["health"]
    feed = next(f for f in health.feeds if f.record_type == "penalty")
    source = ExtractedSource(source_name=path.name, path=path, format=fmt, encoding=None, watermark_kind="file",
                             watermark_to=path.name)
    outcome = process_batch(warehouse, cat, land(warehouse, health, feed, source))
    if outcome.status == "loaded":
        assert outcome.rows_in == outcome.rows_loaded + outcome.rows_unchanged + outcome.rows_quarantined
    return outcome


def findings(warehouse, batch_id: int) -> list[tuple]:
    with warehouse.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT row_no, field, rule FROM audit.quarantine WHERE batch_id = :b ORDER BY row_no, field, rule"),
            {"b": batch_id})]


def test_gb18030_file_is_detected_and_chinese_survives(warehouse, tmp_path):
    name = "示范县𠀾记药房（个体）"
    outcome = run(warehouse, write_csv(tmp_path / "gb.csv", [penalty_row(行政相对人名称=name)], encoding="gb18030"))
    assert (outcome.status, outcome.rows_loaded) == ("loaded", 1)
    with warehouse.connect() as conn:
        assert conn.scalar(sa.text("SELECT attributes->>'CF_XDR_MC' FROM dw.fact_credit_record WHERE batch_id = :b"),
                           {"b": outcome.batch_id}) == name


def test_mixed_encoding_rejects_only_the_bad_rows(warehouse, tmp_path):
    good = write_csv(tmp_path / "mixed.csv", [penalty_row(), penalty_row()])
    bad_line = ",".join(penalty_row(行政相对人名称="示范县国标编码公司")).encode("gb18030") + b"\r\n"
    good.write_bytes(good.read_bytes() + bad_line)
    outcome = run(warehouse, good)
    assert (outcome.rows_in, outcome.rows_loaded, outcome.rows_quarantined) == (3, 2, 1)
    assert findings(warehouse, outcome.batch_id) == [(3, "*", "parse")]


def test_embedded_newline_is_one_record_and_unbalanced_quote_costs_one_row(warehouse, tmp_path):
    path = write_csv(tmp_path / "quotes.csv", [penalty_row(违法事实="第一行\n第二行"), penalty_row()])
    text = path.read_text(encoding="utf-8")
    broken = ",".join(penalty_row()).replace("张伟", '"张伟', 1)
    path.write_text(text + broken + "\r\n" + ",".join(penalty_row()) + "\r\n", encoding="utf-8")
    outcome = run(warehouse, path)
    assert (outcome.rows_in, outcome.rows_loaded, outcome.rows_quarantined) == (4, 3, 1)
    assert findings(warehouse, outcome.batch_id) == [(3, "*", "parse")]


def test_headers_of_another_record_type_hold_the_batch(warehouse, tmp_path):
    licence_headers = ["行政相对人名称", "行政相对人类别", "许可决定文书号", "许可类别", "许可决定日期"]
    row = ["甲公司", "法人及非法人组织", "许1", "普通", "2025-01-02"]
    outcome = run(warehouse, write_csv(tmp_path / "licence.csv", [row], headers=licence_headers))
    assert outcome.status == "held"
    assert "许可决定文书号" in outcome.reason and "headers unknown" in outcome.reason
    with warehouse.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM dw.fact_credit_record WHERE batch_id = :b"),
                           {"b": outcome.batch_id}) == 0


def test_truncated_xlsx_fails_with_a_reason(warehouse, tmp_path):
    workbook = Workbook()
    workbook.active.append(PENALTY_HEADERS)
    workbook.active.append(penalty_row())
    whole = tmp_path / "whole.xlsx"
    workbook.save(whole)
    truncated = tmp_path / "truncated.xlsx"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    outcome = run(warehouse, truncated, fmt="xlsx")
    assert outcome.status == "failed" and "Excel" in outcome.reason and "truncated" in outcome.reason


def test_empty_file_is_held_not_loaded(warehouse, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    outcome = run(warehouse, empty)
    assert outcome.status == "held" and "empty" in outcome.reason


def test_huge_field_injection_strings_and_nul_bytes(warehouse, tmp_path):
    injection = "示范县'); DROP TABLE dw.fact_credit_record; --"
    rows = [penalty_row(违法事实="很长" * 50_000), penalty_row(行政相对人名称=injection),
            penalty_row(违法事实="含\x00空字符")]
    outcome = run(warehouse, write_csv(tmp_path / "hostile.csv", rows))
    assert (outcome.rows_in, outcome.rows_loaded, outcome.rows_quarantined) == (3, 1, 2)
    assert findings(warehouse, outcome.batch_id) == [(1, "CF_SY", "max_length"), (3, "*", "parse")]
    with warehouse.connect() as conn:
        assert conn.scalar(sa.text("SELECT attributes->>'CF_XDR_MC' FROM dw.fact_credit_record WHERE batch_id = :b"),
                           {"b": outcome.batch_id}) == injection


def test_codes_dates_and_amounts_normalised_or_rejected(warehouse, tmp_path):
    rows = [
        penalty_row(统一社会信用代码="　９１４４０３００７０８４６１１３６ｔ "),  # full-width, lower case, padded: fine
        penalty_row(处罚决定日期="2025年6月3日"),
        penalty_row(处罚决定日期="45811"),  # an Excel serial
        penalty_row(处罚决定日期="2023-02-30"),
        penalty_row(**{"罚款金额（万元）": "-0.5"}),
        penalty_row(统一社会信用代码="914403001922038217"),
        penalty_row(处罚决定日期="1748880000000"),  # epoch milliseconds, as platform APIs export a Date
    ]
    outcome = run(warehouse, write_csv(tmp_path / "variants.csv", rows))
    assert findings(warehouse, outcome.batch_id) == [
        (4, "CF_JDRQ", "date_format"), (5, "CF_NR_FK", "amount"), (6, "CF_XDR_SHXYM", "uscc_checksum")]
    with warehouse.connect() as conn:
        loaded = conn.execute(sa.text("""
            SELECT f.source_row_no, s.subject_code, f.decision_date_key FROM dw.fact_credit_record f
              JOIN dw.dim_subject s USING (subject_key) WHERE f.batch_id = :b ORDER BY 1"""),
            {"b": outcome.batch_id}).all()
    assert [tuple(r) for r in loaded] == [(1, "91440300708461136T", 20250603), (2, "914403001922038216", 20250603),
                                          (3, "914403001922038216", 20250603),
                                          (7, "914403001922038216", 20250603)]


def test_feedback_workbook_masks_ids_and_never_holds_formulas(warehouse, tmp_path):
    rows = [penalty_row(行政相对人类别="自然人", 统一社会信用代码="", 法定代表人="", 处罚类别="=cmd|' /C calc'!A0"),
            penalty_row(行政相对人名称="=HYPERLINK(\"http://evil\")", 处罚决定日期="+1-2")]
    headers = [*PENALTY_HEADERS, "证件类型", "证件号码"]
    rows[0] += ["身份证", "410523199001011238"]
    rows[1] += ["", ""]
    outcome = run(warehouse, write_csv(tmp_path / "formulas.csv", rows, headers=headers))
    path = write_feedback(warehouse, catalog(), outcome.batch_id)
    cells = [c for sheet in load_workbook(path) for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not any(c.data_type == "f" for c in cells)
    texts = " ".join(str(c.value) for c in cells)
    assert "=cmd|' /C calc'!A0" in texts and "+1-2" in texts
    assert "410523199001011238" not in texts


def test_correction_keeps_history_and_revocation_changes_status(warehouse, tmp_path):
    number = f"示卫罚〔2025〕{uuid.uuid4().int % 10**8}号"
    first = run(warehouse, write_csv(tmp_path / "v1.csv", [penalty_row(行政处罚决定书文号=number)]))
    changed = penalty_row(行政处罚决定书文号=number, 处罚内容="罚款三千元", **{"罚款金额（万元）": "0.3"})
    corrected = run(warehouse, write_csv(tmp_path / "v2.csv", [changed]))
    same_again = run(warehouse, write_csv(tmp_path / "v3.csv", [changed, penalty_row()]))
    revoked = run(warehouse, write_csv(tmp_path / "v4.csv", [[*changed, "撤销"]],
                                       headers=[*PENALTY_HEADERS, "当前状态"]))
    assert (first.rows_loaded, corrected.rows_loaded) == (1, 1)
    assert (same_again.rows_loaded, same_again.rows_unchanged) == (1, 1)
    assert revoked.rows_loaded == 1
    with warehouse.connect() as conn:
        fact = conn.execute(sa.text("""
            SELECT f.status, f.attributes->>'CF_NR' AS content, count(h.*) AS versions
              FROM dw.fact_credit_record f LEFT JOIN dw.fact_credit_record_history h USING (record_key)
             WHERE f.document_number = :n GROUP BY f.record_key"""), {"n": number}).one()
    assert (fact.status, fact.content, fact.versions) == ("revoked", "罚款三千元", 2)
    with warehouse.connect() as conn:
        versions = conn.execute(sa.text("""
            SELECT h.status, h.attributes->>'CF_NR' AS content, h.change_reason, h.batch_id
              FROM dw.fact_credit_record_history h JOIN dw.fact_credit_record f USING (record_key)
             WHERE f.document_number = :n ORDER BY h.history_key"""), {"n": number}).all()
    # each superseded version as it was, from the batch that wrote it; the identical resend left none
    assert [(v.status, v.change_reason, v.batch_id) for v in versions] == [
        ("active", "correction", first.batch_id), ("active", "correction", corrected.batch_id)]
    assert versions[0].content != "罚款三千元" and versions[1].content == "罚款三千元"


def test_every_change_of_a_fact_keeps_its_prior_version_with_its_writers_reason(empty_database, tmp_path):
    """The facts' UPDATE trigger keeps what each change replaces, whoever changes it: a reason a writer states
    explains its own statements only (an enclosing reason is back after a nested one); a change nobody explains
    is recorded as unstated, not as a department's correction; rewriting a fact as it was is no new version."""
    migrate(empty_database)
    seed_reference_data(empty_database, catalog())
    number = f"示卫罚〔2025〕{uuid.uuid4().int % 10**8}号"
    run(empty_database, write_csv(tmp_path / "v1.csv", [penalty_row(行政处罚决定书文号=number)]))

    def set_status(conn, status: str, extra: str | None = None) -> None:
        conn.execute(sa.text("UPDATE dw.fact_credit_record SET status = :s, updated_at = now(), "
                             "extra = coalesce(CAST(:e AS jsonb), extra) WHERE document_number = :n"),
                     {"s": status, "e": extra, "n": number})

    with empty_database.begin() as conn:
        with fact_change_reason(conn, "repair"):
            set_status(conn, "repaired")
            with fact_change_reason(conn, "expired"):
                set_status(conn, "expired")
            set_status(conn, "repaired")
        set_status(conn, "active", '{"备注": "x"}')
        set_status(conn, "active")  # as it is now: no version
    with empty_database.connect() as conn:
        versions = conn.execute(sa.text("""
            SELECT h.status, h.extra, h.change_reason FROM dw.fact_credit_record_history h
              JOIN dw.fact_credit_record f USING (record_key) WHERE f.document_number = :n ORDER BY h.history_key"""),
            {"n": number}).all()
    assert [tuple(v) for v in versions] == [("active", None, "repair"), ("repaired", None, "expired"),
                                            ("expired", None, "repair"), ("repaired", None, "unstated")]


def test_a_change_reason_needs_a_transaction(empty_database):
    with empty_database.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, \
            pytest.raises(RuntimeError, match="needs a transaction"), fact_change_reason(conn, "repair"):
        pass
