"""The package's layers, read from the source: what each part may import.

- `etl/` never imports Airflow (DAG files are thin and call `etl.jobs`).
- The ingest path (extract, land, stage, validate, load) never imports the delivery (`etl.publish`): the
  publicity rules and the outbox the load writes live below both, in `etl.publicity`.
- `etl.publicity` imports neither the delivery nor the load.
- The simulators and the data generator (`etl.sim`, `etl.generate`) are tools around the product: only the
  command line and `make run`'s driver start them; the pipeline never imports them, and they reach the
  pipeline only through its public doors (the catalog, the keys, the warehouse engine).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from etl import config

pytestmark = pytest.mark.unit

ETL = config.PROJECT_ROOT / "etl"


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules_importing(paths: list[Path], prefix: str) -> list[str]:
    return sorted(f"{p.relative_to(ETL)} imports {name}" for p in paths for name in imports(p)
                  if name == prefix or name.startswith(prefix + "."))


def sources(*parts: str) -> list[Path]:
    found: list[Path] = []
    for part in parts:
        target = ETL / part
        found.extend(sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")])
    return found


def test_etl_never_imports_airflow():
    assert modules_importing(sources("."), "airflow") == []


def test_the_ingest_path_never_imports_the_delivery():
    ingest_path = sources("extract", "land", "stage", "validate", "load", "ingest")
    assert modules_importing(ingest_path, "etl.publish") == []


def test_publicity_rules_sit_below_load_and_delivery():
    below = sources("publicity")
    assert modules_importing(below, "etl.publish") == []
    assert modules_importing(below, "etl.load") == []


def test_the_pipeline_never_imports_the_simulators_or_the_generator():
    tools = {ETL / "sim", ETL / "generate"}
    doors = {ETL / "cli.py", ETL / "main_job.py", ETL / "airflow_ui.py"}  # the commands that start the tools
    pipeline = [p for p in sources(".") if p not in doors and not any(t in p.parents for t in tools)]
    assert modules_importing(pipeline, "etl.sim") == []
    assert modules_importing(pipeline, "etl.generate") == []
