"""The row rules keep linear plans when a staging table's statistics say it is empty.

Autovacuum, run after one load deleted its batch from a shared staging table while another load's
rows were still uncommitted, records the table with pages but no live rows; the planner then takes
any batch in it for one row. The rule statements must not answer with a nested loop that scans a
table again for every row of the batch (seen: 14 s for the quarantine statement of a 10,000-row batch).
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from etl.catalog import catalog
from etl.validate import _quarantine_rows
from tests.integration.test_gx import AGENCY, BASE, _uscc, stage_penalty_batch

pytestmark = pytest.mark.integration

ROWS = 2000
BROKEN_EVERY = 20  # a wrong agency code check digit: one row in 20 is quarantined


def _rescans(plan: dict) -> list[tuple[str, int]]:
    """(table, rows read) for each table an executed plan reads by a sequential scan more than once."""
    found = []
    if plan.get("Node Type") == "Seq Scan" and plan.get("Actual Loops", 0) > 1:
        # Per-scan averages in EXPLAIN output.
        per_scan = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
        found.append((plan["Relation Name"], round(per_scan * plan["Actual Loops"])))
    for child in plan.get("Plans", []):
        found.extend(_rescans(child))
    return found


def _explain_every_statement(conn) -> list[str]:  # noqa: ANN001 - a SQLAlchemy Connection
    """Have PostgreSQL send the executed plan of each statement of this session as a notice; the notice list."""
    conn.execute(sa.text("LOAD 'auto_explain'"))
    conn.execute(sa.text("SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on; "
                         "SET auto_explain.log_format = json; SET auto_explain.log_level = notice"))
    return conn.connection.dbapi_connection.notices


def _plans(notices: list[str], run) -> list[dict]:  # noqa: ANN001 - a callable
    """The executed plans of what `run()` sent (plans as dicts with their query text)."""
    notices.clear()
    run()
    found = [json.loads(n.split("plan:", 1)[1]) for n in notices if "plan:" in n]
    return [{**f["Plan"], "Query Text": f.get("Query Text", "")} for f in found]


def test_rules_scan_no_table_once_per_row_when_statistics_say_empty(warehouse):
    record_type = catalog().record_type_by_code["penalty"]
    broken_agency = AGENCY[:-1] + ("K" if AGENCY[-1] != "K" else "L")
    # One firm per row, as in a department's real batch: the distinct codes grow with the batch.
    rows = [{**BASE, "row_no": n, "cf_wsh": f"税罚〔2024〕{n}号", "cf_xdr_shxym": _uscc("91", f"{n:08d}"),
             "cf_cfjgdm": broken_agency if n % BROKEN_EVERY == 0 else AGENCY} for n in range(1, ROWS + 1)]
    with warehouse.connect() as conn:
        batch_id = stage_penalty_batch(conn, rows, "test_validate_plans.csv")
        # What autovacuum leaves behind (a plain UPDATE here, so the rollback below undoes it).
        conn.execute(sa.text("UPDATE pg_class SET reltuples = 0, relpages = greatest(relpages, 1) "
                             "WHERE oid IN ('staging.penalty'::regclass, 'staging.penalty_clean'::regclass)"))
        notices = _explain_every_statement(conn)
        plans = _plans(notices, lambda: _quarantine_rows(conn, record_type, batch_id, {}))
        quarantined = conn.scalar(sa.text("SELECT count(DISTINCT row_no) FROM audit.quarantine WHERE batch_id = :b"),
                                  {"b": batch_id})
        conn.rollback()

    assert quarantined == ROWS // BROKEN_EVERY
    assert len(plans) >= 3  # the code checks, the failing rows and the quarantine insert were all seen
    # Scanning a table of a few rows again per row is cheap and fine; reading the batch's worth of rows
    # over and over is what must not happen.
    rescans = [(table, rows_read) for plan in plans for table, rows_read in _rescans(plan)]
    assert [(table, rows_read) for table, rows_read in rescans if rows_read > 10 * ROWS] == []


def _work(plan: dict) -> list[tuple[str, int]]:
    """(node, rows it produced or threw away over all its loops) for every node of an executed plan."""
    handled = (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
               + plan.get("Rows Removed by Join Filter", 0)) * plan.get("Actual Loops", 1)
    found = [(plan.get("Node Type", "?"), round(handled))]
    for child in plan.get("Plans", []):
        found.extend(_work(child))
    return found


def test_the_rows_left_after_the_quarantine_are_read_in_linear_time(warehouse):
    """The load and the GX audit gate read the batch's rows that have no finding. The findings were written in
    the same transaction, so no statistics know them: the planner, told a batch has one finding, answered a
    "no finding for this row" join with a nested loop over every pair of row and finding (at 1,000,000 records:
    92,663 rows x 3,320 findings, 25.8 s for one statement). No step may handle rows x findings."""
    from types import SimpleNamespace

    from etl.load import _incoming, _valid_rows
    from etl.quarantine import NOT_QUARANTINED
    from etl.sqltext import execute_script
    from etl.stage.tables import clean_table

    record_type = catalog().record_type_by_code["penalty"]
    broken_agency = AGENCY[:-1] + ("K" if AGENCY[-1] != "K" else "L")
    rows = [{**BASE, "row_no": n, "cf_wsh": f"税罚〔2024〕{n}号", "cf_xdr_shxym": _uscc("91", f"{n:08d}"),
             "cf_cfjgdm": broken_agency if n % 2 == 0 else AGENCY} for n in range(1, ROWS + 1)]
    with warehouse.connect() as conn:
        # The statistics as a nightly leaves them: taken while an earlier batch's findings were there.
        earlier = stage_penalty_batch(conn, rows, "test_validate_plans_earlier.csv")
        _quarantine_rows(conn, record_type, earlier, {})
        conn.execute(sa.text("ANALYZE audit.quarantine"))
        batch_id = stage_penalty_batch(conn, rows, "test_validate_plans_linear.csv")
        notices = _explain_every_statement(conn)
        quarantine = _plans(notices, lambda: _quarantine_rows(conn, record_type, batch_id, {}))
        batch = SimpleNamespace(batch_id=batch_id)
        loaded = []
        seen = {
            "the flag on the rows with findings": [p for p in quarantine if "SET quarantined" in p["Query Text"]],
            "the GX audit gate's rows": _plans(notices, lambda: execute_script(
                conn, f"SELECT count(*) FROM {clean_table(record_type)} n "
                      f"WHERE n.batch_id = {batch_id} AND {NOT_QUARANTINED}")),
            "the load's subjects": _plans(notices, lambda: execute_script(
                conn, f"SELECT count(*) FROM {_valid_rows(record_type, batch)}")),
            "the load's facts": _plans(notices, lambda: loaded.append(_incoming(conn, record_type, batch))),
        }
        conn.rollback()

    assert loaded == [ROWS // 2]  # the other half, flagged, is left out
    for step, plans in seen.items():
        assert plans, step
        work = [node for plan in plans for node in _work(plan)]
        assert [node for node in work if node[1] > 10 * ROWS] == [], step
