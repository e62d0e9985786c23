"""DAG integrity: every file imports, the ingest DAGs follow the catalog, and shared defaults hold everywhere.

Parsing needs no database, network or connection, and stays within its time budget; a broken catalog
fails the ingest file's import with the catalog file and field named, generating no DAG at all.
"""

from __future__ import annotations

import ast
import shutil
import socket
import time
from datetime import timedelta

import pytest

from etl import config
from etl.catalog import load_catalog
from tests.dags.conftest import DAGS_DIR, known_pools, parse_dags

pytestmark = [pytest.mark.unit,
              # Airflow's own .airflowignore reader, on a pathspec newer than it knows
              pytest.mark.filterwarnings("ignore:GitWildMatchPattern:DeprecationWarning")]

CATALOG = load_catalog(config.CATALOG_DIR)
INGEST_IDS = {f"ingest_{d.code}" for d in CATALOG.departments}
PARSE_BUDGET_SECONDS = 2.0  # generous for slow CI machines; bench/dag_parse_bench.py measures it properly


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert len(CATALOG.departments) == 26
    # The ingest DAGs and maintenance here; the publish and indicators DAGs live beside them.
    assert INGEST_IDS | {"maintenance"} <= set(dagbag.dags)
    assert {d for d in dagbag.dags if d.startswith("ingest_")} == INGEST_IDS


def test_shared_defaults_on_every_dag_and_task(dagbag):
    for dag in dagbag.dags.values():
        assert dag.catchup is False, dag.dag_id
        assert dag.max_active_runs == 1, dag.dag_id
        assert "creditwh" in dag.tags, dag.dag_id
        assert dag.doc_md and len(dag.doc_md) > 200, dag.dag_id
        for task in dag.tasks:
            where = f"{dag.dag_id}.{task.task_id}"
            assert task.owner == "credit-office-data", where
            assert task.retries >= 2 or task.task_id == "feeds_failed", where  # a verdict, not work: not retried
            assert task.retry_exponential_backoff == 2.0, where
            assert task.retry_delay <= timedelta(minutes=5), where
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert [(c.__module__, c.__name__) for c in callbacks] == [("_common", "notify_failure")], where


def test_doc_md_is_the_module_docstring(dagbag):
    for name, dag_id in [("ingest_departments", "ingest_tax"), ("maintenance", "maintenance")]:
        module = ast.parse((DAGS_DIR / f"{name}.py").read_text(encoding="utf-8"))
        assert dagbag.dags[dag_id].doc_md == ast.get_docstring(module, clean=False)


def test_ingest_dags_follow_the_catalog(dagbag):
    for department in CATALOG.departments:
        dag = dagbag.dags[f"ingest_{department.code}"]
        assert {"ingest", f"department:{department.code}"} <= set(dag.tags)
        # What the UI shows as the schedule: the feeds' crons with their zone.
        summary = dag.timetable.summary
        assert summary.endswith(" (Asia/Shanghai)"), summary
        assert set(summary.removesuffix(" (Asia/Shanghai)").split(", ")) == {f.schedule for f in department.feeds}
        api = [f.code for f in department.feeds if f.transport == "api"]
        other = [f.code for f in department.feeds if f.transport != "api"]
        for group, feeds in [("api_feed", api), ("feed", other)]:
            if not feeds:
                assert f"{group}.extract_feed" not in dag.task_dict
                continue
            steps = [f"{group}.extract_feed", f"{group}.stage_batch", f"{group}.validate_batch", "audit_batches",
                     "load.load_batch", "load.write_feedback"]
            for before, after in zip(steps, steps[1:], strict=False):
                assert after in dag.task_dict[before].downstream_task_ids
            mapped_group = dag.task_dict[f"{group}.extract_feed"].get_closest_mapped_task_group()
            assert mapped_group.group_id == group and mapped_group._expand_input.value["feed_code"] == feeds
        # The GX audit gate is one task per run (GX imported once), between the feeds' checks and their loads.
        assert dag.task_dict["load.load_batch"].get_closest_mapped_task_group().group_id == "load"
        record_types = {f.record_type for f in department.feeds}
        announced = {t.task_id.removeprefix("announce_"): t for t in dag.tasks if t.task_id.startswith("announce_")}
        assert set(announced) == record_types
        for record_type, task in announced.items():
            assert [a.uri for a in task.outlets] == [
                f"x-creditwh://warehouse/dw/fact_credit_record/{record_type}"]


def test_pools_on_the_right_tasks(dagbag):
    pools = known_pools()
    assert {"department_api", "platform_provincial", "platform_national"} <= pools
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert task.pool in pools, f"{dag.dag_id}.{task.task_id}"
            if task.task_id == "api_feed.extract_feed":
                assert task.pool == "department_api"
            elif dag.dag_id.startswith("ingest_"):
                assert task.pool == "default_pool", f"{dag.dag_id}.{task.task_id}"
    maintenance = dagbag.dags["maintenance"]
    assert maintenance.task_dict["reconcile_provincial"].pool == "platform_provincial"
    assert maintenance.task_dict["reconcile_national"].pool == "platform_national"
    assert set(maintenance.task_dict) == {"expire_publicity", "reconcile_provincial", "reconcile_national",
                                          "build_data_docs", "analyze_warehouse"}


def test_parsing_touches_no_database_network_or_connection(monkeypatch):
    """With an unreachable warehouse, no connections defined, and every way out blocked, parsing still works."""
    import os

    import psycopg2
    import sqlalchemy
    from airflow.sdk import Connection, Variable

    attempts: list[str] = []

    def refuse(what):
        def blocked(*args, **kwargs):
            attempts.append(what)
            raise RuntimeError(f"{what} attempted while parsing DAGs")
        return blocked

    for name in [n for n in os.environ if n.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://etl:secret@unreachable.invalid:5432/creditwh")
    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(psycopg2, "connect", refuse("psycopg2.connect"))
    monkeypatch.setattr(sqlalchemy, "create_engine", refuse("sqlalchemy.create_engine"))
    monkeypatch.setattr(Connection, "get", classmethod(refuse("Connection.get")))
    monkeypatch.setattr(Variable, "get", staticmethod(refuse("Variable.get")))

    started = time.monotonic()
    bag = parse_dags()
    elapsed = time.monotonic() - started

    assert bag.import_errors == {}
    assert attempts == []
    assert INGEST_IDS | {"maintenance"} <= set(bag.dags)
    assert elapsed < PARSE_BUDGET_SECONDS, f"parsing dags/ took {elapsed:.2f} s"


def test_broken_catalog_fails_the_import_naming_file_and_field(tmp_path, monkeypatch):
    broken = tmp_path / "catalog"
    shutil.copytree(config.CATALOG_DIR, broken, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (broken / "departments.yml").read_text(encoding="utf-8")
    (broken / "departments.yml").write_text(text.replace("transport: api", "transport: carrier-pigeon", 1),
                                            encoding="utf-8")
    monkeypatch.setenv("CREDITWH_CATALOG_DIR", str(broken))

    bag = parse_dags()

    [(path, error)] = bag.import_errors.items()
    assert path.endswith("ingest_departments.py")
    assert "Catalog file departments.yml: field departments." in error and ".transport" in error
    assert str(broken) in error
    assert not [d for d in bag.dags if d.startswith("ingest_")]  # nothing half-generated
    assert "maintenance" in bag.dags


def test_catalog_error_found_by_cross_check_is_an_import_error_too(tmp_path, monkeypatch):
    broken = tmp_path / "catalog"
    shutil.copytree(config.CATALOG_DIR, broken, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (broken / "departments.yml").read_text(encoding="utf-8")
    (broken / "departments.yml").write_text(text.replace("record_type: penalty", "record_type: penalti", 1),
                                            encoding="utf-8")
    monkeypatch.setenv("CREDITWH_CATALOG_DIR", str(broken))

    bag = parse_dags()

    [error] = bag.import_errors.values()
    assert "Catalog file departments.yml" in error and "unknown record_type 'penalti'" in error
    assert not [d for d in bag.dags if d.startswith("ingest_")]


def test_retry_delay_comes_from_the_environment(monkeypatch):
    import _common

    monkeypatch.setenv("CREDITWH_AIRFLOW_RETRY_DELAY_SECONDS", "0.5")
    assert _common.default_args()["retry_delay"] == timedelta(seconds=0.5)
    monkeypatch.delenv("CREDITWH_AIRFLOW_RETRY_DELAY_SECONDS")
    assert _common.default_args()["retry_delay"] == timedelta(minutes=2)
    monkeypatch.setenv("CREDITWH_AIRFLOW_RETRY_DELAY_SECONDS", "soon")
    with pytest.raises(ValueError, match="CREDITWH_AIRFLOW_RETRY_DELAY_SECONDS"):
        _common.default_args()
