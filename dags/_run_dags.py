"""Run DAGs with `dag.test()` in this process, in order, and print their final states as one JSON line.

`make run` (etl/main_job.py) and the DAG end-to-end tests start it as a subprocess, so that Airflow
reads its AIRFLOW_HOME and SQLite metadata database from the environment (and `etl/` never imports
Airflow):

    python dags/_run_dags.py ingest_tax ingest_court publish_publicity
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from etl.main_job import RESULT_PREFIX


def main(dag_ids: list[str]) -> int:
    from airflow.dag_processing.dagbag import BundleDagBag

    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    bag = BundleDagBag(dags, bundle_path=dags)
    if bag.import_errors:
        print(RESULT_PREFIX + json.dumps({"import_errors": bag.import_errors}))
        return 1
    results = []
    for dag_id in dag_ids:
        dag = bag.dags[dag_id]
        # dag.test() in Airflow 3.3.2 fails settling a run of a DAG with deadline alerts (it looks the
        # serialized alerts up as ids); an in-process run has no scheduler to fire them anyway.
        dag.deadline = None
        run = dag.test()
        results.append({
            "dag_id": dag_id, "state": str(run.state), "run_id": run.run_id,
            "start_date": run.start_date.isoformat() if run.start_date else None,
            "tasks": {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in run.get_task_instances()},
        })
    print(RESULT_PREFIX + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
