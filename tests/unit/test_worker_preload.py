"""The worker pool's fork server imports the pipeline and GX without garbage collections, and freezes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from etl import config

SCRIPT = """
import gc, json, sys
import etl.worker_preload
print(json.dumps({"full_collections": gc.get_stats()[2]["collections"], "frozen": gc.get_freeze_count(),
                  "gx": "great_expectations" in sys.modules, "gc_on": gc.isenabled(),
                  "scipy_stats_loaded": "scipy.stats._stats_py" in sys.modules}))
"""


def _preload_report(gx: str) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=config.PROJECT_ROOT, env={**os.environ, "CREDITWH_GX": gx},
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_preload_imports_gx_without_full_collections_and_freezes_what_it_imported():
    report = _preload_report("on")
    assert report["gx"] and report["gc_on"]
    assert report["full_collections"] == 0  # with the collector on, importing GX ran 4 (freeing 56 objects)
    assert report["frozen"] > 100_000
    assert not report["scipy_stats_loaded"]  # GX's unused imports stay deferred: gx_run came first


def test_without_gx_the_preload_leaves_it_out():
    report = _preload_report("off")
    assert not report["gx"] and report["frozen"] > 0


POOL_SCRIPT = """
import json
from etl.ingest import worker_pool
if __name__ == "__main__":
    with worker_pool(1) as pool:
        gx, frozen = pool.submit(eval, "('great_expectations' in __import__('sys').modules, "
                                       "__import__('gc').get_freeze_count())").result()
    print(json.dumps({"gx": gx, "frozen": frozen}))
"""


def test_pool_workers_start_with_gx_imported_and_frozen():
    # A fresh interpreter: a process has one fork server, started with the preload of its first pool.
    out = subprocess.run([sys.executable, "-c", POOL_SCRIPT], cwd=config.PROJECT_ROOT,
                         env={**os.environ, "CREDITWH_GX": "on"}, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["gx"] and report["frozen"] > 100_000
