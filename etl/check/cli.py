"""`creditwh check` (联合奖惩核查, one code or a workbook of them) and `creditwh report` (信用报告).

Registered by etl/cli.py from COMMANDS. Codes are never written to the log; what is printed shows ID
numbers masked.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from etl.config import CHINA
from etl.errors import UserError


def _as_of(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value else None


def _data_as_of(result) -> str:  # noqa: ANN001 - CheckResult
    if result.data_as_of is None:
        return "尚无入库数据 / nothing loaded yet"
    local = result.data_as_of.astimezone(CHINA)
    return local.strftime("%Y-%m-%d %H:%M（北京时间 / Beijing time）")


def describe_check(result, show_measures: bool) -> str:  # noqa: ANN001 - CheckResult
    """The verdict of one check, with reasons (and measures), in Chinese and English."""
    from etl.check.core import KIND_EN, KIND_ZH, VERDICT_EN, VERDICT_ZH, _measure_tag

    lines = []
    if result.code:
        kind = result.code_kind or "unknown"
        validity = "校验通过 valid" if result.is_valid else "校验未通过 fails the check"
        described = f"{KIND_ZH.get(kind, kind)} {KIND_EN.get(kind, kind)}，{validity}"
        lines.append(f"代码 Code:      {result.code}（{described}）")
    if result.subject_name:
        lines.append(f"主体 Subject:   {result.subject_name}（{result.subject_type}）")
    lines.append(f"结论 Verdict:   {VERDICT_ZH[result.verdict]} {VERDICT_EN[result.verdict].upper()}")
    reasons_zh, reasons_en = result.reason_lines()
    if reasons_zh:
        lines.append("原因 Reasons:")
        for zh, en in zip(reasons_zh, reasons_en, strict=True):
            lines.append(f"  - {zh}")
            lines.append(f"    {en}")
    if result.latest_rating:
        rating = result.latest_rating
        lines.append(f"最新信用评价 Latest rating: {rating['area']} {rating['grade']}"
                     f"（{rating['year']} 年度，{rating['rated_on']} 评定 rated）")
    if result.measures:
        if show_measures:
            lines.append("适用措施 Measures:")
            for measure in result.measures:
                lines.append(f"  - [{_measure_tag(measure)}] {measure['name_zh']}")
                lines.append(f"    [{_measure_tag(measure, english=True)}] {measure['name_en']}")
                lines.append(f"    依据 Basis: {measure['legal_basis']}")
        else:
            lines.append(f"适用措施 Measures: {len(result.measures)} 项（--measures 列出 / list them with --measures）")
    lines.append(f"核查基准日 Checked as of: {result.checked_on.isoformat()}；数据截至 Data as of: "
                 f"{_data_as_of(result)}")
    return "\n".join(lines)


@click.command()
@click.argument("code", required=False)
@click.option("--file", "file_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Check every row of a workbook (.xlsx/.xls/.csv) instead of one CODE.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Result workbook for --file (default: <file>__核查结果.xlsx beside it).")
@click.option("--sheet", default=None, help="Worksheet of --file to read (default: the first).")
@click.option("--column", default=None, help="Header (or letter) of the code column, when it is not recognised.")
@click.option("--measures", "show_measures", is_flag=True, help="List the applicable measures with their legal basis.")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Check as of this date (default: today in Asia/Shanghai).")
@click.option("--json", "as_json", is_flag=True, help="Print the result of one CODE as JSON.")
@click.option("--purpose", default=None,
              help="Why the query is made (查询事由, e.g. 财政补贴审核); required, kept in the credit query log.")
def check(code: str | None, file_path: Path | None, out_path: Path | None, sheet: str | None, column: str | None,
          show_measures: bool, as_of: dt.datetime | None, as_json: bool, purpose: str | None) -> None:
    """Credit check (联合奖惩核查) of one USCC or ID number, or of a workbook of them (--file).

    Prints the verdict: pass (通过), veto (一票否决) or review (审慎核查), with the reasons and the
    measures that apply under etl/catalog/measures.yml.
    """
    from etl.warehouse import get_engine

    if bool(code) == bool(file_path):
        raise click.UsageError("请给出一个代码或 --file / give one CODE or --file, not both and not neither.")
    if file_path is None and (out_path or sheet or column):
        raise click.UsageError("--out、--sheet、--column 须与 --file 同用 / "
                               "--out, --sheet and --column go with --file.")
    engine = get_engine()
    if file_path is not None:
        from etl.check.batch import check_file

        summary = check_file(engine, file_path, out_path, as_of=_as_of(as_of), sheet=sheet, column=column,
                             purpose=purpose)
        click.echo(summary.describe())
        return
    from etl.check.core import LOOKUP_EN, LOOKUP_ZH, check_code
    from etl.personal import could_be_id_number, mask_text

    if not code.strip():
        raise UserError("代码为空 / the code is empty; give a USCC (统一社会信用代码) or an ID number (身份证号码).")
    result = check_code(engine, code, purpose, as_of=_as_of(as_of))
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=1, default=str))
        return
    if result.verdict == "unchecked":
        # The code as typed helps the clerk see the typo; only a number shaped like a person's stays masked.
        typed = code.strip()
        masked = f" {result.code}" if result.code else ""
        shown = masked if could_be_id_number(typed) else f" “{mask_text(typed)}”"
        raise UserError(f"代码{shown}无法核查：{LOOKUP_ZH[result.lookup_status]} / cannot check{shown}: "
                        f"{LOOKUP_EN[result.lookup_status]}.")
    click.echo(describe_check(result, show_measures))


@click.command()
@click.argument("code")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Report file: .html (add --pdf for a PDF beside it) or .pdf.")
@click.option("--pdf", is_flag=True, help="Also print the report to PDF with headless Chromium.")
@click.option("--purpose", default=None,
              help="Purpose of the query (e.g. 公务员招录): required, printed on the report and kept in the query log.")
@click.option("--office", default=None, help="Issuing office (default: the county credit office from the catalog).")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Report as of this date (default: today in Asia/Shanghai).")
def report(code: str, out_path: Path, pdf: bool, purpose: str | None, office: str | None,
           as_of: dt.datetime | None) -> None:
    """Credit report (信用报告) of one subject by USCC or ID number, as HTML (and PDF)."""
    from etl.report import issue_report
    from etl.warehouse import get_engine

    issued = issue_report(get_engine(), code, out_path, pdf=pdf, as_of=_as_of(as_of), purpose=purpose,
                          office=office)
    files = ", ".join(str(path) for path in (issued.html_path, issued.pdf_path) if path is not None)
    click.echo(f"信用报告 Credit report {issued.report_no}: {files}")
    click.echo(f"用时 / time: {issued.seconds:.2f} s (data {issued.seconds_data:.2f}, render "
               f"{issued.seconds_render:.2f}, pdf {issued.seconds_pdf:.2f})")


COMMANDS = (check, report)
