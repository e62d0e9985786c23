"""Great Expectations on a staged batch finds exactly what the quarantine finds, and writes Data Docs."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from etl.catalog import catalog
from etl.codes import id_check_char, is_valid_id_number, is_valid_uscc, org_code_check_char, uscc_check_char
from etl.validate import _materialise_clean, _quarantine_rows, gx_run
from etl.validate.data_docs import build_site
from etl.validate.gx_run import render_pending_pages, run_suite, suite_for

pytestmark = [
    pytest.mark.integration,
    # add_sql on purpose (see etl.validate.gx_run); pytest resets the module's own filter per test.
    pytest.mark.filterwarnings("ignore:You are using a generic SQLDatasource"),
]

AGENCY = "11410523051234018J"  # a valid USCC (the tax bureau's, from departments.yml)
SOURCE = "11410523051241592N"


def _uscc(prefix: str, org8: str) -> str:
    first17 = prefix + "410523" + org8 + org_code_check_char(org8)
    return first17 + uscc_check_char(first17)


COMPANY = _uscc("91", "MA12345P")
SOLE_TRADER = _uscc("92", "MA23456Q")
NOT_SOLE_TRADER = _uscc("93", "MA34567R")
ID_NUMBER = "11010519900307123" + id_check_char("11010519900307123")
BAD_ID_NUMBER = "110105199003071230" if not is_valid_id_number("110105199003071230") else "110105199003071231"

BASE = {
    "cf_xdr_mc": "某某科技有限公司", "cf_xdr_lb": "法人及非法人组织", "cf_xdr_shxym": COMPANY, "cf_frdb": "张三",
    "cf_wsh": None, "cf_wfxw": "未按规定申报", "cf_sy": "逾期申报", "cf_yj": "《税收征收管理法》第六十二条",
    "cf_cflb": "警告、罚款", "cf_nr": "罚款 500 元", "cf_nr_fk": "0.05", "cf_jdrq": "2024年3月1日",
    "cf_yxq": "2025-03-01", "cf_cfjg": "某县税务局", "cf_cfjgdm": AGENCY, "cf_sjly": "某县税务局", "cf_sjlydm": SOURCE,
}

# Row number -> changes to a valid row; the comment names what the quarantine should find.
ROWS: dict[int, dict] = {
    1: {"cf_wsh": "税罚〔2024〕1号"},  # valid
    2: {"cf_xdr_mc": "  "},  # required CF_XDR_MC
    3: {"cf_xdr_lb": "外星人"},  # allowed_values CF_XDR_LB
    4: {"cf_cflb": "罚款；砍头"},  # allowed_values CF_CFLB
    5: {"cf_nr_fk": "-5", "cf_nr_wfff": "abc"},  # amount CF_NR_FK, CF_NR_WFFF
    6: {"cf_jdrq": "2024年13月1日"},  # date_format CF_JDRQ (unreadable)
    7: {"cf_jdrq": "1999-05-01"},  # date_format CF_JDRQ (before 2000), same (field, rule) as row 6
    8: {"cf_jdrq": "2099-01-01", "cf_yxq": "2098-01-01"},  # date_future CF_JDRQ, date_order CF_YXQ
    9: {"cf_cfjgdm": AGENCY[:-1] + ("K" if AGENCY[-1] != "K" else "L")},  # uscc_checksum CF_CFJGDM
    10: {"cf_wsh": "税罚〔2024〕1号"},  # duplicate_in_batch of row 1
    11: {"cf_xdr_lb": "个体工商户", "cf_xdr_shxym": None},  # conditional_required CF_XDR_SHXYM
    12: {"cf_xdr_lb": "个体工商户", "cf_xdr_shxym": NOT_SOLE_TRADER},  # uscc_prefix CF_XDR_SHXYM
    13: {"cf_xdr_lb": "自然人", "cf_xdr_shxym": None, "cf_xdr_zjlx": "身份证", "cf_xdr_zjhm": BAD_ID_NUMBER},
    14: {"cf_wsh": "号" * 101},  # max_length CF_WSH
    15: {"cf_xdr_shxym": None, "cf_frdb": None},  # conditional_required CF_XDR_SHXYM and CF_FRDB
    16: {"cf_xdr_lb": "个体工商户", "cf_xdr_shxym": SOLE_TRADER},  # valid
    17: {"cf_xdr_lb": "自然人", "cf_xdr_shxym": None, "cf_xdr_zjlx": "身份证", "cf_xdr_zjhm": ID_NUMBER},  # valid
}


def _rows() -> list[dict]:
    rows = []
    for row_no, changes in ROWS.items():
        row = {**BASE, "cf_wsh": f"税罚〔2024〕{1000 + row_no}号", **changes}
        rows.append({"row_no": row_no, **row})
    return rows


def stage_penalty_batch(conn, rows: list[dict], source_name: str) -> int:
    """A penalty batch in audit.batch with `rows` in staging.penalty and its clean rows; returns its id."""
    batch_id = conn.scalar(sa.text("""
        INSERT INTO audit.batch (department_code, feed_code, record_type_code, source_name, sha256, byte_count)
        VALUES ('tax', 'penalty', 'penalty', :source_name, :sha, 1) RETURNING batch_id
    """), {"source_name": source_name, "sha": uuid.uuid4().hex + uuid.uuid4().hex})
    columns = sorted({k for row in rows for k in row})
    conn.execute(sa.text(
        f"INSERT INTO staging.penalty (batch_id, {', '.join(columns)}) "
        f"VALUES (:batch_id, {', '.join(':' + c for c in columns)})"),
        [{"batch_id": batch_id, **{c: row.get(c) for c in columns}} for row in rows])
    _materialise_clean(conn, catalog().record_type_by_code["penalty"], batch_id)
    return batch_id


def _remove_batch(warehouse, batch_id: int) -> None:
    with warehouse.begin() as conn:
        for table in ("audit.quarantine", "staging.penalty_clean", "staging.penalty", "audit.batch"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE batch_id = :b"), {"b": batch_id})


@pytest.fixture
def staged_batch(warehouse):
    """A penalty batch in audit.batch and staging.penalty (+ its clean rows); removed afterwards."""
    assert is_valid_uscc(COMPANY) and is_valid_uscc(SOLE_TRADER) and is_valid_uscc(NOT_SOLE_TRADER)
    assert is_valid_id_number(ID_NUMBER) and not is_valid_id_number(BAD_ID_NUMBER)
    with warehouse.begin() as conn:
        batch_id = stage_penalty_batch(conn, _rows(), "test_gx.csv")
    try:
        yield batch_id
    finally:
        _remove_batch(warehouse, batch_id)


def _quarantined(warehouse, batch_id: int) -> dict[tuple[str, str], int]:
    record_type = catalog().record_type_by_code["penalty"]
    with warehouse.begin() as conn:
        _quarantine_rows(conn, record_type, batch_id, {})
        rows = conn.execute(sa.text(
            "SELECT field, rule, count(*) AS n FROM audit.quarantine WHERE batch_id = :b GROUP BY field, rule"),
            {"b": batch_id}).all()
    return {(r.field, r.rule): r.n for r in rows}


def test_the_audit_gate_passes_the_rows_left_after_the_quarantine(warehouse, staged_batch, tmp_path):
    url = warehouse.url.render_as_string(hide_password=False)
    quarantined = _quarantined(warehouse, staged_batch)
    with warehouse.connect() as conn:
        broken_rows = conn.scalar(sa.text("SELECT count(DISTINCT row_no) FROM audit.quarantine WHERE batch_id = :b"),
                                  {"b": staged_batch})
    assert quarantined and 0 < broken_rows < len(ROWS)
    gate = run_suite(url, "penalty", staged_batch, tmp_path / "data_docs")
    # GX audits what would be loaded: every rule holds there, so the gate (and its Data Docs page) passes
    assert gate.success and gate.unexpected == {} and gate.errors == []
    assert gate.rows == len(ROWS) - broken_rows


def test_gx_finds_what_the_quarantine_finds(warehouse, staged_batch, tmp_path):
    url = warehouse.url.render_as_string(hide_password=False)
    docs = tmp_path / "data_docs"

    outcome = run_suite(url, "penalty", staged_batch, docs)
    quarantined = _quarantined(warehouse, staged_batch)

    assert outcome.errors == []
    assert outcome.unexpected == quarantined
    assert outcome.rows == len(ROWS)
    assert not outcome.success
    # Not vacuous: the broken rows were found, each rule where it was planted.
    assert quarantined[("CF_JDRQ", "date_format")] == 2
    for key in [("CF_XDR_MC", "required"), ("CF_XDR_LB", "allowed_values"), ("CF_CFLB", "allowed_values"),
                ("CF_NR_FK", "amount"), ("CF_NR_WFFF", "amount"), ("CF_JDRQ", "date_future"),
                ("CF_YXQ", "date_order"), ("CF_CFJGDM", "uscc_checksum"), ("CF_WSH", "duplicate_in_batch"),
                ("CF_XDR_SHXYM", "uscc_prefix"), ("CF_XDR_ZJHM", "id_number_checksum"), ("CF_WSH", "max_length"),
                ("CF_FRDB", "conditional_required")]:
        assert quarantined.get(key) == 1, key
    assert quarantined[("CF_XDR_SHXYM", "conditional_required")] == 2
    with warehouse.connect() as conn:
        failing = set(conn.scalars(sa.text("SELECT DISTINCT row_no FROM audit.quarantine WHERE batch_id = :b"),
                                   {"b": staged_batch}))
    assert failing == set(ROWS) - {1, 16, 17}

    page = outcome.data_docs_page
    assert page is not None and page.is_file() and page.is_relative_to(docs)
    html = page.read_text(encoding="utf-8")
    assert "<html" in html and "行政处罚决定书文号" in html
    assert BAD_ID_NUMBER not in html  # counts only: no row values in results or pages
    assert not any(BAD_ID_NUMBER in p.read_text(encoding="utf-8") for p in (docs / "_results").rglob("*.json"))

    index = build_site(warehouse, docs)
    assert index.is_file() and page.relative_to(docs).as_posix() in index.read_text(encoding="utf-8")


def test_clean_batch_passes(warehouse, staged_batch, tmp_path):
    with warehouse.begin() as conn:
        conn.execute(sa.text("DELETE FROM staging.penalty_clean WHERE batch_id = :b AND row_no NOT IN (1, 16, 17)"),
                     {"b": staged_batch})
    outcome = run_suite(warehouse.url.render_as_string(hide_password=False), "penalty", staged_batch)
    assert outcome.success and outcome.unexpected == {} and outcome.rows == 3 and outcome.errors == []
    assert outcome.data_docs_page is None
    assert outcome.evaluated == len(suite_for("penalty").expectations)


def test_pages_left_for_later_are_rendered_once_in_one_build(warehouse, staged_batch, tmp_path):
    url = warehouse.url.render_as_string(hide_password=False)
    docs = tmp_path / "data_docs"

    first = run_suite(url, "penalty", staged_batch, docs, render_page=False)
    second = run_suite(url, "penalty", staged_batch, docs, render_page=False)

    pages = {first.data_docs_page, second.data_docs_page}
    assert len(pages) == 2 and all(page.is_relative_to(docs) and not page.exists() for page in pages)
    assert set(render_pending_pages(docs)) == pages
    assert all("行政处罚决定书文号" in page.read_text(encoding="utf-8") for page in pages)
    assert render_pending_pages(docs) == []  # nothing is rendered twice
    index = build_site(warehouse, docs)
    assert max(pages).relative_to(docs).as_posix() in index.read_text(encoding="utf-8")  # a batch's latest run


def _gx_connections(warehouse) -> list[int]:
    with warehouse.connect() as conn:
        return list(conn.scalars(sa.text("SELECT pid FROM pg_stat_activity "
                                         "WHERE datname = current_database() AND application_name = 'creditwh-gx'")))


@pytest.fixture
def no_kept_validators():
    """Earlier tests' GX contexts (other Data Docs directories) closed, so connections can be counted."""
    for key in list(gx_run._validators):
        gx_run._discard(key)


def test_a_process_keeps_its_gx_connections_and_survives_losing_them(warehouse, staged_batch, no_kept_validators):
    url = warehouse.url.render_as_string(hide_password=False)
    first = run_suite(url, "penalty", staged_batch)
    kept = _gx_connections(warehouse)
    second = run_suite(url, "penalty", staged_batch)

    assert second.unexpected == first.unexpected and second.rows == first.rows == len(ROWS)
    assert kept and _gx_connections(warehouse) == kept  # the same connections served both runs
    # One asset for the record type, kept: adding and removing one per run made GX save its configuration.
    assert [a.name for a in gx_run._validators[url, None].data_source.assets] == ["penalty_batch"]

    # The server ends the kept connections (a restart, an idle timeout): the next run opens others.
    with warehouse.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"),
                     {"pids": kept})
    third = run_suite(url, "penalty", staged_batch)
    assert third.errors == [] and third.unexpected == first.unexpected
    assert _gx_connections(warehouse) and not set(_gx_connections(warehouse)) & set(kept)


def test_a_forked_child_does_not_share_the_parents_gx_connections(warehouse, staged_batch):
    import multiprocessing

    url = warehouse.url.render_as_string(hide_password=False)
    run_suite(url, "penalty", staged_batch)
    assert (url, None) in gx_run._validators
    with multiprocessing.get_context("fork").Pool(1) as pool:
        inherited = pool.apply(_validators_in_child)
    assert inherited == []
    assert run_suite(url, "penalty", staged_batch).errors == []  # the parent's connection is intact


def _validators_in_child() -> list:
    return list(gx_run._validators)


def test_the_kept_asset_validates_each_batch_on_its_own_rows(warehouse, staged_batch, no_kept_validators):
    """Consecutive runs of one process share the record type's asset: each must see its own batch only."""
    url = warehouse.url.render_as_string(hide_password=False)
    valid_rows = [1, 16, 17]
    with warehouse.begin() as conn:
        other = stage_penalty_batch(conn, [row for row in _rows() if row["row_no"] in valid_rows],
                                    "test_gx_valid.csv")
    try:
        first = run_suite(url, "penalty", staged_batch)
        second = run_suite(url, "penalty", other)
        third = run_suite(url, "penalty", staged_batch)
    finally:
        _remove_batch(warehouse, other)

    assert (first.rows, second.rows, third.rows) == (len(ROWS), len(valid_rows), len(ROWS))
    assert second.success and second.unexpected == {}
    assert not first.success and third.unexpected == first.unexpected == _quarantined(warehouse, staged_batch)


def test_the_audit_gate_counts_on_the_server_and_leaves_no_view_behind(warehouse, tmp_path):
    """GX is sent the batch's rows as a view, never a query it must run to learn the columns: no statement of
    its brings the batch's rows into this process (a large batch once took hundreds of MB here), and the view
    is gone when the run is over."""
    from sqlalchemy import event

    rows = [{"row_no": n, **BASE, "cf_wsh": f"税罚〔2024〕{5000 + n}号"} for n in range(1, 601)]
    with warehouse.begin() as conn:
        batch_id = stage_penalty_batch(conn, rows, "test_gx_large.csv")
    url = warehouse.url.render_as_string(hide_password=False)
    docs = (tmp_path / "data_docs").resolve()
    returned: list[int] = []

    def rows_returned(conn, cursor, statement, *_):  # noqa: ANN001, ANN202 - a SQLAlchemy event's signature
        if statement.lstrip().upper().startswith("SELECT"):
            returned.append(cursor.rowcount or 0)

    try:
        # Every engine's statements while the gate runs (GX makes its own engines, some at the first run).
        event.listen(sa.engine.Engine, "after_cursor_execute", rows_returned)
        try:
            gate = run_suite(url, "penalty", batch_id, docs)
        finally:
            event.remove(sa.engine.Engine, "after_cursor_execute", rows_returned)
        assert gate.success and gate.rows == len(rows)
        assert returned and max(returned) < len(rows) / 5
        with warehouse.connect() as conn:
            assert conn.scalar(sa.text("SELECT count(*) FROM pg_views WHERE viewname LIKE 'gx_audit_%'")) == 0
    finally:
        gx_run._discard((url, docs))
        _remove_batch(warehouse, batch_id)
