"""The command line as people use it: exit codes, one-line errors, and no tracebacks."""

from __future__ import annotations

import re
import shutil

import pytest

from etl import config
from tests.conftest import _free_port
from tests.e2e.conftest import creditwh

pytestmark = pytest.mark.e2e


def test_init_creates_then_upgrades_nothing_and_status_reports(fresh_pg15_url):
    first = creditwh("init", env={"WAREHOUSE_URL": fresh_pg15_url})
    assert first.returncode == 0, first.stderr
    assert "001_schemas.sql" in first.stdout and "26 departments" in first.stdout
    again = creditwh("init", env={"WAREHOUSE_URL": fresh_pg15_url})
    assert again.returncode == 0 and "none (up to date)" in again.stdout
    status = creditwh("status", env={"WAREHOUSE_URL": fresh_pg15_url})
    assert status.returncode == 0
    assert "departments:   26" in status.stdout and "2000-01-01 to 2035-12-31" in status.stdout


def test_unreachable_warehouse_is_one_line_and_nonzero():
    result = creditwh("init", env={"WAREHOUSE_URL": "postgresql://etl:hunter2@127.0.0.1:1/creditwh"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Cannot reach the warehouse" in lines[0]
    assert re.search(r"[\u4e00-\u9fff]", lines[0])
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_malformed_catalog_is_one_line_naming_file_and_field(tmp_path, fresh_pg15_url):
    broken = tmp_path / "catalog"
    shutil.copytree(config.CATALOG_DIR, broken, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (broken / "departments.yml").read_text(encoding="utf-8")
    (broken / "departments.yml").write_text(text.replace("transport: api", "transport: carrier-pigeon", 1),
                                            encoding="utf-8")
    result = creditwh("init", env={"WAREHOUSE_URL": fresh_pg15_url, "CREDITWH_CATALOG_DIR": str(broken)})
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Catalog file departments.yml: field departments." in result.stderr
    assert re.search(r"[\u4e00-\u9fff]", result.stderr)
    assert "transport" in result.stderr and "Traceback" not in result.stderr


def test_embedded_warehouse_by_default_reused_and_stopped(tmp_path):
    env = {"CREDITWH_VAR_DIR": str(tmp_path / "var"), "CREDITWH_EMBEDDED_PORT": str(_free_port())}
    try:
        first = creditwh("init", env=env)
        assert first.returncode == 0, first.stderr
        assert f"127.0.0.1:{env['CREDITWH_EMBEDDED_PORT']}/creditwh" in first.stdout
        assert "running on 127.0.0.1" in creditwh("db", "status", env=env).stdout
        assert "none (up to date)" in creditwh("init", env=env).stdout
    finally:
        stop = creditwh("db", "stop", env=env)
    assert stop.stdout.strip() == "stopped"
    assert "not running" in creditwh("db", "status", env=env).stdout


def test_ingest_status_and_release_from_the_command_line(fresh_pg15_url, tmp_path):
    import datetime as dt

    from simulators.generate import generate

    data = tmp_path / "data"
    generate(data, records=600, seed=5, defect_rate=0.05, as_of=dt.date.today())
    # A department sends a file whose headers belong to another record type: held for review.
    stray = data / "files" / "health" / "penalty_29991231.csv"
    stray.write_text("行政相对人名称,许可决定文书号\n甲公司,许1\n", encoding="utf-8")
    env = {"WAREHOUSE_URL": fresh_pg15_url, "CREDITWH_VAR_DIR": str(tmp_path / "var")}
    assert creditwh("init", env=env).returncode == 0

    ingest = creditwh("sim", "ingest", "--all", "--data", str(data), "--workers", "2", env=env)
    assert ingest.returncode == 0, ingest.stderr
    assert "TOTAL" in ingest.stdout and "601" in ingest.stdout  # 600 generated rows + the stray file's row
    assert "held: health/penalty" in ingest.stdout and "许可决定文书号" in ingest.stdout
    # Every validation of the run has its Data Docs page, rendered in one build at the end.
    docs = tmp_path / "var" / "gx" / "data_docs"
    results = {p.relative_to(docs / "_results").with_suffix("") for p in (docs / "_results").rglob("*.json")}
    pages = {p.relative_to(docs / "validations").with_suffix("") for p in (docs / "validations").rglob("*.html")}
    assert results and results == pages

    status = creditwh("status", env=env)
    held_line = next(line for line in status.stdout.splitlines() if "penalty_29991231.csv" in line)
    batch_id = held_line.split()[0]
    released = creditwh("release", batch_id, "--by", "reviewer", env=env)
    assert released.returncode == 0, released.stderr
    # Released means checked row by row: the row lacks most required fields, so it is quarantined.
    assert f"batch {batch_id}: loaded; rows in 1, loaded 0, unchanged 0, quarantined 1" in released.stdout
    again = creditwh("release", batch_id, env=env)
    assert again.returncode == 2 and "not held" in again.stderr

    unknown = creditwh("ingest", "no_such_department", env=env)
    assert unknown.returncode == 2 and "there is no department 'no_such_department'" in unknown.stderr


def test_unreachable_department_api_is_reported_and_nothing_is_landed(fresh_pg15_url, tmp_path):
    import datetime as dt

    from simulators.departments import DepartmentSimulator, Faults
    from simulators.generate import generate

    data = tmp_path / "data"
    generate(data, records=300, seed=9, defect_rate=0.0, as_of=dt.date.today())
    env = {"WAREHOUSE_URL": fresh_pg15_url, "CREDITWH_VAR_DIR": str(tmp_path / "var")}
    assert creditwh("init", env=env).returncode == 0
    # Every request fails with 503: the connector retries with back-off, then gives up with a sentence.
    with DepartmentSimulator(data, faults=Faults(error_rate=1.0)) as simulator:
        result = creditwh("ingest", "court", env={**env, **simulator.connection_env("court")}, timeout=600)
    assert result.returncode == 3
    assert "source_error: court/dishonest_debtor" in result.stdout
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "var").rglob("landing/court/*/*"))


def test_a_feed_not_set_up_is_reported_and_the_others_are_taken(fresh_pg15_url, tmp_path):
    """The transport bureau's two API feeds have no connection configured yet; its file feed is taken all the
    same, the missing connections are one line each, and the exit status asks for a person."""
    import datetime as dt

    from simulators.generate import generate

    data = tmp_path / "data"
    generate(data, records=600, seed=6, defect_rate=0.0, as_of=dt.date.today())
    drop = data / "files"
    assert list((drop / "transport").glob("credit_rating_*.csv")), "test setup: the bureau drops a file"
    env = {"WAREHOUSE_URL": fresh_pg15_url, "CREDITWH_VAR_DIR": str(tmp_path / "var"), "CREDITWH_DROP_DIR": str(drop)}
    assert creditwh("init", env=env).returncode == 0
    ingest = creditwh("ingest", "transport", env=env)
    assert ingest.returncode == 3, ingest.stderr
    assert "Traceback" not in ingest.stdout + ingest.stderr
    lines = [line for line in ingest.stdout.splitlines() if "setup_error" in line]
    assert len(lines) == 2 and all("dept_api_transport" in line for line in lines)
    assert {line.split(":")[1].strip().split()[0] for line in lines} == {"transport/license", "transport/penalty"}
    assert all(re.search(r"[\u4e00-\u9fff]", line) for line in lines)
    loaded = creditwh("status", env=env)
    assert re.search(r"transport\s+\d+", loaded.stdout), loaded.stdout
    # --all: the other departments are not stopped by this one
    everything = creditwh("ingest", "--all", env=env)
    assert everything.returncode == 3 and "TOTAL" in everything.stdout
    # ... and a new machine's many unset connections are one line, naming a command that exists
    hint = [line for line in everything.stdout.splitlines() if "no connection configured" in line]
    assert len(hint) == 1 and "creditwh sim ingest --all" in hint[0], everything.stdout
    assert creditwh("sim", "ingest", "--help", env=env).returncode == 0
