"""`make run`'s DAG runners: on a server metadata database two runner processes take turns at the DAGs, the
publish and indicator DAGs run after every ingest DAG has ended, and a runner that dies or a DAG folder that does
not import ends the night with one clear line, never a hang.

The runner here is a stand-in speaking `dags/_run_dags.py`'s protocol (DAG ids on stdin, a DONE line per run, a
RESULT line at the end), so that the dispatch is tested in a second; the real runner is run by the DAG tests.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from etl import config
from etl.errors import UserError
from simulators.nightly import run_dags

pytestmark = pytest.mark.unit

RUNNER = textwrap.dedent('''
    import json, os, sys, time
    assert sys.argv[1:] in (["--sync", "-"], ["--synced", "-"]), sys.argv
    broken = os.environ.get("FAKE_IMPORT_ERROR")
    if broken:
        print("DAG-TEST-RESULT " + json.dumps({"import_errors": {"ingest.py": broken}}))
        sys.exit(1)
    if os.environ.get("FAKE_UNENDED_LINE"):  # a library's half line on stderr, just before each marker
        sys.stdout = sys.stderr = os.fdopen(1, "w", buffering=1)
        _print = print
        def print(*args, **kwargs):
            sys.stderr.write("warning: half a line, ")
            _print(*args, **kwargs)
    if sys.argv[1] == "--sync":
        if os.environ.get("FAKE_SYNC_DIES"):
            sys.exit(3)
        time.sleep(0.2)  # the others are given nothing until the folder is written
        print("DAG-TEST-SYNCED " + json.dumps(time.time()), flush=True)
    results = []
    for line in sys.stdin:
        dag_id = line.strip()
        started = time.time()
        if dag_id == "dies":
            sys.exit(9)
        time.sleep(0.3 if dag_id.startswith("slow") else 0.05)
        done = {"dag_id": dag_id, "state": "success", "run_id": str(os.getpid()), "seconds": 0.1,
                "started": started, "ended": time.time()}
        print("Airflow says something on the way")
        print("DAG-TEST-DONE " + json.dumps(done), flush=True)
        results.append({**done, "start_date": f"{started:.6f}", "tasks": {}})
    print("DAG-TEST-RESULT " + json.dumps(results), flush=True)
''')

SERVER = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://postgres@127.0.0.1:5432/airflow"}
SQLITE = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////tmp/airflow.db"}


@pytest.fixture
def runner(tmp_path: Path) -> Path:
    path = tmp_path / "runner.py"
    path.write_text(RUNNER, encoding="utf-8")
    return path


def _run(runner: Path, env: dict[str, str], first: list[str], then: list[str]) -> tuple[list[dict], list[dict]]:
    heard: list[dict] = []
    runs = run_dags({**os.environ, **env}, first, then, heard.append, runner_script=runner)
    return runs, heard


def test_two_runners_take_turns_and_the_later_dags_wait_for_every_first_one(runner):
    first = ["slow_a", "b", "c", "d", "e", "slow_f"]
    runs, heard = _run(runner, SERVER, first, ["publish", "indicators"])
    assert sorted(r["dag_id"] for r in runs) == sorted([*first, "publish", "indicators"])  # each exactly once
    assert [h["dag_id"] for h in heard][-2:] == ["publish", "indicators"]
    assert len({r["run_id"] for r in runs if r["dag_id"] in first}) == 2  # two processes shared the first DAGs
    last_first_ended = max(h["ended"] for h in heard if h["dag_id"] in first)
    publish = next(h for h in heard if h["dag_id"] == "publish")
    indicators = next(h for h in heard if h["dag_id"] == "indicators")
    assert publish["started"] >= last_first_ended and indicators["started"] >= publish["ended"]


def test_no_runner_gets_a_dag_before_the_folder_is_written(runner):
    runs, heard = _run(runner, SERVER, ["a", "b", "c", "d"], [])
    log = (config.settings().var_dir / "logs" / "make-run-airflow.log").read_text(encoding="utf-8")
    [synced_at] = [float(line.split()[1]) for line in log.splitlines() if line.startswith("DAG-TEST-SYNCED")]
    assert len(runs) == 4 and min(h["started"] for h in heard) >= synced_at


def test_a_runner_that_dies_before_the_folder_is_written_ends_the_night_with_one_line(runner, monkeypatch):
    monkeypatch.setenv("FAKE_SYNC_DIES", "1")
    with pytest.raises(UserError, match="did not complete"):
        _run(runner, SERVER, ["a", "b"], ["publish"])


def test_markers_after_an_unended_line_are_still_heard(runner, monkeypatch):
    monkeypatch.setenv("FAKE_UNENDED_LINE", "1")
    runs, heard = _run(runner, SERVER, ["a", "b", "c"], ["publish"])
    assert sorted(r["dag_id"] for r in runs) == ["a", "b", "c", "publish"] and len(heard) == 4


def test_sqlite_metadata_gets_one_runner(runner):
    runs, _ = _run(runner, SQLITE, ["a", "b", "c"], ["publish"])
    assert len({r["run_id"] for r in runs}) == 1
    assert [r["dag_id"] for r in runs] == ["a", "b", "c", "publish"]


def test_more_runners_than_dags(runner):
    runs, _ = _run(runner, SERVER, ["a"], [])
    assert [r["dag_id"] for r in runs] == ["a"]


def test_a_runner_that_dies_ends_the_night_with_one_line(runner):
    with pytest.raises(UserError, match="did not complete"):
        _run(runner, SERVER, ["a", "dies", "b", "c", "d"], ["publish"])


def test_a_dag_folder_that_does_not_import_is_named(runner, monkeypatch):
    monkeypatch.setenv("FAKE_IMPORT_ERROR", "SyntaxError in ingest.py")
    with pytest.raises(UserError, match="DAG files failed to import.*SyntaxError"):
        _run(runner, SERVER, ["a", "b"], ["publish"])
