"""Runs of one feed take turns: three `creditwh ingest` of one department started at once all finish, each
in one bilingual piece, and the warehouse holds each batch once (a per-feed lock, also taken by Airflow's
steps)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa

from etl import config
from etl.locks import feed_lock
from tests.corpus.build import csv_bytes, penalty, table
from tests.e2e.conftest import creditwh

pytestmark = pytest.mark.e2e


def test_three_runs_of_one_department_at_once(fresh_pg15_url, tmp_path):
    drop = tmp_path / "drop"
    folder = drop / "forestry"
    folder.mkdir(parents=True)
    for day in ("20260301", "20260302", "20260303"):
        rows = [penalty("forestry", day, n) for n in range(1, 200)]
        (folder / f"penalty_{day}.csv").write_bytes(csv_bytes(table("forestry", "penalty", rows), "gb18030"))
    env = {**{k: v for k, v in os.environ.items() if k != "WAREHOUSE_URL"}, "WAREHOUSE_URL": fresh_pg15_url,
           "CREDITWH_VAR_DIR": str(tmp_path / "var"), "CREDITWH_DROP_DIR": str(drop), "CREDITWH_GX": "off"}
    assert creditwh("init", env=env).returncode == 0
    runs = [subprocess.Popen([sys.executable, "-m", "etl", "ingest", "forestry"], cwd=config.PROJECT_ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(run.wait(timeout=600), *run.communicate()) for run in runs]
    for code, out, err in results:
        assert code == 0, out + err
        assert "Traceback" not in err and "UniqueViolation" not in out + err
        assert all(line.startswith(("forestry/", "another run")) or "等待" in line for line in err.splitlines()), err
    engine = sa.create_engine(fresh_pg15_url)
    try:
        with engine.connect() as conn:
            batches = conn.execute(sa.text("SELECT source_name, status, rows_in, rows_loaded FROM audit.batch")).all()
            facts = conn.scalar(sa.text("SELECT count(*) FROM dw.fact_credit_record"))
    finally:
        engine.dispose()
    assert sorted((b.source_name, b.status) for b in batches) == [
        (f"penalty_{day}.csv", "loaded") for day in ("20260301", "20260302", "20260303")]
    assert facts == 3 * 199 and sum(b.rows_loaded for b in batches) == facts


def test_a_feed_lock_is_held_until_released_and_freed_when_the_holder_dies(fresh_pg15_url):
    engine = sa.create_engine(fresh_pg15_url)
    try:
        order = []
        with feed_lock(engine, "forestry", "penalty"):
            with feed_lock(engine, "forestry", "penalty"):  # re-entrant in the process that holds it
                order.append("nested")
            other = threading.Thread(target=lambda: _take(engine, order))
            other.start()
            other.join(timeout=1)
            assert other.is_alive() and order == ["nested"]  # another thread waits
            order.append("released")
        other.join(timeout=10)
        assert order == ["nested", "released", "taken"]
        # a process holding the lock and killed: the server frees it
        holder = subprocess.Popen([sys.executable, "-c", (
            "import sys, time, sqlalchemy as sa; from etl.locks import feed_lock\n"
            "with feed_lock(sa.create_engine(sys.argv[1]), 'forestry', 'penalty'):\n"
            "    print('held', flush=True); time.sleep(60)\n"), fresh_pg15_url],
            stdout=subprocess.PIPE, text=True, cwd=config.PROJECT_ROOT)
        assert holder.stdout.readline().strip() == "held"
        holder.kill()
        holder.wait()
        taken = threading.Thread(target=lambda: _take(engine, order))
        taken.start()
        taken.join(timeout=10)
        assert not taken.is_alive() and order[-1] == "taken"
    finally:
        engine.dispose()


def _take(engine, order: list[str]) -> None:
    with feed_lock(engine, "forestry", "penalty"):
        order.append("taken")
