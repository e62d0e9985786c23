"""Batch credit check of a workbook (e.g. the ~500 firms of a subsidy review): read, check, mark up.

The code column is found by its header (统一社会信用代码, 证件号码, 代码, ...) or, without one, by its
content (the column holding the most valid codes); a name column beside it is used for rows without a
usable code. Every row gets a verdict or a reason it could not be checked — an invalid code, a name
instead of a code, an empty row, an unknown subject is a finding, not an error. Only a file with no
rows at all, or without any column of codes, is refused.

Nothing here logs or prints a code: the result workbook shows ID numbers masked.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import column_index_from_string, get_column_letter
from sqlalchemy.engine import Engine

from etl.check.core import VERDICT_EN, VERDICT_ZH, CheckResult, check_rows
from etl.check.measures import measures
from etl.codes import classify_code, normalize_code
from etl.config import CHINA
from etl.errors import UserError, check_writable
from etl.feedback import FORMULA_TRIGGERS, _safe
from etl.output import write_whole
from etl.personal import mask_id

log = logging.getLogger(__name__)

SPREADSHEETS = (".xlsx", ".xlsm", ".xls", ".ods")
# Header spellings, strongest first; compared after dropping spaces and brackets' width, lower case.
CODE_HEADER_CONTAINS = ("统一社会信用代码", "社会信用代码", "信用代码", "证件号码", "证件号", "身份证号")
CODE_HEADER_EXACT = ("代码", "统一代码", "主体代码", "主体标识", "uscc", "code", "creditcode", "idnumber")
NAME_HEADER_CONTAINS = ("名称", "姓名", "企业", "单位", "主体", "申请人")
NAME_HEADER_EXACT = ("name", "subjectname", "company")
HEADER_SEARCH_ROWS = 10
CONTENT_SAMPLE_ROWS = 1000
NUMERIC_CODE_NOTE_ZH = "该单元格为数字格式，18 位代码已丢失精度，请将该列设为文本后重新导出"
NUMERIC_CODE_NOTE_EN = "the cell is a number: an 18-character code lost its last digits; store the column as text"

# Both colours set: cells use the foreground of a solid fill, conditional formats (DXF) the background.
FILLS = {verdict: PatternFill("solid", start_color=colour, end_color=colour) for verdict, colour in
         (("veto", "FFC7CE"), ("review", "FFEB9C"), ("pass", "C6EFCE"), ("unchecked", "D9D9D9"))}
HEADER_FILL = PatternFill("solid", fgColor="305496")
RESULT_HEADERS = [
    ("原表行号", 9), ("输入代码", 22), ("输入名称", 30), ("核查结论", 11), ("Verdict", 11), ("库中主体名称", 30),
    ("统一社会信用代码/证件号码", 22), ("说明", 60), ("Reasons (English)", 60), ("适用措施", 60),
    ("Measures (English)", 60),
]


@dataclass(frozen=True)
class InputRow:
    row_no: int  # 1-based row in the sheet or file
    code: str | None
    name: str | None
    numeric_code: bool = False  # the code cell held a number (an 18-digit code has lost precision)


@dataclass
class InputTable:
    path: Path
    sheet: str | None
    code_header: str | None  # None when the column was found by content
    code_column: int  # 0-based
    name_header: str | None
    name_column: int | None
    rows: list[InputRow] = field(default_factory=list)

    def describe(self) -> str:
        code = f"“{self.code_header}”" if self.code_header else "（按内容识别）"
        where = f"第 {get_column_letter(self.code_column + 1)} 列 {code}"
        if self.name_column is not None:
            name = f"“{self.name_header}”" if self.name_header else "（按内容识别）"
            where += f"，名称列为第 {get_column_letter(self.name_column + 1)} 列 {name}"
        return where


@dataclass(frozen=True)
class BatchSummary:
    input: InputTable
    out_path: Path
    results: list[CheckResult]
    counts: Counter
    lookup_counts: Counter
    seconds_read: float
    seconds_check: float
    seconds_write: float

    @property
    def seconds(self) -> float:
        return self.seconds_read + self.seconds_check + self.seconds_write

    def describe(self) -> str:
        counts = self.counts
        return (f"核查 {len(self.results)} 行 / checked {len(self.results)} rows ({self.input.describe()}): "
                f"通过 pass {counts['pass']}, 一票否决 veto {counts['veto']}, 审慎核查 review {counts['review']}, "
                f"无法核查 not checked {counts['unchecked']}\n"
                f"结果 / result: {self.out_path}\n"
                f"用时 / time: {self.seconds:.1f} s (read {self.seconds_read:.1f}, check {self.seconds_check:.1f}, "
                f"write {self.seconds_write:.1f})")


# -- reading ------------------------------------------------------------------------------------------


def _cell_text(value: object) -> tuple[str | None, bool]:
    """A cell as text, and whether it was a number (a long code typed as a number loses digits)."""
    if value is None:
        return None, False
    if isinstance(value, bool):
        return str(value), False
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() else repr(value)
        return text, True
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat(), False
    text = str(value)
    return (text if text.strip() else None), False


def _read_sheet(path: Path, sheet: str | None) -> tuple[str | None, list[list]]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types for unreadable files
        raise UserError(f"{path.name} 无法作为工作簿读取（{type(exc).__name__}: {exc}），请另存为 .xlsx 后重试 / "
                        f"{path.name} cannot be read as a workbook ({type(exc).__name__}: {exc}); "
                        "save it as .xlsx and try again.") from None
    names = workbook.sheet_names
    if not names:
        raise UserError(f"{path.name} 中没有工作表 / {path.name} has no worksheet.")
    if sheet is not None and sheet not in names:
        raise UserError(f"{path.name} 中没有工作表 {sheet!r}，现有工作表：{', '.join(names)} / "
                        f"{path.name} has no sheet {sheet!r}; its sheets are {', '.join(names)}.")
    chosen = sheet or names[0]
    return chosen, workbook.get_sheet_by_name(chosen).to_python(skip_empty_area=False)


def _read_csv(path: Path) -> list[list]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UserError(f"{path.name} 既不是 UTF-8 也不是 GB18030 编码的文本，请另存为 UTF-8 CSV 或 .xlsx / "
                        f"{path.name} is neither UTF-8 nor GB18030 text; save it as UTF-8 CSV or .xlsx.")
    return [list(row) for row in csv.reader(text.splitlines())]


def _header_key(text: object) -> str:
    value = "" if text is None else str(text)
    value = value.replace("（", "(").replace("）", ")")
    value = re.sub(r"\([^)]*\)", "", value)  # "统一社会信用代码（必填）"
    return re.sub(r"[\s_\-*:：]+", "", value).lower()


def _code_header_rank(text: object) -> int | None:
    key = _header_key(text)
    if not key:
        return None
    for rank, word in enumerate(CODE_HEADER_CONTAINS):
        if word in key:
            return rank
    if key in CODE_HEADER_EXACT:
        return len(CODE_HEADER_CONTAINS)
    return None


def _is_name_header(text: object) -> bool:
    key = _header_key(text)
    return bool(key) and (any(w in key for w in NAME_HEADER_CONTAINS) or key in NAME_HEADER_EXACT) \
        and _code_header_rank(text) is None


def _column_by_option(option: str, header: list, path: Path) -> int:
    """--column: a header as written, or a column letter (A, B, ...)."""
    for index, text in enumerate(header):
        if text is not None and _header_key(text) == _header_key(option):
            return index
    if re.fullmatch(r"[A-Za-z]{1,3}", option):
        return column_index_from_string(option.upper()) - 1
    raise UserError(f"{path.name} 中没有列 {option!r}，请按原样给出表头或列字母（如 B）/ "
                    f"{path.name}: there is no column {option!r}; give a header as written or a letter like B.")


def _looks_like_code(text: str | None) -> bool:
    return text is not None and classify_code(text) != "unknown"


def _non_ascii(text: str | None) -> bool:
    return text is not None and not text.isascii()


def read_input(path: Path, sheet: str | None = None, column: str | None = None) -> InputTable:
    """Rows of codes (and names) from an .xlsx/.xls/.ods workbook or a .csv file."""
    path = Path(path)
    if path.suffix.lower() in SPREADSHEETS:
        sheet, grid = _read_sheet(path, sheet)
    elif path.suffix.lower() in (".csv", ".txt"):
        sheet, grid = None, _read_csv(path)
    else:
        raise UserError(f"{path.name}：请提供 .xlsx、.xls 或 .csv 格式的代码文件 / "
                        f"{path.name}: give an .xlsx, .xls or .csv file of codes.")
    cells = [[_cell_text(v) for v in row] for row in grid]
    occupied = [i for i, row in enumerate(cells) if any(text for text, _ in row)]
    if not occupied:
        raise UserError(f"{path.name} is empty: no row holds a code or a name (文件中没有任何数据).")
    last = occupied[-1]
    width = max(len(row) for row in cells)

    def text_at(row: int, col: int) -> str | None:
        return cells[row][col][0] if col < len(cells[row]) else None

    header_row = code_col = None
    code_header = None
    for row in occupied[:HEADER_SEARCH_ROWS]:
        texts = [text_at(row, c) for c in range(width)]
        if column is not None:
            if any(t is not None and _header_key(t) == _header_key(column) for t in texts):
                header_row, code_col = row, _column_by_option(column, texts, path)
                break
            continue
        ranked = [(rank, c) for c, t in enumerate(texts) if (rank := _code_header_rank(t)) is not None]
        if ranked:
            header_row, code_col = row, min(ranked)[1]
            break
    if header_row is None and column is not None:
        code_col = _column_by_option(column, [], path)
    if code_col is None:
        code_col = _column_by_content(occupied, text_at, width, path)
    if header_row is not None:
        code_header = text_at(header_row, code_col)
    else:
        # A first row whose cell in the code column is text, not a code, is an unrecognised header.
        first = occupied[0]
        if not _looks_like_code(text_at(first, code_col)) and _non_ascii(text_at(first, code_col)) \
                and sum(_looks_like_code(text_at(r, code_col)) for r in occupied[1:CONTENT_SAMPLE_ROWS]) > 0:
            header_row, code_header = first, text_at(first, code_col)

    name_col, name_header = _name_column(header_row, code_col, occupied, text_at, width)
    start = header_row + 1 if header_row is not None else occupied[0]
    rows = []
    for row in range(start, last + 1):
        code, numeric = cells[row][code_col] if code_col < len(cells[row]) else (None, False)
        name = text_at(row, name_col) if name_col is not None else None
        rows.append(InputRow(row + 1, code, name, numeric))
    if not rows:
        raise UserError(f"{path.name} has a header row but no rows below it (只有表头，没有数据).")
    return InputTable(path, sheet, code_header, code_col, name_header, name_col, rows)


def _column_by_content(occupied: list[int], text_at, width: int, path: Path) -> int:
    sample = occupied[:CONTENT_SAMPLE_ROWS]
    scores = []
    for col in range(width):
        values = [text_at(r, col) for r in sample]
        filled = [v for v in values if v]
        codes = sum(_looks_like_code(v) for v in filled)
        if codes:
            scores.append((codes / len(filled), codes, -col))
    if not scores:
        raise UserError(f"{path.name}：找不到代码列（没有“统一社会信用代码”“证件号码”“代码”等表头，"
                        "也没有一列是有效代码）。只有名称的名单无法核查：同名主体可能不止一个，核查须用统一社会信用代码"
                        f"或身份证号码；请加一列代码，或用 --column 指明代码所在列 / {path.name}: no column of codes "
                        "found (no header such as 统一社会信用代码, 证件号码 or 代码, and no column holding valid "
                        "codes). A list of names only cannot be checked: names are not unique, a check needs the "
                        "USCC or ID number; add a column of codes or name it with --column.")
    return -max(scores)[2]


def _name_column(header_row: int | None, code_col: int, occupied: list[int], text_at,
                 width: int) -> tuple[int | None, str | None]:
    if header_row is not None:
        for col in range(width):
            if col != code_col and _is_name_header(text_at(header_row, col)):
                return col, text_at(header_row, col)
        return None, None
    best = None
    sample = occupied[:CONTENT_SAMPLE_ROWS]
    for col in range(width):
        if col == code_col:
            continue
        values = [text_at(r, col) for r in sample]
        filled = [v for v in values if v]
        if filled:
            share = sum(_non_ascii(v) and not _looks_like_code(v) for v in filled) / len(filled)
            if share >= 0.5 and (best is None or share > best[0]):
                best = (share, col)
    return (best[1], None) if best else (None, None)


# -- writing ------------------------------------------------------------------------------------------


def _text(value: str | None) -> str:
    """Cell text: ID-like numbers masked, characters a workbook cannot hold dropped."""
    return ILLEGAL_CHARACTERS_RE.sub("", _safe(value))


def _shown_input(code: str | None) -> str:
    """The code as given, masked unless it is a USCC; a name in the code cell is shown as a name."""
    if not code:
        return ""
    normal = normalize_code(code) or ""
    if not normal.isascii():
        return _text(code.strip())
    return normal if classify_code(normal) == "uscc" else mask_id(normal)


def _set_text(cell, value: str) -> None:  # noqa: ANN001 - openpyxl cell
    """Store as text, never as a formula, whatever the input file held (quote prefix on formula-like text)."""
    cell.value = value
    cell.data_type = "s"
    if value.startswith(FORMULA_TRIGGERS):
        cell.style = "Normal"
        cell.quotePrefix = True


def _cell(sheet, value, fill: PatternFill | None = None, bold: bool = False):  # noqa: ANN001 - openpyxl
    if isinstance(value, str):
        if not (value.startswith(FORMULA_TRIGGERS) or fill is not None or bold):
            return value
        cell = WriteOnlyCell(sheet)
        _set_text(cell, value)
    else:
        if fill is None and not bold:
            return value
        cell = WriteOnlyCell(sheet, value=value)
    if fill is not None:
        cell.fill = fill
    if bold:
        cell.font = Font(bold=True)
    return cell


def _header_row(sheet, titles: list[str]) -> list:  # noqa: ANN001
    cells = []
    for title in titles:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        cells.append(cell)
    return cells


def result_row(row: InputRow, result: CheckResult) -> list:
    """The values of one result line (also what the tests read back)."""
    reasons_zh, reasons_en = result.reason_lines()
    if row.numeric_code and result.lookup_status == "invalid":
        reasons_zh.append(NUMERIC_CODE_NOTE_ZH)
        reasons_en.append(NUMERIC_CODE_NOTE_EN)
    measures_zh, measures_en = result.measure_lines()
    return [row.row_no, _shown_input(row.code), _text(row.name), VERDICT_ZH[result.verdict],
            VERDICT_EN[result.verdict], _text(result.subject_name), result.code or "",
            _text("；".join(reasons_zh)), _text("; ".join(reasons_en)), _text("；".join(measures_zh)),
            _text("; ".join(measures_en))]


def write_result(out_path: Path, table: InputTable, results: list[CheckResult], checked_at: dt.datetime) -> None:
    """The marked-up workbook: a summary sheet, then one line per input row (write-only: 100,000 rows fit)."""
    workbook = Workbook(write_only=True)
    counts = Counter(r.verdict for r in results)
    lookups = Counter(r.lookup_status for r in results)
    data_as_of = next((r.data_as_of for r in results if r.data_as_of), None)
    checked_on = results[0].checked_on if results else None
    lookback = measures().condition_by_code["active_penalty"].lookback_months

    summary = workbook.create_sheet("汇总")
    summary.column_dimensions["A"].width = 28
    summary.column_dimensions["B"].width = 70
    title = WriteOnlyCell(summary, value="联合奖惩信用核查结果 / Credit check (joint rewards and punishments)")
    title.font = Font(bold=True, size=14)
    summary.append([title])
    lines = [
        ("核查文件 / File", _text(table.path.name) + (f" · {_text(table.sheet)}" if table.sheet else "")),
        ("代码列 / Code column", _text(table.describe())),
        ("核查基准日 / Checked as of", checked_on.isoformat() if checked_on else ""),
        ("数据截至 / Data as of",
         data_as_of.astimezone(CHINA).strftime("%Y-%m-%d %H:%M（北京时间）")
         if data_as_of else "无入库数据 / nothing loaded yet"),
        ("生成时间 / Produced at", checked_at.strftime("%Y-%m-%d %H:%M:%S（北京时间）")),
        ("核查行数 / Rows", len(results)),
        ("一票否决 / Veto", counts["veto"]),
        ("审慎核查 / Review", counts["review"]),
        ("通过 / Pass", counts["pass"]),
        ("无法核查 / Not checked", counts["unchecked"]),
        ("　其中代码无效 / invalid code", lookups["invalid"]),
        ("　其中为名称且未匹配 / name, no match", lookups["name_not_found"] + lookups["name_ambiguous"]),
        ("　其中空行 / empty rows", lookups["empty"]),
        ("按名称匹配 / Matched by name", lookups["found_by_name"]),
        ("库中无记录（视为通过）/ Unknown subjects (pass)", lookups["not_found"]),
    ]
    for label, value in lines:
        fill = FILLS.get({"一票否决 / Veto": "veto", "审慎核查 / Review": "review", "通过 / Pass": "pass",
                          "无法核查 / Not checked": "unchecked"}.get(label, ""))
        summary.append([_cell(summary, label, bold=True), _cell(summary, value, fill=fill)])
    summary.append([])
    notes = [
        "结论：一票否决 = 适用至少一项一票否决措施；审慎核查 = 适用审慎核查措施；通过 = 未发现须否决或审慎核查的情形；"
        "无法核查 = 代码无效、为名称且无法唯一匹配或空行，须人工核实。",
        "Verdict: veto = at least one vetoing measure applies; review = a measure asks for prudent review; "
        "pass = nothing to veto or review; not checked = invalid code, unmatched name or empty row: check by hand.",
        f"行政处罚按公示期内（无公示期的自决定之日起 {lookback} 个月内，警告等不公示的轻微处罚除外）计；"
        "已信用修复、撤销或公示期满的记录不计。",
        f"Penalties count within their publicity window (without one, {lookback} months from the decision, "
        "except unpublished minor ones); repaired, revoked and expired records do not count.",
        "身份证号码已脱敏显示。/ ID numbers are masked.",
    ]
    for note in notes:
        summary.append([None, _cell(summary, note)])

    sheet = workbook.create_sheet("核查结果")
    for index, (_, width) in enumerate(RESULT_HEADERS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(RESULT_HEADERS))}{len(results) + 1}"
    sheet.append(_header_row(sheet, [title for title, _ in RESULT_HEADERS]))
    last = len(results) + 1
    # Colour by verdict with conditional formatting: a style per cell would cost as much as the data itself.
    for verdict, fill in FILLS.items():
        for column, label in (("D", VERDICT_ZH[verdict]), ("E", VERDICT_EN[verdict])):
            sheet.conditional_formatting.add(
                f"{column}2:{column}{last}",
                CellIsRule(operator="equal", formula=[f'"{label}"'], fill=fill, stopIfTrue=True))
    for row, result in zip(table.rows, results, strict=True):
        sheet.append([_cell(sheet, v) for v in result_row(row, result)])

    write_whole(out_path, workbook.save)


def default_out_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}__核查结果.xlsx")


def check_file(engine: Engine, path: Path, out_path: Path | None = None, as_of: dt.date | None = None,
               sheet: str | None = None, column: str | None = None, purpose: str | None = None) -> BatchSummary:
    """Read the file, check every row in one set-based query, write the marked-up workbook."""
    path = Path(path)
    out_path = Path(out_path) if out_path else default_out_path(path)
    if out_path.suffix.lower() != ".xlsx":
        raise UserError(f"--out {out_path.name}：结果是 Excel 工作簿，文件名须以 .xlsx 结尾 / "
                        f"the result is a workbook; give a name ending in .xlsx.")
    if out_path.resolve() == path.resolve():
        raise UserError("--out 会覆盖输入文件，请换一个文件名 / "
                        "--out would overwrite the input file; give another name.")
    check_writable(out_path)
    started = time.perf_counter()
    table = read_input(path, sheet=sheet, column=column)
    read_done = time.perf_counter()
    results = check_rows(engine, [(r.code, r.name) for r in table.rows], purpose, as_of=as_of)
    check_done = time.perf_counter()
    checked_at = dt.datetime.now(CHINA)
    write_result(out_path, table, results, checked_at)
    write_done = time.perf_counter()
    counts = Counter(r.verdict for r in results)
    log.info("batch credit check of %s: %d rows, veto %d, review %d, pass %d, not checked %d, %.1f s",
             path.name, len(results), counts["veto"], counts["review"], counts["pass"], counts["unchecked"],
             write_done - started)
    return BatchSummary(table, out_path, results, counts, Counter(r.lookup_status for r in results),
                        read_done - started, check_done - read_done, write_done - check_done)
