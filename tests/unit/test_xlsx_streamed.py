"""A workbook too large to be read whole is streamed row by row (etl.stage.STREAMED_SHEET_XML): the rows, their
Excel row numbers and every cell's text are the same whichever way the corpus workbooks are read."""

from __future__ import annotations

from pathlib import Path

import pytest

import etl.stage as stage

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "files"
# Every corpus workbook in the OOXML format that has a readable first sheet (.xls is only ever read whole).
WORKBOOKS = sorted(p.name for p in CORPUS.glob("xlsx_*.xlsx")
                   if p.name not in {"xlsx_csv_renamed.xlsx", "xlsx_encrypted_ole.xlsx", "xlsx_truncated.xlsx",
                                     "xlsx_zero_bytes.xlsx"})


def _read(path: Path) -> tuple[list, list[str], list[str]]:
    other_sheets: list[str] = []
    unreadable: list[str] = []
    rows = list(stage._read_xlsx(path, other_sheets, unreadable))
    return rows, other_sheets, unreadable


@pytest.mark.parametrize("workbook", WORKBOOKS)
def test_a_streamed_sheet_reads_as_a_sheet_read_whole(workbook, monkeypatch):
    path = CORPUS / workbook
    whole = _read(path)
    monkeypatch.setattr(stage, "STREAMED_SHEET_XML", -1)
    assert _read(path) == whole


def test_the_generated_workbooks_read_the_same_both_ways(tmp_path, monkeypatch):
    """A department's full export as the generator writes it (typed dates, numbers, Chinese text, blanks)."""
    import datetime as dt

    from simulators.generate import generate

    generate(tmp_path / "data", records=3000, seed=5, defect_rate=0.05, as_of=dt.date(2026, 12, 3))
    workbooks = sorted((tmp_path / "data").rglob("*.xlsx"))
    assert workbooks
    for path in workbooks:
        monkeypatch.setattr(stage, "STREAMED_SHEET_XML", 64 << 20)
        whole = _read(path)
        monkeypatch.setattr(stage, "STREAMED_SHEET_XML", -1)
        assert _read(path) == whole, path.name
