"""`make run`'s way of running the DAGs, for real: Airflow's metadata in a PostgreSQL database, the DAG folder
written to it once, two runner processes taking turns at the ingest DAGs on that one database, then the DAGs
that come after them. The dispatch itself is tested in tests/unit/test_dag_runners.py; here it meets Airflow."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from etl import config
from simulators.departments import DepartmentSimulator
from simulators.generate import generate
from simulators.nightly import run_dags
from tests.conftest import DatabaseFactory

pytestmark = pytest.mark.e2e

FIRST = ["ingest_court", "ingest_tax", "ingest_hrss"]


@pytest.fixture
def server_metadata(airflow_home, pg15_admin_url, tmp_path) -> dict[str, str]:
    """The DAG tests' Airflow settings, with the metadata in a new database of the PostgreSQL 15 service."""
    factory = DatabaseFactory(pg15_admin_url)
    try:
        url = factory.create().url.render_as_string(hide_password=False)
        env = {**airflow_home, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url}
        for step in (["db", "migrate"], ["pools", "import", str(config.PROJECT_ROOT / "dags" / "pools.json")]):
            done = subprocess.run([sys.executable, "-m", "airflow", *step], env=env, capture_output=True, text=True,
                                  timeout=600)
            assert done.returncode == 0, done.stderr[-3000:]
        yield env
    finally:
        factory.drop_all()


@pytest.mark.parametrize("warehouse", ["embedded"], indirect=True)
def test_two_runners_share_a_server_metadata_database(warehouse, server_metadata, tmp_path):
    data = tmp_path / "data"
    generate(data, records=400, seed=11, defect_rate=0.05, as_of=dt.datetime.now(ZoneInfo("Asia/Shanghai")).date())
    heard: list[dict] = []
    with DepartmentSimulator(data) as simulator:
        env = {**server_metadata, **simulator.connection_env(),
               "WAREHOUSE_URL": warehouse.url.render_as_string(hide_password=False),
               "CREDITWH_DROP_DIR": str(simulator.file_drop_dir), "CREDITWH_VAR_DIR": str(config.settings().var_dir)}
        runs = run_dags(env, FIRST, ["ingest_court"], heard.append)

    assert [r["state"] for r in runs] == ["success"] * 4, runs
    assert [h["dag_id"] for h in heard][-1] == "ingest_court"  # the later DAG after every first one
    again = runs[-1]
    assert {state for task, state in again["tasks"].items() if task.startswith("announce_")} == {"skipped"}
    with warehouse.connect() as conn:
        batches = conn.execute(sa.text(
            "SELECT department_code, status, rows_in, rows_loaded, rows_unchanged, rows_quarantined, created_at, "
            "updated_at FROM audit.batch WHERE department_code = ANY(:d)"),
            {"d": [d.removeprefix("ingest_") for d in FIRST]}).all()
    assert batches and {b.status for b in batches} == {"loaded"}
    assert all(b.rows_in == b.rows_loaded + b.rows_unchanged + b.rows_quarantined for b in batches)
    by_department: dict[str, tuple] = {}  # when each department's batches began and ended
    for b in batches:
        start, end = by_department.get(b.department_code, (b.created_at, b.updated_at))
        by_department[b.department_code] = (min(start, b.created_at), max(end, b.updated_at))
    spans = sorted(by_department.values())
    pairs = zip(spans, spans[1:], strict=False)
    assert any(later_start < end for (_, end), (later_start, _) in pairs), f"no two departments at once: {spans}"
    logs = Path(server_metadata["AIRFLOW_HOME"]) / "logs"
    assert {p.name.removeprefix("dag_id=") for p in logs.glob("dag_id=*")} == set(FIRST)  # where the UI reads them


def test_requests_reuse_the_analysis_of_an_overridden_dependency(monkeypatch):
    """dag.test()'s in-process Execution API overrides dependencies; FastAPI would analyse every dependency again on
    every request. In the runner a request reuses the analysis, and the answers are the override's."""
    from _run_dags import dependencies_analysed_once
    from fastapi import Depends, FastAPI
    from fastapi.dependencies import utils
    from fastapi.testclient import TestClient

    def who() -> str:
        return "real"

    app = FastAPI()

    @app.get("/{item}")
    def read(item: int, user: str = Depends(who)) -> dict:
        return {"item": item, "user": user}

    app.dependency_overrides[who] = lambda: "override"
    analysed, original = [], utils.get_dependant
    monkeypatch.setattr(utils, "get_dependant", lambda **given: analysed.append(given["call"]) or original(**given))
    counting = utils.get_dependant
    with TestClient(app) as client:
        client.get("/0")
        assert len(analysed) == 1  # FastAPI alone: once per request
        with dependencies_analysed_once():
            answers = [client.get(f"/{n}").json() for n in range(5)]
    assert answers == [{"item": n, "user": "override"} for n in range(5)]
    assert len(analysed) == 2  # the first of the five requests only
    assert utils.get_dependant is counting  # put back
