"""The Data Docs site as a person on a county intranet opens it: headless Chromium with every outside address
unreachable finds each batch listed on the index, at a glance (rows in, loaded, quarantined per rule, held
or not), and no page of the site asks the network for anything."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from etl import config
from etl.report.pdf import find_chromium
from etl.validate.data_docs import build_site
from tests.integration.test_bad_input import PENALTY_HEADERS, penalty_row, run, write_csv

pytestmark = pytest.mark.integration

OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND"  # no name resolves: a CDN link would fail as on an intranet


def _dom(chromium: str, page: Path) -> str:
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", OFFLINE,
                           "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_index_lists_every_batch_offline_and_each_page_says_what_happened(warehouse, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed (.ci/run installs it)")
    clean = run(warehouse, write_csv(tmp_path / "penalty_clean.csv", [penalty_row(), penalty_row()]))
    quarantined = run(warehouse, write_csv(tmp_path / "penalty_bad.csv",
                                           [penalty_row(), penalty_row(行政相对人名称="")]))
    held_file = tmp_path / "penalty_held.csv"
    held_file.write_text(",".join([*PENALTY_HEADERS, "备注栏"]) + "\n" + ",".join([*penalty_row(), "x"]) + "\n",
                         encoding="utf-8")
    held = run(warehouse, held_file)
    assert (clean.status, quarantined.status, held.status) == ("loaded", "loaded", "held")

    site = config.settings().data_docs_dir
    index = build_site(warehouse, site)
    dom = _dom(chromium, index)
    for outcome in (clean, quarantined, held):
        row = re.search(rf'<tr[^>]*id="batch-{outcome.batch_id}".*?</tr>', dom, re.S)
        assert row, f"batch {outcome.batch_id} is not on the index"
        cells = re.sub(r"<[^>]+>", "|", row.group(0))
        assert f"|{outcome.rows_in}|" in cells and f"|{outcome.rows_quarantined}|" in cells
    assert "必填项为空 1" in re.search(rf'id="batch-{quarantined.batch_id}".*?</tr>', dom, re.S).group(0)
    held_row = re.search(rf'id="batch-{held.batch_id}".*?</tr>', dom, re.S).group(0)
    assert "整批暂扣" in held_row and "备注栏" in held_row

    page = next(p for p in (site / "validations").rglob("*.html") if f"/batch-{quarantined.batch_id}/" in p.as_posix())
    shown = _dom(chromium, page)
    assert f"批次 Batch {quarantined.batch_id}" in shown and "隔离 quarantined 1" in shown and "必填项为空" in shown
    assert "已入库" in shown  # a batch whose bad row was quarantined is loaded, not "failed"

    pages = [index, *site.rglob("validations/**/*.html"), *site.rglob("expectations/*.html")]
    assert any("expectations" in p.parts for p in pages), "the suite pages the validation pages link to exist"
    for html_page in pages:
        text = html_page.read_text(encoding="utf-8")
        assert not re.search(r"(?:src|href)=\"(?:https?:)?//", text), f"{html_page} fetches from the network"
        assert "url('https://" not in text and 'url("https://' not in text, html_page
        for local in re.findall(r"(?:src|href)=\"([^\"#?]+\.(?:css|js|png|ico|html))", text):
            assert (html_page.parent / local).resolve().exists(), f"{html_page.name}: {local} is missing"
