"""Airflow distributed: CeleryExecutor with two workers runs ingest DAGs triggered through the REST API.

Real processes, as in production: `airflow api-server`, `scheduler`, `dag-processor` and two `airflow
celery worker`s (Celery node names w1@host and w2@host, two slots each), Redis as the broker (a DB
number of its own, flushed before and after), PostgreSQL for Airflow's metadata and as the Celery
result backend (a throw-away database on the PostgreSQL 15 service), the warehouse in another
throw-away database, and the department simulator serving generated data. Two ingest DAGs are
triggered through the public API (`/api/v2`, with a JWT from `/auth/token`); every run must succeed,
the task instances must have run on both workers (each worker reports its own hostname), and every
batch must account for its rows.

Redis at 127.0.0.1:6379 (`TEST_REDIS_URL` to change) is needed: outside CI the test is skipped
without it, with `CI` set its absence is a failure. Every process is killed with its process group at the end.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
import sqlalchemy as sa

from etl import config
from etl.catalog import catalog
from etl.migrate import migrate
from etl.reference import seed_reference_data
from simulators.departments import DepartmentSimulator
from simulators.generate import generate
from tests.conftest import IN_CI, DatabaseFactory, _free_port

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_DB = 13  # a database of our own on a shared Redis
DEPARTMENTS = ("court", "education")  # 1 and 2 feeds (API and file): 20 task instances over the two workers
WORKERS = ("w1", "w2")
RUN_TIMEOUT = 150


def worker_hostname() -> str:
    """`[core] hostname_callable` of the test's workers: each reports its own name on its task instances."""
    return os.environ["CREDITWH_TEST_WORKER_NAME"]


@pytest.fixture
def redis_url():
    import redis

    url = f"{REDIS_URL.rstrip('/')}/{REDIS_DB}"
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        message = f"Redis at {REDIS_URL} unreachable ({exc}); the CeleryExecutor test needs it as broker"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


class Processes:
    """Long-running Airflow processes, each in its own process group, logging to a file."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        self.running[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args], cwd=config.PROJECT_ROOT, env={**self.env, **(env or {})},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def check_alive(self) -> None:
        for name, process in self.running.items():
            assert process.poll() is None, f"{name} exited with {process.returncode}:\n{self.tail(name)}"

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.running.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            with contextlib.suppress(ProcessLookupError):  # the whole group: task runners, Celery pool children
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _airflow(env: dict[str, str], *args: str, timeout: int = 240) -> None:
    done = subprocess.run([sys.executable, "-m", "airflow", *args], cwd=config.PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"airflow {' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


def _progress(started: float, what: str) -> None:
    print(f"{time.monotonic() - started:6.1f} s  {what}", flush=True)  # shown by pytest when the test fails


def _wait(what: str, check, processes: Processes, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check_alive()
        try:
            result = check()
        except requests.RequestException:
            result = None
        if result:
            return result
        time.sleep(interval)
    logs = "\n".join(f"--- {name}\n{processes.tail(name)}" for name in processes.running)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def test_ingest_dags_run_on_two_celery_workers(redis_url, pg15_admin_url, tmp_path):
    started = time.monotonic()
    factory = DatabaseFactory(pg15_admin_url)
    processes: Processes | None = None
    try:
        metadata = factory.create()
        warehouse = factory.create()
        migrate(warehouse)
        seed_reference_data(warehouse, catalog())
        data = tmp_path / "data"
        generate(data, records=400, seed=5, defect_rate=0.05, as_of=dt.datetime.now(ZoneInfo("Asia/Shanghai")).date())

        with DepartmentSimulator(data) as simulator:
            port = _free_port()
            api = f"http://127.0.0.1:{port}"
            metadata_url = metadata.url.render_as_string(hide_password=False)
            env = {
                **os.environ, **simulator.connection_env(),
                "PYTHONPATH": str(config.PROJECT_ROOT),
                "AIRFLOW_HOME": str(tmp_path / "airflow"),
                "AIRFLOW__CORE__DAGS_FOLDER": str(config.PROJECT_ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(config.PROJECT_ROOT / "dags" / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
                "AIRFLOW__CELERY__BROKER_URL": redis_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url,
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                # Only the runs the test triggers: unpausing would otherwise start the latest scheduled run
                # first (catchup=False still runs the most recent interval), and max_active_runs=1 queues ours.
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "WAREHOUSE_URL": warehouse.url.render_as_string(hide_password=False),
                "CREDITWH_VAR_DIR": str(tmp_path / "var"),  # shared by both workers, as the compose volume is
                "CREDITWH_DROP_DIR": str(simulator.file_drop_dir),
                "CREDITWH_GX": "off",
                "CREDITWH_AIRFLOW_RETRY_DELAY_SECONDS": "1",
                "GX_ANALYTICS_ENABLED": "False",
            }
            _progress(started, "warehouse, data and simulator ready")
            _airflow(env, "db", "migrate")
            _airflow(env, "pools", "import", str(config.PROJECT_ROOT / "dags" / "pools.json"))
            _progress(started, "Airflow metadata migrated, pools imported")

            processes = Processes(tmp_path, env)
            processes.start("api-server", "api-server", "--port", str(port), "--host", "127.0.0.1", "--workers", "1")
            processes.start("scheduler", "scheduler")
            processes.start("dag-processor", "dag-processor")
            for name in WORKERS:
                processes.start(f"worker-{name}", "celery", "worker", "--celery-hostname", f"{name}@%h",
                                "--concurrency", "2", "--skip-serve-logs", "--without-gossip", "--without-mingle",
                                env={"CREDITWH_TEST_WORKER_NAME": name, "AIRFLOW__CORE__HOSTNAME_CALLABLE":
                                     "tests.integration.test_celery_distributed.worker_hostname"})

            def healthy():
                health = requests.get(f"{api}/api/v2/monitor/health", timeout=5)
                return health.ok and all((health.json().get(part) or {}).get("status") == "healthy"
                                         for part in ("metadatabase", "scheduler", "dag_processor"))

            _wait("the api-server, scheduler and dag-processor", healthy, processes, 90)
            _progress(started, "api-server, scheduler and dag-processor up")
            token = requests.get(f"{api}/auth/token", timeout=10).json()["access_token"]
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            dag_ids = [f"ingest_{d}" for d in DEPARTMENTS]
            for dag_id in dag_ids:
                _wait(f"{dag_id} to be parsed", lambda d=dag_id: session.get(f"{api}/api/v2/dags/{d}", timeout=5).ok,
                      processes, 90)
            _progress(started, "DAGs parsed")
            runs = {}
            for dag_id in dag_ids:
                assert session.patch(f"{api}/api/v2/dags/{dag_id}", json={"is_paused": False}, timeout=10).ok
                triggered = session.post(f"{api}/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None},
                                         timeout=10)
                assert triggered.ok, triggered.text
                runs[dag_id] = triggered.json()["dag_run_id"]

            def finished():
                states = {d: session.get(f"{api}/api/v2/dags/{d}/dagRuns/{r}", timeout=5).json()["state"]
                          for d, r in runs.items()}
                return states if all(s in ("success", "failed") for s in states.values()) else None

            states = _wait("the triggered runs", finished, processes, RUN_TIMEOUT, interval=2)
            _progress(started, f"runs finished: {states}")
            task_instances = {d: session.get(f"{api}/api/v2/dags/{d}/dagRuns/{r}/taskInstances", timeout=10)
                              .json()["task_instances"] for d, r in runs.items()}
            problems = {d: [(t["task_id"], t["map_index"], t["state"]) for t in tis if t["state"] != "success"]
                        for d, tis in task_instances.items()}
            logs = "\n".join(f"--- {name}\n{processes.tail(name)}" for name in processes.running)
            assert set(states.values()) == {"success"}, (states, problems, logs)

        with warehouse.connect() as conn:
            batches = conn.execute(sa.text("""
                SELECT department_code, feed_code, status, rows_in, rows_loaded, rows_unchanged, rows_quarantined
                  FROM audit.batch"""), {}).all()
    finally:
        if processes is not None:
            processes.stop_all()
        factory.drop_all()

    # Both workers took tasks: each reports its own name as the task instances' hostname.
    watchers = [t for tis in task_instances.values() for t in tis if t["task_id"] == "feeds_failed"]
    assert len(watchers) == len(DEPARTMENTS) and {t["state"] for t in watchers} == {"skipped"}  # nothing failed
    ran = {d: [t for t in tis if t["task_id"] != "feeds_failed"] for d, tis in task_instances.items()}
    placed = {d: [(t["task_id"], t["map_index"], t["hostname"]) for t in tis] for d, tis in ran.items()}
    assert {t["hostname"] for tis in ran.values() for t in tis} == set(WORKERS), json.dumps(placed)
    feeds = {(d, f.code) for d in DEPARTMENTS for f in catalog().department_by_code[d].feeds}
    # five steps per feed, one audit per run, one announcement per record type of each department
    announcements = sum(len({f.record_type for f in catalog().department_by_code[d].feeds}) for d in DEPARTMENTS)
    assert sum(len(tis) for tis in ran.values()) == 5 * len(feeds) + len(DEPARTMENTS) + announcements
    assert {(b.department_code, b.feed_code) for b in batches} == feeds
    assert {b.status for b in batches} == {"loaded"}
    assert all(b.rows_in == b.rows_loaded + b.rows_unchanged + b.rows_quarantined for b in batches)
    _progress(started, "done")
