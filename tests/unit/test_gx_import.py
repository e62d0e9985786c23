"""Importing GX through the pipeline leaves scipy.stats for later, and it still works when used."""

from __future__ import annotations

import subprocess
import sys

from etl import config

SCRIPT = """
import sys
import etl.validate.gx_run
import great_expectations
import great_expectations.expectations as gxe
loaded_at_import = "scipy.stats._stats_py" in sys.modules
from scipy import stats
print(loaded_at_import, round(float(stats.entropy([0.5, 0.5])), 4), "scipy.stats._stats_py" in sys.modules,
      gxe.ExpectColumnKLDivergenceToBeLessThan.__name__)
"""


def test_gx_imports_without_scipy_stats_which_loads_on_first_use():
    # A fresh interpreter: this test process may have imported scipy already.
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=config.PROJECT_ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "0.6931", "True", "ExpectColumnKLDivergenceToBeLessThan"]
