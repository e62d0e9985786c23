"""The package's layers, read from the source: what each part may import.

- `etl/` never imports Airflow (DAG files are thin and call `etl.jobs`).
- The ingest path (extract, land, stage, validate, load) never imports the delivery (`etl.publish`): the
  publicity rules and the outbox the load writes live below both, in `etl.publicity`.
- `etl.publicity` imports neither the delivery nor the load.
- The simulators, the data generator and `make run`'s driver are tools around the product, in a package of
  their own (`simulators`): nothing under `etl/` imports it; their commands join `creditwh` through entry
  points.
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
    assert modules_importing(sources("."), "simulators") == []
    assert not (ETL / "sim").exists() and not (ETL / "generate").exists()


def test_the_tools_join_the_command_line_through_entry_points():
    from etl.cli import cli

    assert {"generate", "sim", "run", "airflow"} <= set(cli.commands)
    assert "ingest" in cli.commands["sim"].commands
