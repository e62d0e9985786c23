"""How long parsing dags/ takes: the median of 5 parses with Airflow's DagBag (target: under 1 s in total).

Each parse runs in a fresh interpreter, as the DAG processor parses each file in a new child process:
Airflow itself is imported first (not counted; the processor has it loaded already), then the DagBag
is built over dags/, which imports the DAG files and what they import (the catalog, pydantic) and
builds the 26 ingest DAGs and the maintenance DAG. The warm figure (same process, modules cached)
is shown for comparison.

    .venv/bin/python bench/dag_parse_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
DAGS = PROJECT / "dags"

CHILD = r"""
import json, sys, time
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag

dags = Path(sys.argv[1])
timings = []
for _ in range(int(sys.argv[2])):
    sys.modules.pop("_common", None)
    started = time.perf_counter()
    bag = BundleDagBag(dags, bundle_path=dags)
    timings.append(time.perf_counter() - started)
    assert not bag.import_errors, bag.import_errors
print(json.dumps({"timings": timings, "dags": len(bag.dags),
                  "files": {Path(s.file).name: s.duration.total_seconds() for s in bag.dagbag_stats}}))
"""


def parse_in_fresh_process(env: dict[str, str], repeats: int = 1) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, str(DAGS), str(repeats)], env=env, capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="creditwh-parse-bench-") as home:
        env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
               "AIRFLOW__CORE__PLUGINS_FOLDER": str(DAGS / "plugins"),
               "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}
        env.pop("WAREHOUSE_URL", None)
        cold = [parse_in_fresh_process(env) for _ in range(args.runs)]
        warm = parse_in_fresh_process(env, repeats=args.runs + 1)
    cold_totals = [run["timings"][0] for run in cold]
    per_file = {name: statistics.median(run["files"][name] for run in cold) for name in cold[0]["files"]}
    print(f"DAG files in {DAGS.relative_to(PROJECT)}/: {len(per_file)}, DAGs: {cold[0]['dags']}")
    for name, seconds in sorted(per_file.items(), key=lambda item: -item[1]):
        print(f"  {name:28s} median {seconds * 1000:7.1f} ms")
    print(f"parse, fresh process (as the DAG processor): median {statistics.median(cold_totals) * 1000:.0f} ms "
          f"of {args.runs} (min {min(cold_totals) * 1000:.0f}, max {max(cold_totals) * 1000:.0f})")
    print(f"parse, warm (modules cached):                median {statistics.median(warm['timings'][1:]) * 1000:.0f} ms")
    print(f"target: under 1000 ms in total -> {'met' if statistics.median(cold_totals) < 1 else 'MISSED'}")


if __name__ == "__main__":
    main()
