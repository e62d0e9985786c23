"""Feedback to departments (问题数据退回): one XLSX per batch with rejected rows, in Chinese.

Each line says which source row and field failed, the value as sent and the reason. Personal ID
numbers are masked; cell text that a spreadsheet would run as a formula is stored as plain text.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from sqlalchemy.engine import Engine

from etl import config
from etl.catalog import Catalog
from etl.codes import mask_id_number

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ID_NUMBER_LIKE = re.compile(r"\b\d{17}[\dXx]\b")
MAX_CELL = 32_000  # Excel refuses cells over 32,767 characters
HEADERS = ["行号", "字段代码", "字段名称", "原值", "问题说明", "Problem (English)", "规则"]


def _safe(value: object) -> str:
    text = "" if value is None else str(value)
    text = ID_NUMBER_LIKE.sub(lambda m: mask_id_number(m.group(0)), text)
    return text[:MAX_CELL]


def _set_text(cell, value: str) -> None:  # noqa: ANN001 - openpyxl cell
    """Store as text, never as a formula, whatever the department put in the field."""
    cell.value = value
    cell.data_type = "s"
    if value.startswith(FORMULA_TRIGGERS):
        cell.style = "Normal"
        cell.quotePrefix = True


def feedback_path(department_code: str, feed_code: str, batch_id: int) -> Path:
    day = dt.datetime.now(dt.UTC).date().isoformat()
    return config.var_dir() / "feedback" / department_code / day / f"{feed_code}__batch{batch_id}__问题数据.xlsx"


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
    if not findings and batch.status not in ("held", "failed"):
        return None
    record_type = catalog.record_type_by_code[batch.record_type_code]
    department = catalog.department_by_code[batch.department_code]
    header_of = {code: header for header, code in ((batch.header_map or {}).get("mapped") or {}).items()}

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "问题数据"
    summary = (f"{department.name_zh} · {record_type.name_zh} · 批次 {batch_id} · 来源 {batch.source_name} · "
               f"收到 {batch.rows_in} 行，问题 {batch.rows_quarantined} 行")
    _set_text(sheet.cell(row=1, column=1), summary)
    sheet.cell(row=1, column=1).font = Font(bold=True, size=12)
    next_row = 2
    if batch.status in ("held", "failed") and batch.status_reason:
        verdict = "暂扣" if batch.status == "held" else "未能处理"
        _set_text(sheet.cell(row=2, column=1), f"整批{verdict}：{batch.status_reason}")
        sheet.cell(row=2, column=1).font = Font(bold=True, color="C00000")
        next_row = 3
    for column, title in enumerate(HEADERS, start=1):
        cell = sheet.cell(row=next_row, column=column, value=title)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="305496")
    sheet.freeze_panes = sheet.cell(row=next_row + 1, column=1)
    for finding in findings:
        next_row += 1
        raw = finding.raw if isinstance(finding.raw, dict) else json.loads(finding.raw or "{}")
        spec = record_type.field_by_code.get(finding.field)
        if finding.field == "*":
            value = json.dumps(raw, ensure_ascii=False)
        else:
            value = raw.get(header_of.get(finding.field, finding.field))
            if spec is not None and spec.personal:
                value = mask_id_number(value) if value else value
        sheet.cell(row=next_row, column=1, value=finding.row_no)
        for column, text in enumerate(
                [finding.field, spec.name_zh if spec else "整行", _safe(value), finding.message_zh,
                 finding.message_en, finding.rule], start=2):
            _set_text(sheet.cell(row=next_row, column=column), text)
    for column, width in zip("ABCDEFG", (8, 16, 22, 36, 60, 60, 22), strict=True):
        sheet.column_dimensions[column].width = width
    for row in sheet.iter_rows(min_row=3):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    path = feedback_path(batch.department_code, batch.feed_code, batch_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".part")
    workbook.save(temporary)
    temporary.replace(path)
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
        workbook = Workbook()
        sheet = workbook.active
        sheet.title = "平台退回"
        _set_text(sheet.cell(row=1, column=1), f"上级平台拒收的双公示数据（{len(rows)} 条），请核实更正后重新报送")
        sheet.cell(row=1, column=1).font = Font(bold=True, size=12)
        for column, title in enumerate(REJECTION_HEADERS, start=1):
            cell = sheet.cell(row=2, column=column, value=title)
            cell.font = Font(bold=True, color="FFFFFF")
            cell.fill = PatternFill("solid", fgColor="305496")
        for index, row in enumerate(rows, start=3):
            values = [PLATFORM_NAMES.get(row.platform, row.platform),
                      RECORD_TYPE_NAMES.get(row.record_type_code, row.record_type_code), row.document_number,
                      row.decision_date.isoformat(), str(row.record_uid), row.reason_code or "", row.reason or "",
                      "公示" if row.action == "upsert" else "撤回"]
            for column, text in enumerate(values, start=1):
                _set_text(sheet.cell(row=index, column=column), _safe(text))
        for column, width in zip("ABCDEFGH", (12, 10, 30, 12, 38, 18, 60, 8), strict=True):
            sheet.column_dimensions[column].width = width
        path = config.var_dir() / "feedback" / department / f"平台退回__{stamp}.xlsx"
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".part")
        workbook.save(temporary)
        temporary.replace(path)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE outbox.publicity_item SET feedback_path = :p WHERE item_id = ANY(:ids)"),
                         {"p": str(path), "ids": [r.item_id for r in rows]})
        written.append(path)
    return written
