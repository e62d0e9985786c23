"""Feedback to departments (问题数据退回): one XLSX per batch with rejected rows, in Chinese.

Each line says which source row and field failed, the value as sent and the reason. Identity numbers
are masked wherever they appear (etl.personal): in ID fields by their document type, in any other cell
when one is written into the text; cell text that a spreadsheet would run as a formula is stored as
plain text.

Written with XlsxWriter: a nightly run writes one workbook per batch with rejections (dozens), and
XlsxWriter writes one in well under half of openpyxl's time (~7 ms against ~17 ms for 55 rows).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
import xlsxwriter
from sqlalchemy.engine import Engine

from etl import config
from etl.catalog import Catalog
from etl.output import replaced_when_complete
from etl.personal import mask_id, mask_json, mask_text
from etl.status import RETURNED, BatchStatus

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL = 32_000  # Excel refuses cells over 32,767 characters
HEADERS = ["行号", "字段代码", "字段名称", "原值", "问题说明", "Problem (English)", "规则"]
TITLE = {"bold": True, "font_size": 12}
HEADING = {"bold": True, "font_color": "#FFFFFF", "bg_color": "#305496", "pattern": 1}
WRAPPED = {"text_wrap": True, "valign": "top"}


def _safe(value: object) -> str:
    text = "" if value is None else str(value)
    return mask_text(text)[:MAX_CELL]


class _Sheet:
    """A worksheet whose text cells are always text: never a formula, a number or a link, whatever a
    department put in the field; text a spreadsheet would run as a formula also gets Excel's quote prefix,
    so it stays text when someone edits the cell."""

    def __init__(self, workbook: xlsxwriter.Workbook, title: str, widths: tuple[int, ...]) -> None:
        self._workbook = workbook
        self._sheet = workbook.add_worksheet(title)
        self._formats: dict[tuple[tuple[str, object], ...], object] = {}
        for column, width in enumerate(widths):
            self._sheet.set_column(column, column, width)

    def _format(self, style: dict, quoted: bool = False):  # noqa: ANN202 - an XlsxWriter Format
        key = (*sorted(style.items()), ("quote_prefix", quoted))
        if key not in self._formats:
            self._formats[key] = self._workbook.add_format({**style, **({"quote_prefix": True} if quoted else {})})
        return self._formats[key]

    def text(self, row: int, column: int, value: str, style: dict | None = None) -> None:
        """Text at a 1-based row and column (as the spreadsheet numbers them)."""
        self._sheet.write_string(row - 1, column - 1, value,
                                self._format(style or {}, quoted=value.startswith(FORMULA_TRIGGERS)))

    def freeze_rows(self, rows: int) -> None:
        """Keep the first `rows` rows in view while scrolling."""
        self._sheet.freeze_panes(rows, 0)

    def number(self, row: int, column: int, value: int | None, style: dict | None = None) -> None:
        if value is None:
            self._sheet.write_blank(row - 1, column - 1, None, self._format(style or {}))
        else:
            self._sheet.write_number(row - 1, column - 1, value, self._format(style or {}))


@contextmanager
def _workbook(path: Path) -> Iterator[xlsxwriter.Workbook]:
    """A new workbook that appears at `path` only when complete (built in memory, written whole)."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"strings_to_formulas": False, "strings_to_urls": False,
                                            "strings_to_numbers": False, "in_memory": True})
    yield workbook
    workbook.close()
    with replaced_when_complete(path) as out:
        out.write(buffer.getbuffer())


def feedback_path(department_code: str, feed_code: str, batch_id: int) -> Path:
    day = dt.datetime.now(dt.UTC).date().isoformat()
    folder = config.settings().var_dir / "feedback" / department_code / day
    return folder / f"{feed_code}__batch{batch_id}__问题数据.xlsx"


def write_feedback(engine: Engine, catalog: Catalog, batch_id: int) -> Path | None:
    """Write the batch's feedback workbook; None when nothing was rejected."""
    with engine.connect() as conn:
        batch = conn.execute(sa.text("""
            SELECT department_code, feed_code, record_type_code, source_name, header_map, status, status_reason,
                   rows_in, rows_quarantined
              FROM audit.batch WHERE batch_id = :b
        """), {"b": batch_id}).one()
        findings = conn.execute(sa.text("""
            SELECT row_no, field, rule, message_zh, message_en, raw
              FROM audit.quarantine WHERE batch_id = :b ORDER BY row_no, field, rule
        """), {"b": batch_id}).all()
    if not findings and batch.status not in RETURNED:
        return None
    record_type = catalog.record_type_by_code[batch.record_type_code]
    department = catalog.department_by_code[batch.department_code]
    header_of = {code: header for header, code in ((batch.header_map or {}).get("mapped") or {}).items()}

    summary = (f"{department.name_zh} · {record_type.name_zh} · 批次 {batch_id} · "
               f"来源 {mask_text(batch.source_name)} · "
               f"收到 {batch.rows_in} 行，问题 {batch.rows_quarantined} 行")
    path = feedback_path(batch.department_code, batch.feed_code, batch_id)
    with _workbook(path) as workbook:
        sheet = _Sheet(workbook, "问题数据", (8, 16, 22, 36, 60, 60, 22))
        sheet.text(1, 1, summary, TITLE)
        heading_row = 2
        if batch.status in RETURNED and batch.status_reason:
            verdict = "暂扣" if batch.status == BatchStatus.HELD else "未能处理"
            sheet.text(2, 1, f"整批{verdict}：{batch.status_reason}", {"bold": True, "font_color": "#C00000"})
            heading_row = 3
        for column, title in enumerate(HEADERS, start=1):
            sheet.text(heading_row, column, title, HEADING)
        sheet.freeze_rows(heading_row)
        for row, finding in enumerate(findings, start=heading_row + 1):
            raw = finding.raw if isinstance(finding.raw, dict) else json.loads(finding.raw or "{}")
            spec = record_type.field_by_code.get(finding.field)
            if finding.field == "*":
                value = json.dumps(mask_json(raw), ensure_ascii=False)
            else:
                value = raw.get(header_of.get(finding.field, finding.field))
                if spec is not None and spec.personal:
                    type_field = spec.id_type_field
                    value = mask_id(value, raw.get(header_of.get(type_field, type_field)) if type_field else None)
            sheet.number(row, 1, finding.row_no, WRAPPED)
            for column, text in enumerate(
                    [finding.field, spec.name_zh if spec else "整行", _safe(value), finding.message_zh,
                     finding.message_en, finding.rule], start=2):
                sheet.text(row, column, text, WRAPPED)
    return path


REJECTION_HEADERS = ["平台", "类别", "决定文书号", "决定日期", "记录标识", "拒收代码", "拒收原因", "动作"]
PLATFORM_NAMES = {"provincial": "省级平台", "national": "国家平台"}
RECORD_TYPE_NAMES = {"license": "行政许可", "penalty": "行政处罚"}


def write_platform_rejections(engine: Engine) -> list[Path]:
    """Records a platform rejected go back to their department: one workbook per department per run,
    listing each rejected item with the platform's reason; every item is reported once."""
    with engine.connect() as conn:
        rejected = conn.execute(sa.text("""
            SELECT o.item_id, o.department_code, o.platform, o.record_type_code, f.document_number, o.decision_date,
                   o.record_uid, o.reason_code, o.reason, o.action
              FROM outbox.publicity_item o JOIN dw.fact_credit_record f USING (record_key)
             WHERE o.status = 'rejected' AND o.feedback_path IS NULL
             ORDER BY o.department_code, o.decision_date, o.item_id
        """)).all()
    by_department: dict[str, list] = {}
    for row in rejected:
        by_department.setdefault(row.department_code, []).append(row)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    written = []
    for department, rows in by_department.items():
        path = config.settings().var_dir / "feedback" / department / f"平台退回__{stamp}.xlsx"
        with _workbook(path) as workbook:
            sheet = _Sheet(workbook, "平台退回", (12, 10, 30, 12, 38, 18, 60, 8))
            sheet.text(1, 1, f"上级平台拒收的双公示数据（{len(rows)} 条），请核实更正后重新报送", TITLE)
            for column, title in enumerate(REJECTION_HEADERS, start=1):
                sheet.text(2, column, title, HEADING)
            for index, row in enumerate(rows, start=3):
                values = [PLATFORM_NAMES.get(row.platform, row.platform),
                          RECORD_TYPE_NAMES.get(row.record_type_code, row.record_type_code), row.document_number,
                          row.decision_date.isoformat(), str(row.record_uid), row.reason_code or "", row.reason or "",
                          "公示" if row.action == "upsert" else "撤回"]
                for column, text in enumerate(values, start=1):
                    sheet.text(index, column, _safe(text))
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE outbox.publicity_item SET feedback_path = :p WHERE item_id = ANY(:ids)"),
                         {"p": str(path), "ids": [r.item_id for r in rows]})
        written.append(path)
    return written
