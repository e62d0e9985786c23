"""The chaos run at a small size: the nightly cycle survives 20 SIGKILLs, faulty sources and platforms and
dropped connections, and ends identical to a clean run (bench/chaos.py; `make chaos` runs it large)."""

from __future__ import annotations

import sys

import pytest

from etl import config

sys.path.insert(0, str(config.PROJECT_ROOT / "bench"))
import chaos  # noqa: E402

pytestmark = pytest.mark.e2e


def test_nightly_cycle_under_chaos_equals_a_clean_run(tmp_path, pg15_admin_url):
    report = chaos.run(records=600, seed=3, kills=20, gx=False, work=tmp_path, admin_url=pg15_admin_url,
                       log=lambda _: None)
    assert len(report["kills"]) >= 20, report["kills"]
    assert {point.split(":")[0].split(".")[0] for point in report["kills"]} >= {"push"}
    assert report["problems"] == {"clean": [], "chaos": []}
    assert report["differences"] == {}
    assert report["compared"]["facts"] > 400 and report["compared"]["outbox"] > 0
