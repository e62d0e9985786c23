"""Importing GX through the pipeline leaves scipy.stats and altair for later, and both work when used."""

from __future__ import annotations

import json
import subprocess
import sys

from etl import config

SCRIPT = """
import json, sys
import etl.validate.gx_run
import great_expectations
import great_expectations.expectations as gxe
from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl_module
loaded_at_import = {name: name in sys.modules for name in ("scipy.stats._stats_py", "altair.vegalite")}
from scipy import stats
entropy = round(float(stats.entropy([0.5, 0.5])), 4)
chart = kl_module.alt.Chart().mark_bar().to_dict()["mark"]["type"]  # GX's own reference to altair
import altair
print(json.dumps({"loaded_at_import": loaded_at_import, "entropy": entropy, "chart": chart,
                  "loaded_after_use": [name for name in ("scipy.stats._stats_py", "altair.vegalite")
                                       if name in sys.modules],
                  "same_altair": sys.modules["altair"] is altair and hasattr(altair, "Chart"),
                  "expectation": gxe.ExpectColumnKLDivergenceToBeLessThan.__name__}))
"""


def test_gx_imports_without_scipy_stats_and_altair_which_load_on_first_use():
    # A fresh interpreter: this test process may have imported both already.
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=config.PROJECT_ROOT, capture_output=True, text=True,
                         check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["loaded_at_import"] == {"scipy.stats._stats_py": False, "altair.vegalite": False}
    assert report["entropy"] == 0.6931
    assert report["chart"] == "bar"
    assert report["loaded_after_use"] == ["scipy.stats._stats_py", "altair.vegalite"]
    assert report["same_altair"] is True
    assert report["expectation"] == "ExpectColumnKLDivergenceToBeLessThan"


THREADS_SCRIPT = """
import sys, threading
import etl.validate.gx_run
from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl_module
barrier, errors = threading.Barrier(8), []
def use():
    barrier.wait()
    try:
        kl_module.stats.ks_2samp([1, 2, 3], [1, 2, 3])
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=use) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(errors), errors[:1])
"""


def test_threads_using_a_deferred_module_at_once_all_get_it_complete():
    out = subprocess.run([sys.executable, "-c", THREADS_SCRIPT], cwd=config.PROJECT_ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split()[0] == "0", out.stdout
