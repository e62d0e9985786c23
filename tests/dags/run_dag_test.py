"""Run DAGs with `dag.test()` in this process, in order, and print their final states as one JSON line.

Used by the DAG end-to-end tests in a subprocess, so that Airflow reads a throw-away AIRFLOW_HOME
and SQLite metadata database from the environment without touching the test process:

    python -m tests.dags.run_dag_test ingest_tax ingest_court ingest_tax
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

RESULT_PREFIX = "DAG-TEST-RESULT "


def main(dag_ids: list[str]) -> int:
    from airflow.dag_processing.dagbag import BundleDagBag

    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    bag = BundleDagBag(dags, bundle_path=dags)
    if bag.import_errors:
        print(RESULT_PREFIX + json.dumps({"import_errors": bag.import_errors}))
        return 1
    results = []
    for dag_id in dag_ids:
        run = bag.dags[dag_id].test()
        results.append({
            "dag_id": dag_id, "state": str(run.state), "run_id": run.run_id,
            "start_date": run.start_date.isoformat() if run.start_date else None,
            "tasks": {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in run.get_task_instances()},
        })
    print(RESULT_PREFIX + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
