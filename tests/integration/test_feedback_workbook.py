"""The feedback workbook (问题数据退回) as a department clerk uses it: rows numbered as the clerk's own file
numbers them, each problem with the record's document number and subject, the department's own header beside
the standard field, what is allowed, the reason in Chinese first; a summary sheet; laid out for printing and,
rendered by LibreOffice, every column on the width of a landscape page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from etl.catalog import catalog
from etl.feedback import write_feedback
from tests.integration.test_bad_input import PENALTY_HEADERS, penalty_row, run

pytestmark = pytest.mark.integration


def _csv_with_blank_and_multiline_lines(path: Path) -> Path:
    """Line 1 header; 2 good; 3 blank; 4 bad category; 5-6 a good row whose text spans two lines; 7 no name."""
    def line(row: list[str]) -> str:
        return ",".join(f'"{v}"' if ("\n" in v or "," in v) else v for v in row)

    lines = [",".join(PENALTY_HEADERS), line(penalty_row()), "",
             line(penalty_row(处罚类别="罚没款", 行政处罚决定书文号="示卫罚〔2025〕4号")),
             line(penalty_row(违法事实="销售过期药品\n（第二次）")),
             line(penalty_row(行政相对人名称="", 行政处罚决定书文号="示卫罚〔2025〕7号"))]
    path.write_bytes("\r\n".join(lines).encode("gb18030") + b"\r\n")
    return path


def _problems(path: Path) -> list[dict]:
    sheet = load_workbook(path)["问题数据"]
    rows = list(sheet.iter_rows(values_only=True))
    heading = next(i for i, row in enumerate(rows) if row[1] == "决定文书号")
    return [dict(zip(rows[heading], row, strict=True)) for row in rows[heading + 1:]]


def test_rows_are_numbered_as_the_department_sees_its_csv_file(warehouse, tmp_path):
    outcome = run(warehouse, _csv_with_blank_and_multiline_lines(tmp_path / "penalty_lines.csv"))
    problems = _problems(write_feedback(warehouse, catalog(), outcome.batch_id))
    by_line = {p["CSV 行号"]: p for p in problems}
    assert sorted(by_line) == [4, 7]
    category, name = by_line[4], by_line[7]
    assert category["决定文书号"] == "示卫罚〔2025〕4号" and category["主体名称"] == "示范县康宁大药房有限公司"
    assert category["贵单位表头"] == "处罚类别"
    assert category["所填内容"] == "罚没款"
    allowed = catalog().record_type_by_code["penalty"].field_by_code[
        catalog().department_by_code["health"].feeds[-1].columns.get("处罚类别", "CF_CFLB")]
    assert all(label in category["允许的值"] for label in allowed.allowed)
    assert category["规则"].startswith("取值不在允许范围") and "allowed_values" in category["规则"]
    assert category["问题说明"].startswith("字段“") and category["Problem (English)"].startswith("Field ")
    assert name["决定文书号"] == "示卫罚〔2025〕7号" and name["贵单位表头"] == "行政相对人名称"
    assert name["规则"].startswith("必填项为空")


def test_rows_are_numbered_as_excel_shows_them(warehouse, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append([])  # a title row left blank above the header
    sheet.append(PENALTY_HEADERS)
    sheet.append(penalty_row())                       # Excel row 3
    sheet.append([])                                  # row 4 blank
    sheet.append(penalty_row(处罚决定日期="2025-13-40"))  # row 5
    book.save(tmp_path / "penalty_excel.xlsx")
    outcome = run(warehouse, tmp_path / "penalty_excel.xlsx", fmt="xlsx")
    problems = _problems(write_feedback(warehouse, catalog(), outcome.batch_id))
    assert [(p["Excel 行号"], p["贵单位表头"]) for p in problems] == [(5, "处罚决定日期")]


def test_summary_sheet_and_print_layout(warehouse, tmp_path):
    outcome = run(warehouse, _csv_with_blank_and_multiline_lines(tmp_path / "penalty_summary.csv"))
    book = load_workbook(write_feedback(warehouse, catalog(), outcome.batch_id))
    assert book.sheetnames == ["汇总", "问题数据"]
    summary = {row[0]: row[1] for row in book["汇总"].iter_rows(values_only=True) if row[0]}
    assert summary["收到行数 Rows received"] == 4 and summary["退回行数 Rows returned"] == 2
    assert summary["入库行数 Rows loaded"] + summary["未变化行数 Rows unchanged"] == 2
    assert "已入库" in summary["整批状态 Batch status"]
    assert any(str(label).startswith("取值不在允许范围") for label in summary)
    for sheet in book.worksheets:
        setup = sheet.page_setup
        assert setup.orientation == "landscape" and setup.paperSize == 9
        fit = (setup.fitToWidth or 1, setup.fitToHeight)  # a width of 1 page is the default, left out of the file
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and fit == (1, 0)
    assert book["问题数据"].print_title_rows == "$3:$3"


def test_a_held_batch_says_so_on_its_summary(warehouse, tmp_path):
    path = tmp_path / "penalty_unknown_column.csv"
    path.write_text(",".join([*PENALTY_HEADERS, "备注栏"]) + "\n" + ",".join([*penalty_row(), "x"]) + "\n",
                    encoding="utf-8")
    outcome = run(warehouse, path)
    assert outcome.status == "held"
    book = load_workbook(write_feedback(warehouse, catalog(), outcome.batch_id))
    summary = {row[0]: row[1] for row in book["汇总"].iter_rows(values_only=True) if row[0]}
    status = summary["整批状态 Batch status"]
    assert status.startswith("整批暂扣，未入库") and "备注栏" in status
    assert summary["入库行数 Rows loaded"] == 0


def test_rendered_by_libreoffice_every_column_fits_a_landscape_page(warehouse, tmp_path):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None or shutil.which("pdftotext") is None:
        pytest.skip("LibreOffice and poppler-utils are not installed (.ci/run installs them)")
    rows = [penalty_row(处罚类别="罚没款", 违法事实="销售过期药品，" * 20) for _ in range(60)]
    path = tmp_path / "penalty_many.csv"
    path.write_text("\n".join(",".join(f'"{v}"' for v in row) for row in [PENALTY_HEADERS, *rows]) + "\n",
                    encoding="utf-8")
    outcome = run(warehouse, path)
    workbook = write_feedback(warehouse, catalog(), outcome.batch_id)
    profile = tmp_path / "lo-profile"
    subprocess.run([soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
                    "--outdir", str(tmp_path), str(workbook)], check=True, capture_output=True, timeout=180)
    pdf = tmp_path / (workbook.stem + ".pdf")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    width, height = (float(v) for v in next(line for line in info.splitlines()
                                             if line.startswith("Page size:")).split()[2:5:2])
    assert width > height, "pages are landscape"
    pages = int(next(line for line in info.splitlines() if line.startswith("Pages:")).split()[1])
    texts = [subprocess.run(["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
                            capture_output=True, text=True, check=True).stdout for page in range(1, pages + 1)]
    problem_pages = [text for text in texts if "问题说明" in text]
    assert len(problem_pages) >= 2, "60 problems with long texts take more than one page"
    for text in problem_pages:  # the heading row repeats, with every column, on every page of problems
        assert all(h in text for h in ("CSV 行号", "决定文书号", "允许的值", "Problem (English)"))
    assert "收到行数" in texts[0] and "行号说明" in texts[0]
