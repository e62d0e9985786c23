"""Credit report (信用报告) for one subject: HTML from a Jinja2 template, optionally printed to PDF.

The sections follow the national public credit information report: registration, licences,
penalties, honours (red list), serious dishonesty list, abnormal operation list, commitments,
ratings, judicial information (dishonest judgment debtor) and suggestions derived from the findings.
Every report gets a number and a row in audit.credit_report; the HTML is self-contained (styles
inline, no web fonts), so it can be archived, mailed, or printed by headless Chromium (etl.report.pdf).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy.engine import Engine

from etl.catalog import Catalog, catalog
from etl.check.core import check_code
from etl.config import CHINA
from etl.errors import UserError, check_writable
from etl.output import replaced_when_complete
from etl.report.data import ReportData, build_report_data

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "credit_report.html.j2"


@dataclass(frozen=True)
class IssuedReport:
    report_no: str
    html_path: Path | None  # None when only a PDF was asked for
    pdf_path: Path | None
    verdict: str
    seconds_data: float
    seconds_render: float
    seconds_pdf: float

    @property
    def seconds(self) -> float:
        return self.seconds_data + self.seconds_render + self.seconds_pdf


def default_office(cat: Catalog) -> str:
    """The issuing office: the county's credit office inside its development and reform bureau."""
    bureau = cat.department_by_code.get("development_reform")
    if bureau is None:
        return f"{cat.county.name_zh}社会信用体系建设领导小组办公室"
    return cat.county.name_zh + bureau.name_zh.removeprefix("县").removeprefix("市")


def css_string(value: object) -> Markup:
    """A quoted CSS string (for @page margin boxes): HTML escaping does not apply inside <style>."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ").replace("\n", " ")
    return Markup(f'"{text}"')


def _environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["css_string"] = css_string
    return environment


def render_html(data: ReportData) -> str:
    """The report as one self-contained HTML document."""
    return _environment().get_template(TEMPLATE).render(r=data)


def _record_issue(conn: sa.Connection, data: ReportData, division_code: str) -> tuple[str, dt.datetime]:
    """Number the report (XY + division + date + serial) and log it in audit.credit_report."""
    issued_at = dt.datetime.now(CHINA)
    report_id = conn.scalar(sa.text("SELECT nextval(pg_get_serial_sequence('audit.credit_report', 'report_id'))"))
    report_no = f"XY{division_code}{issued_at:%Y%m%d}{report_id:06d}"
    conn.execute(sa.text("""
        INSERT INTO audit.credit_report (report_id, report_no, subject_key, as_of, verdict, purpose, office, data_as_of)
        VALUES (:id, :no, :subject, :as_of, :verdict, :purpose, :office, :data_as_of)
    """), {"id": report_id, "no": report_no, "subject": data.subject.subject_key, "as_of": data.as_of,
           "verdict": data.check.verdict, "purpose": data.purpose, "office": data.office,
           "data_as_of": data.check.data_as_of})
    return report_no, issued_at


def issue_report(engine: Engine, code: str, out_path: Path, pdf: bool = False, as_of: dt.date | None = None,
                 purpose: str | None = None, office: str | None = None) -> IssuedReport:
    """Write the subject's credit report to out_path: .html (with `pdf`, a .pdf beside it too) or .pdf only (the
    HTML it is printed from is a temporary file: a report.html already beside it is left alone)."""
    out_path = Path(out_path)
    suffix = out_path.suffix.lower()
    if suffix not in (".html", ".htm", ".pdf"):
        raise UserError(f"--out {out_path.name}：文件名须以 .html 或 .pdf 结尾 / "
                        f"give a name ending in .html (or .pdf).")
    html_path = None if suffix == ".pdf" else out_path
    pdf_path = out_path if suffix == ".pdf" else (out_path.with_suffix(".pdf") if pdf else None)
    for path in (html_path, pdf_path):
        if path is not None:
            check_writable(path)
    scratch = tempfile.TemporaryDirectory(prefix="creditwh-report-") if html_path is None else None
    page = html_path or Path(scratch.name) / "report.html"
    cat = catalog()
    office = office or default_office(cat)
    started = time.perf_counter()
    check = check_code(engine, code, purpose, as_of=as_of, application="creditwh report")
    if not check.is_found:
        from etl.report.data import _not_found_text

        raise UserError("未出具信用报告 / no credit report for this query: " + _not_found_text(check) + ".")
    with engine.begin() as conn:
        data = build_report_data(conn, code, check, office, cat.county.name_zh, purpose)
        data_done = time.perf_counter()
        data.report_no, data.issued_at = _record_issue(conn, data, cat.county.division_code)
        html = render_html(data)
        with replaced_when_complete(page) as out:
            out.write(html.encode("utf-8"))
        render_done = time.perf_counter()
    pdf_seconds = 0.0
    if pdf_path is not None:
        from etl.report.pdf import print_pdf

        try:
            print_pdf(page, pdf_path)
        finally:
            if scratch is not None:
                scratch.cleanup()
        pdf_seconds = time.perf_counter() - render_done
    return IssuedReport(data.report_no, html_path, pdf_path, check.verdict, data_done - started,
                        render_done - data_done, pdf_seconds)


__all__ = ["IssuedReport", "ReportData", "default_office", "issue_report", "render_html"]
