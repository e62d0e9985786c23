"""Airflow for the DAG tests: a throw-away AIRFLOW_HOME, the project's dags/ as DAGS_FOLDER.

Airflow reads its configuration once, when first imported: these variables are set when this file
is loaded, before any test module imports Airflow. Tests that need a metadata database run Airflow
in a subprocess with `airflow_env` (SQLite in a temporary directory, migrated once per session).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl import config

DAGS_DIR = config.PROJECT_ROOT / "dags"
POOLS_FILE = DAGS_DIR / "pools.json"
_HOME = Path(tempfile.mkdtemp(prefix="creditwh-airflow-home-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)

# As in the DAG processor, where the bundle's folder is on sys.path: the DAG files import `_common`.
if str(DAGS_DIR) not in sys.path:
    sys.path.append(str(DAGS_DIR))

if "airflow" not in sys.modules:
    os.environ["AIRFLOW_HOME"] = str(_HOME)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_DIR)
    os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(DAGS_DIR / "plugins")  # the timetables' plugin
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"


def known_pools() -> set[str]:
    return {"default_pool", *json.loads(POOLS_FILE.read_text(encoding="utf-8"))}


def parse_dags(**kwargs):
    """Parse dags/ as the DAG processor does (the folder is the bundle, so `_common` imports)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    sys.modules.pop("_common", None)  # parsed afresh, as in a new DAG processor child
    return BundleDagBag(DAGS_DIR, bundle_path=DAGS_DIR, known_pools=known_pools(), **kwargs)


@pytest.fixture(scope="session")
def dagbag():
    return parse_dags()


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> Iterator[dict[str, str]]:
    """Environment for Airflow subprocesses: SQLite metadata in a fresh home, migrated once."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(DAGS_DIR / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "CREDITWH_AIRFLOW_RETRY_DELAY_SECONDS": "0.1",
        "GX_ANALYTICS_ENABLED": "False",
    }
    migrated = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True,
                              text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    yield env
