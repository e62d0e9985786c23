"""The credit report (信用报告) over a generated, ingested warehouse, and how it looks in a browser.

The HTML is checked for its sections, numbers and masking; headless Chromium (Debian's `chromium` with
`fonts-noto-cjk`) takes a screenshot, which must show a filled page drawn with real Chinese glyphs,
and prints the PDF. Without Chromium the browser tests skip with a message, and fail when CI is set.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from etl.catalog import catalog
from etl.check import check_rows, seed_measures
from etl.check.cli import report as report_command
from etl.codes import is_valid_id_number
from etl.errors import UserError
from etl.ingest import ingest_department
from etl.migrate import migrate
from etl.personal import mask_id
from etl.reference import seed_reference_data
from etl.report import issue_report
from etl.report.pdf import find_chromium, print_pdf, screenshot
from simulators.departments import DepartmentSimulator
from simulators.generate import generate
from tests.conftest import DatabaseFactory

pytestmark = pytest.mark.integration

RECORDS = 2500
CHINA = ZoneInfo("Asia/Shanghai")
IN_CI = bool(os.environ.get("CI"))
ID_LIKE = re.compile(r"(?<![0-9A-Z])[0-9]{17}[0-9X](?![0-9A-Z])")
SECTIONS = ["登记注册基本信息", "行政许可", "行政处罚", "荣誉信息（红名单）", "严重失信主体名单", "经营异常名录",
            "信用承诺", "信用评价", "司法信息（失信被执行人）", "信用建议"]


def today() -> dt.date:
    return dt.datetime.now(CHINA).date()


@dataclass
class Warehouse:
    engine: Engine
    url: str
    firm: str  # penalties in their publicity window and a blacklist entry
    penalty_documents: list[str]
    person: str  # a natural person with records


@pytest.fixture(scope="module")
def wh(admin_url_for, tmp_path_factory) -> Iterator[Warehouse]:
    """One server suffices here: the judging SQL is covered on both by test_credit_check."""
    factory = DatabaseFactory(admin_url_for("embedded"))
    data = tmp_path_factory.mktemp("report_departments") / "data"
    generate(data, records=RECORDS, seed=4242, defect_rate=0.02, as_of=today())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CREDITWH_VAR_DIR", str(tmp_path_factory.mktemp("report_var")))
        mp.setenv("CREDITWH_GX", "off")
        mp.delenv("WAREHOUSE_URL", raising=False)
        try:
            engine = factory.create()
            migrate(engine)
            cat = catalog()
            seed_reference_data(engine, cat)
            seed_measures(engine)
            with DepartmentSimulator(data) as sim:
                for key, value in sim.connection_env().items():
                    mp.setenv(key, value)
                for department in cat.departments:
                    ingest_department(engine, cat, department, file_drop_dir=sim.file_drop_dir)
            with engine.connect() as conn:
                firms = list(conn.scalars(sa.text(
                    "SELECT subject_code FROM dw.dim_subject WHERE is_current AND code_kind = 'uscc' ORDER BY 1")))
            firm = next((c for c, r in zip(firms, check_rows(engine, [(c, None) for c in firms], "测试"), strict=True)
                         if r.active_penalty_count and (r.is_on_serious_dishonesty_list or r.is_dishonest_debtor)),
                        None)
            with engine.connect() as conn:
                documents = list(conn.scalars(sa.text("""
                    SELECT f.document_number FROM dw.fact_credit_record f JOIN dw.dim_subject s USING (subject_key)
                      JOIN dw.dim_record_type t USING (record_type_key)
                     WHERE s.subject_code = :c AND t.record_type_code = 'penalty' AND f.status = 'active'
                       AND current_date BETWEEN f.publicity_start AND f.publicity_end"""), {"c": firm}))
                person = conn.scalar(sa.text("""
                    SELECT s.subject_code FROM dw.dim_subject s JOIN dw.fact_credit_record f USING (subject_key)
                     WHERE s.is_current AND s.code_kind = 'id_number'
                     GROUP BY s.subject_code ORDER BY count(*) DESC, s.subject_code LIMIT 1"""))
            assert firm and documents and person
            yield Warehouse(engine, engine.url.render_as_string(hide_password=False), firm, documents, person)
        finally:
            factory.drop_all()


def chromium_or_skip() -> str:
    binary = find_chromium()
    if binary is None:
        message = ("Chromium is not installed, so the report cannot be looked at; install it with "
                   "`apt-get install -y chromium fonts-noto-cjk`")
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return binary


@pytest.fixture(scope="module")
def firm_report(wh, tmp_path_factory) -> tuple[Path, float]:
    out = tmp_path_factory.mktemp("reports") / "firm.html"
    started = time.perf_counter()
    issued = issue_report(wh.engine, wh.firm, out, purpose="财政补贴申报审核")
    elapsed = time.perf_counter() - started
    print(f"\nreport generation (HTML): {elapsed:.3f} s")
    return issued.html_path, elapsed


def _valid_id_numbers(text: str) -> list[str]:
    return [m for m in ID_LIKE.findall(text) if is_valid_id_number(m)]


def test_report_has_every_section_and_the_findings(wh, firm_report):
    path, elapsed = firm_report
    html = path.read_text(encoding="utf-8")
    positions = [html.index(f"、</span>{title}") for title in SECTIONS]  # the numbered section headings
    assert positions == sorted(positions)
    assert "法人和非法人组织公共信用信息报告" in html and wh.firm in html
    assert re.search(r"报告编号：<b class=\"mono\">XY410523\d{8}\d{6}</b>", html)
    for document in wh.penalty_documents:
        assert document in html
    assert "一票否决" in html and "数据截至" in html and "出具单位" in html and "财政补贴申报审核" in html
    assert "示范县发展和改革局" in html  # the office from the catalog
    assert "信用修复" in html  # a suggestion for the penalties
    assert _valid_id_numbers(html) == []  # legal representatives' ID numbers never reach the page
    assert elapsed < 5


def test_reports_are_numbered_and_logged(wh, firm_report, tmp_path):
    second = issue_report(wh.engine, wh.firm, tmp_path / "again.html", purpose="公务员招录")
    with wh.engine.connect() as conn:
        logged = conn.execute(sa.text("""
            SELECT r.report_no, r.verdict, s.subject_code
              FROM audit.credit_report r JOIN dw.dim_subject s USING (subject_key)
             ORDER BY r.report_id""")).all()
    assert len({r.report_no for r in logged}) == len(logged) >= 2
    assert logged[-1].report_no == second.report_no and logged[-1].subject_code == wh.firm
    assert logged[-1].verdict == "veto"
    with wh.engine.connect() as conn:  # the check behind the report is in the credit query log, with its purpose
        query = conn.execute(sa.text("SELECT application, purpose, found FROM audit.credit_query "
                                     "ORDER BY query_id DESC LIMIT 1")).one()
    assert tuple(query) == ("creditwh report", "公务员招录", 1)


def test_a_persons_report_masks_the_id_number(wh, tmp_path):
    issued = issue_report(wh.engine, wh.person, tmp_path / "person.html", purpose="公务员招录")
    html = issued.html_path.read_text(encoding="utf-8")
    assert "自然人公共信用信息报告" in html
    assert mask_id(wh.person) in html and wh.person not in html
    assert _valid_id_numbers(html) == []


def test_no_report_for_an_unknown_or_invalid_code(wh, tmp_path):
    with pytest.raises(UserError, match="no record of this subject"):
        issue_report(wh.engine, "91440300708461136T", tmp_path / "unknown.html", purpose="公务员招录")
    with pytest.raises(UserError, match=r"4\*{16}4"):  # an unrecognised number: at least half hidden
        issue_report(wh.engine, "410523199001011234", tmp_path / "invalid.html", purpose="公务员招录")
    assert not list(tmp_path.glob("*.html"))


def test_report_command(wh, tmp_path, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", wh.url)
    out = tmp_path / "cli.html"
    run = CliRunner().invoke(report_command, [wh.firm, "--out", str(out), "--purpose", "公务员招录"],
                             catch_exceptions=False)
    assert run.exit_code == 0, run.output
    assert "XY410523" in run.output and out.is_file()
    bad = CliRunner().invoke(report_command, [wh.firm, "--out", str(tmp_path / "x.docx")])
    assert isinstance(bad.exception, UserError)


# -- in a browser ---------------------------------------------------------------------------------------


def _ink(png: Path, box: tuple[int, int, int, int] | None = None) -> tuple[float, object]:
    """Share of pixels that are not (near) white or the page background, and the image."""
    from PIL import Image

    image = Image.open(png).convert("L")
    if box:
        image = image.crop(box)
    histogram = image.histogram()
    dark = sum(histogram[:200])
    return dark / (image.width * image.height), image


def test_screenshot_shows_a_filled_page_in_chinese(firm_report, tmp_path):
    chromium_or_skip()
    pytest.importorskip("PIL", reason="Pillow measures the screenshot")
    path, _ = firm_report
    png = screenshot(path, tmp_path / "report.png", width=1240, height=1754)
    assert png.stat().st_size > 80_000
    ink, image = _ink(png)
    assert image.size == (1240, 1754)
    assert ink > 0.02, f"only {ink:.1%} of the page is drawn: mostly blank"


def test_chinese_text_is_drawn_with_cjk_glyphs_not_boxes(tmp_path):
    """The same text drawn with the report's fonts must differ from missing-glyph boxes (tofu)."""
    chromium_or_skip()
    pytest.importorskip("PIL", reason="Pillow compares the screenshots")
    from PIL import ImageChops

    css = (Path(__file__).resolve().parents[2] / "etl" / "report" / "templates" / "report.css").read_text("utf-8")
    shots = []
    for name, text in (("chinese", "信用报告严重失信"), ("tofu", "\u0378\u0379\u0380\u0381\u0382\u0383\u038b\u038d")):
        page = tmp_path / f"{name}.html"
        page.write_text(f"<!DOCTYPE html><html lang='zh-CN'><meta charset='utf-8'><style>{css}"
                        f" body{{padding:0;background:#fff}} p{{font-size:64px;margin:20px}}</style>"
                        f"<body><p>{text}</p></body></html>", encoding="utf-8")
        shots.append(screenshot(page, tmp_path / f"{name}.png", width=800, height=200))
    (ink_zh, zh), (_, tofu) = _ink(shots[0]), _ink(shots[1])
    assert ink_zh > 0.01, "the Chinese text left no ink"
    difference = ImageChops.difference(zh, tofu).point(lambda v: 255 if v > 64 else 0).histogram()[255]
    assert difference > 0.02 * zh.width * zh.height, "Chinese characters look like missing-glyph boxes"


def test_a_pdf_only_report_leaves_an_html_of_that_name_alone_and_names_its_number_once(wh, tmp_path, monkeypatch):
    chromium_or_skip()
    from click.testing import CliRunner

    from etl.check.cli import report

    (tmp_path / "r.html").write_text("an earlier report the clerk keeps", encoding="utf-8")
    monkeypatch.setenv("WAREHOUSE_URL", wh.url)
    run = CliRunner().invoke(report, [wh.firm, "--out", str(tmp_path / "r.pdf"), "--purpose", "公务员招录"],
                             catch_exceptions=False)
    assert run.exit_code == 0, run.output
    numbers = re.findall(r"XY\d{20}", run.output)
    assert len(numbers) == 1 and str(tmp_path / "r.pdf") in run.output
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == "an earlier report the clerk keeps"
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.pdf"]


def test_pdf_is_printed(wh, firm_report, tmp_path):
    chromium_or_skip()
    path, _ = firm_report
    started = time.perf_counter()
    pdf = print_pdf(path, tmp_path / "report.pdf")
    print(f"\nPDF printing: {time.perf_counter() - started:.2f} s")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 30_000
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 2  # A4 pages, more than one
