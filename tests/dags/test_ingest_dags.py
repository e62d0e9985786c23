"""End to end through Airflow: `ingest_<department>` DAGs run with `dag.test()` against a real warehouse.

Two departments covering all three transports (market_regulation: SQL front database, REST API, XLSX
drop; tax: GB18030 CSV with the department's own headers, REST API, CSV with BOM) go through the
department simulator into the `warehouse` fixture. Every seeded defect of theirs is quarantined and
nothing else, every batch accounts for its rows, the record types' assets are updated, and a second
run finds nothing new and announces nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from _run_dags import RESULT_PREFIX  # dags/ is on sys.path (tests/dags/conftest.py)

from etl import config
from simulators.departments import DepartmentSimulator
from simulators.generate import generate

pytestmark = pytest.mark.e2e

DEPARTMENTS = ("market_regulation", "tax")
RECORDS = 600


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("departments") / "data"
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    generate(out, records=RECORDS, seed=2027, defect_rate=0.08, as_of=today)
    return out


def run_dags(env: dict[str, str], *dag_ids: str) -> list[dict]:
    result = subprocess.run([sys.executable, str(config.PROJECT_ROOT / "dags" / "_run_dags.py"), *dag_ids], env=env,
                            cwd=config.PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    assert result.returncode == 0 and lines, (result.stdout[-3000:], result.stderr[-5000:])
    return json.loads(lines[-1].removeprefix(RESULT_PREFIX))


@pytest.mark.parametrize("warehouse", ["embedded"], indirect=True)
def test_ingest_dags_load_exactly_what_the_cli_would(warehouse, generated, airflow_home):
    with DepartmentSimulator(generated) as simulator:
        env = {**airflow_home, **simulator.connection_env(),
               "WAREHOUSE_URL": warehouse.url.render_as_string(hide_password=False),
               "CREDITWH_DROP_DIR": str(simulator.file_drop_dir),
               "CREDITWH_VAR_DIR": str(config.settings().var_dir)}
        # Both departments, then tax again: files are known by their bytes, API and SQL feeds have nothing
        # past their watermarks.
        *first, again = run_dags(env, *[f"ingest_{d}" for d in DEPARTMENTS], f"ingest_{DEPARTMENTS[-1]}")

    for run in first:
        assert run["state"] == "success", run
        tasks = dict(run["tasks"])
        assert tasks.pop("feeds_failed[-1]") == "skipped"  # the watcher: nothing failed
        assert set(tasks.values()) == {"success"}, tasks
    assert again["state"] == "success", again
    announced = {task: state for task, state in again["tasks"].items() if task.startswith("announce_")}
    assert announced and set(announced.values()) == {"skipped"}

    with warehouse.connect() as conn:
        batches = conn.execute(sa.text("""
            SELECT department_code, feed_code, status, rows_in, rows_loaded, rows_unchanged, rows_quarantined,
                   gx_success, created_at FROM audit.batch WHERE department_code = ANY(:d)"""),
            {"d": list(DEPARTMENTS)}).all()
        found = {tuple(r) for r in conn.execute(sa.text("""
            SELECT b.department_code, b.feed_code, q.row_no, q.field, q.rule
              FROM audit.quarantine q JOIN audit.batch b USING (batch_id)
             WHERE b.department_code = ANY(:d)"""), {"d": list(DEPARTMENTS)})}
        facts = conn.scalar(sa.text("""
            SELECT count(*) FROM dw.fact_credit_record f JOIN dw.dim_department d USING (department_key)
             WHERE d.department_code = ANY(:d)"""), {"d": list(DEPARTMENTS)})
        health = {r.department_code: r for r in conn.execute(sa.text(
            "SELECT * FROM mart.v_pipeline_health WHERE department_code = ANY(:d)"), {"d": list(DEPARTMENTS)})}

    feeds = {(d, f.code) for d in DEPARTMENTS for f in _catalog().department_by_code[d].feeds}
    assert {(b.department_code, b.feed_code) for b in batches} == feeds
    assert {b.status for b in batches} == {"loaded"}
    assert all(b.rows_in == b.rows_loaded + b.rows_unchanged + b.rows_quarantined for b in batches)
    assert all(b.gx_success for b in batches)  # every loaded batch passed its audit gate
    assert max(b.created_at for b in batches) < dt.datetime.fromisoformat(again["start_date"])
    manifest = json.loads((generated / "manifest.json").read_text(encoding="utf-8"))
    expected = {(d["department"], d["feed"], d["row"], d["field"], d["rule"]) for d in manifest["defects"]
                if d["outcome"] == "quarantine" and d["department"] in DEPARTMENTS}
    assert found == expected
    assert facts == sum(b.rows_loaded for b in batches) == sum(b.rows_in - b.rows_quarantined for b in batches)
    for department in DEPARTMENTS:
        row = health[department]
        assert row.feeds_reporting == row.feed_count and not row.is_late and row.held_batches == 0
        assert row.rows_in_7d == sum(b.rows_in for b in batches if b.department_code == department)
    assert _asset_events(airflow_home) == {f.record_type for d in DEPARTMENTS
                                          for f in _catalog().department_by_code[d].feeds}
    _every_task_has_a_readable_log(airflow_home, first)


def _every_task_has_a_readable_log(env: dict[str, str], runs: list[dict]) -> None:
    """Where the Airflow UI reads them: one file per task instance, JSON lines, ending with the summary line."""
    logs = Path(env["AIRFLOW_HOME"]) / "logs"
    for run in runs:
        folder = logs / f"dag_id={run['dag_id']}" / f"run_id={run['run_id']}"
        files = sorted(folder.rglob("attempt=1.log"))
        started = [t for t in run["tasks"] if t != "feeds_failed[-1]"]  # the watcher, skipped, never starts
        assert len(files) == len(started), (run["dag_id"], len(files), len(started))
        for file in files:
            lines = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines()]
            assert lines and all({"timestamp", "level", "event"} <= line.keys() for line in lines), file
            assert not any(line["logger"].startswith("great_expectations") for line in lines), file
            assert not any("Returned value was" in line["event"] for line in lines), file
            told = [line["event"] for line in lines if line["logger"] == "creditwh.task"]
            if "skipped" not in run["tasks"].get(_task_key(file), ""):
                assert told, f"{file} has no summary line"
            if "load_batch" in str(file):
                assert "收到 rows in" in told[-1] and "入库 loaded" in told[-1], told


def _task_key(file: Path) -> str:
    task = next(p.removeprefix("task_id=") for p in file.parts if p.startswith("task_id="))
    index = next((p.removeprefix("map_index=") for p in file.parts if p.startswith("map_index=")), "-1")
    return f"{task}[{index}]"


def _catalog():
    from etl.catalog import catalog

    return catalog()


def _asset_events(env: dict[str, str]) -> set[str]:
    database = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as conn:
        uris = {row[0] for row in conn.execute(
            "SELECT a.uri FROM asset_event e JOIN asset a ON a.id = e.asset_id")}
    return {uri.removeprefix("x-creditwh://warehouse/dw/fact_credit_record/") for uri in uris}


@pytest.mark.parametrize("warehouse", ["embedded"], indirect=True)
def test_a_missing_connection_fails_its_feed_once_and_the_other_feeds_load(warehouse, generated, airflow_home):
    """No connection for the transport bureau's API: its extract fails at the first try (no retry can help)
    and says what to set; the bureau's file feed is taken all the same."""
    env = {**{k: v for k, v in airflow_home.items() if not k.startswith("AIRFLOW_CONN_")},
           "WAREHOUSE_URL": warehouse.url.render_as_string(hide_password=False),
           "CREDITWH_DROP_DIR": str(generated / "files"), "CREDITWH_VAR_DIR": str(config.settings().var_dir)}
    [run] = run_dags(env, "ingest_transport")
    assert run["state"] == "failed"
    failed = {task for task, state in run["tasks"].items() if state == "failed"}
    assert failed == {"api_feed.extract_feed[0]", "api_feed.extract_feed[1]", "feeds_failed[-1]"}, run["tasks"]
    assert run["tasks"]["feed.extract_feed[0]"] == "success" and run["tasks"]["load.load_batch[0]"] == "success"
    folder = Path(airflow_home["AIRFLOW_HOME"]) / "logs" / "dag_id=ingest_transport" / f"run_id={run['run_id']}"
    attempts = sorted(p.name for p in (folder / "task_id=api_feed.extract_feed").rglob("attempt=*.log"))
    assert attempts and set(attempts) == {"attempt=1.log"}, attempts  # failed once, not retried
    text = "".join(p.read_text(encoding="utf-8") for p in (folder / "task_id=api_feed.extract_feed").rglob("*.log"))
    assert "AIRFLOW_CONN_DEPT_API_TRANSPORT" in text
