"""Error cells and formulas without a saved result are found in worksheet XML read block by block: the same
cells, in the same order, whatever the block size (a match may straddle two blocks)."""

from __future__ import annotations

from pathlib import Path

import pytest

import etl.stage as stage

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "files"
WORKBOOKS = ["xlsx_error_values.xlsx", "xlsx_formula_fine_without_cached_value.xlsx",
             "xlsx_formula_name_without_cached_value.xlsx", "xlsx_formulas_with_cached_values.xlsx"]


@pytest.mark.parametrize("workbook", WORKBOOKS)
def test_blocks_find_what_one_read_finds(workbook, monkeypatch):
    path = CORPUS / workbook
    monkeypatch.setattr(stage, "XML_BLOCK", 1 << 30)
    whole = stage._unreadable_cells(path)
    for block in (7, 64, 333, 4096):
        monkeypatch.setattr(stage, "XML_BLOCK", block)
        assert stage._unreadable_cells(path) == whole, f"block of {block} bytes"
    if workbook != "xlsx_formulas_with_cached_values.xlsx":
        assert whole, "the corpus workbook holds cells that cannot be read"
