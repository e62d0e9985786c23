"""The task functions DAGs call (etl.jobs): each step is safe to run again, and the task path gives the
warehouse the CLI path gives.

A step re-run after its commit (a task retry) changes nothing; a step that finds its input gone (a
server crash empties the UNLOGGED staging tables) rebuilds it from the landed bytes; an extract first
finishes what an earlier run left unfinished. Results are small JSON-able dicts.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from etl import config, jobs
from etl.catalog import catalog
from etl.ingest import ingest_department
from etl.migrate import migrate
from etl.reference import seed_reference_data
from simulators.departments import DepartmentSimulator
from simulators.generate import generate
from tests.conftest import DatabaseFactory

pytestmark = pytest.mark.integration

DEPARTMENT = "education"  # a CSV drop (license) and a paged REST API (commitment)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("departments") / "data"
    generate(out, records=700, seed=11, defect_rate=0.1, as_of=dt.datetime.now(ZoneInfo("Asia/Shanghai")).date())
    return out


@pytest.fixture
def databases(admin_url_for):
    factory = DatabaseFactory(admin_url_for("embedded"))

    def new():
        engine = factory.create()
        migrate(engine)
        seed_reference_data(engine, catalog())
        return engine

    yield new
    factory.drop_all()


@pytest.fixture
def simulator(generated, monkeypatch):
    monkeypatch.setenv("CREDITWH_GX", "off")  # recovery is about the warehouse; the DAG e2e test runs GX
    with DepartmentSimulator(generated) as sim:
        for key, value in sim.connection_env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("CREDITWH_DROP_DIR", str(sim.file_drop_dir))
        yield sim


def snapshot(engine) -> dict[str, list]:
    queries = {
        "batches": """SELECT feed_code, sha256, status, rows_in, rows_loaded, rows_unchanged, rows_quarantined
                        FROM audit.batch ORDER BY 1, 2""",
        "quarantine": """SELECT b.feed_code, b.sha256, q.row_no, q.field, q.rule FROM audit.quarantine q
                           JOIN audit.batch b USING (batch_id) ORDER BY 1, 2, 3, 4, 5""",
        "facts": "SELECT record_uid::text, content_hash, status FROM dw.fact_credit_record ORDER BY 1",
        "watermarks": "SELECT feed_code, watermark_value FROM audit.watermark ORDER BY 1",
    }
    with engine.connect() as conn:
        return {name: [tuple(r) for r in conn.execute(sa.text(sql))] for name, sql in queries.items()}


def _status(engine, batch_ids) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT batch_id, status FROM audit.batch WHERE batch_id = ANY(:b)"),
                                 {"b": list(batch_ids)}).all())


def _lose_staging(engine, record_type: str, batch_ids, *, clean_only: bool = False) -> None:
    """What a server crash does to the UNLOGGED staging tables (they come back empty)."""
    tables = [f"staging.{record_type}_clean"] + ([] if clean_only else [f"staging.{record_type}"])
    with engine.begin() as conn:
        for table in tables:
            conn.execute(sa.text(f"DELETE FROM {table} WHERE batch_id = ANY(:b)"), {"b": list(batch_ids)})


def test_every_step_survives_retries_and_lost_staging_and_matches_the_cli(databases, simulator, monkeypatch):
    tasks = databases()
    monkeypatch.setenv("WAREHOUSE_URL", tasks.url.render_as_string(hide_password=False))
    department = catalog().department_by_code[DEPARTMENT]

    for feed in department.feeds:
        extracted = jobs.extract_feed(DEPARTMENT, feed.code)
        json.dumps(extracted)  # XCom-able
        ids = extracted["batch_ids"]
        assert ids and extracted["source_errors"] == [] and extracted["finished"] == []
        assert set(_status(tasks, ids).values()) == {"landed"}

        staged = jobs.stage_batches(ids)
        assert {b["status"] for b in staged["batches"]} == {"staged"}
        assert jobs.stage_batches(ids) == staged  # a retry after the commit: nothing to do

        _lose_staging(tasks, feed.record_type, ids)
        validated = jobs.validate_batches(ids)  # stages again from the landed bytes first
        assert {b["status"] for b in validated["batches"]} == {"validated"}
        assert [b["rows_in"] for b in validated["batches"]] == [b["rows_in"] for b in staged["batches"]]
        assert jobs.validate_batches(ids) == validated

        _lose_staging(tasks, feed.record_type, ids, clean_only=True)
        loaded = jobs.load_batches(ids)  # validates again first
        assert {b["status"] for b in loaded["batches"]} == {"loaded"}
        for batch in loaded["batches"]:
            assert batch["rows_in"] == batch["rows_loaded"] + batch["rows_unchanged"] + batch["rows_quarantined"]
        before = snapshot(tasks)
        assert jobs.load_batches(ids) == loaded and snapshot(tasks) == before

        feedback = jobs.write_feedback(ids)
        written = [b["feedback"] for b in feedback["batches"] if b.get("feedback")]
        assert len(written) == sum(1 for b in loaded["batches"] if b["rows_quarantined"])
        assert jobs.write_feedback(ids) == feedback and all(Path(p).is_file() for p in written)
        json.dumps([staged, validated, loaded, feedback])

        again = jobs.extract_feed(DEPARTMENT, feed.code)
        assert again["batch_ids"] == [] and again["finished"] == []

    cli = databases()
    ingest_department(cli, catalog(), department, file_drop_dir=config.settings().drop_dir)
    assert snapshot(tasks) == snapshot(cli)
    assert any(row[6] for row in snapshot(tasks)["batches"]), "the data set should have quarantined rows"


def test_extract_first_finishes_what_a_crashed_run_left(databases, simulator, monkeypatch):
    engine = databases()
    monkeypatch.setenv("WAREHOUSE_URL", engine.url.render_as_string(hide_password=False))
    [feed] = [f for f in catalog().department_by_code[DEPARTMENT].feeds if f.transport == "file"]

    ids = jobs.extract_feed(DEPARTMENT, feed.code)["batch_ids"]
    jobs.stage_batches(ids)  # ... and the worker died here
    rerun = jobs.extract_feed(DEPARTMENT, feed.code)

    assert rerun["batch_ids"] == [] and sorted(rerun["already_loaded"]) == sorted(ids)
    assert [b["batch_id"] for b in rerun["finished"]] == sorted(ids)
    assert {b["status"] for b in rerun["finished"]} == {"loaded"}
    assert set(_status(engine, ids).values()) == {"loaded"}
    with engine.connect() as conn:
        status = conn.execute(sa.text("SELECT * FROM audit.feed_status WHERE department_code = :d AND feed_code = :f"),
                              {"d": DEPARTMENT, "f": feed.code}).one()
    assert status.schedule_cron == feed.schedule and status.expected_interval == dt.timedelta(days=1)
    assert status.last_extract_at is not None and status.last_error is None


def test_maintenance_jobs(databases, monkeypatch):
    engine = databases()
    monkeypatch.setenv("WAREHOUSE_URL", engine.url.render_as_string(hide_password=False))
    # A load deletes its batch's staging rows; the dead rows must not stay (autovacuum may be off).
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO staging.penalty (batch_id, row_no) "
                             "SELECT -1, g FROM generate_series(1, 5000) g"))
        conn.execute(sa.text("DELETE FROM staging.penalty WHERE batch_id = -1"))
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT pg_relation_size('staging.penalty')")) > 0
    analyzed = jobs.analyze_warehouse()
    assert analyzed["tables"] >= 8 and analyzed["schemas"] == ["dw", "audit"] and analyzed["vacuumed"] >= 10
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT pg_relation_size('staging.penalty')")) == 0
    docs = jobs.build_data_docs()
    assert Path(docs["index"]).is_file()
    expired = jobs.expire_publicity()  # a thin call into etl.publish: nothing has run out in an empty warehouse
    assert expired == {"expired": 0, "withdrawals": 0}
    json.dumps([analyzed, docs, expired])


def test_small_results_from_publishing_functions():
    from dataclasses import dataclass

    @dataclass
    class Result:
        platform: str
        differences: list

    assert jobs._small(Result("national", [{"day": dt.date(2026, 1, 2)}])) == {
        "platform": "national", "differences": [{"day": "2026-01-02"}]}
    assert jobs._small(7) == {"count": 7} and jobs._small(None) == {}
    long = jobs._small({"requeued": list(range(100))})
    assert long == {"requeued": list(range(20)), "requeued_total": 100}
