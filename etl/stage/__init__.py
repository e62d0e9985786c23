"""Stage: decode, parse and map a landed source, then COPY its rows as text into staging.<record_type>.

Nothing is dropped: a row that cannot be parsed (wrong column count, undecodable bytes, NUL
characters, a JSON line that is not an object) goes to audit.quarantine with rule `parse`; a file
that cannot be read at all fails its batch with a reason. Header problems (unknown headers,
two headers for one field) are reported for the batch-level checks to hold the batch.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import json
import logging
import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from charset_normalizer import from_bytes
from sqlalchemy.engine import Engine

from etl.catalog import Catalog, Feed, RecordType, Role, Rule, header_index, normalise_header
from etl.faults import crash_point
from etl.keys import record_uid_text
from etl.land import Batch
from etl.quarantine import Finding, record_findings
from etl.stage.tables import column, staging_table

# Columns a transport adds around the record (API and SQL sources): known, not part of the record.
TRANSPORT_COLUMNS = frozenset({"ID", "UPDATED_AT"})
SAMPLE_BYTES = 1 << 20
csv.field_size_limit(16 * 1024 * 1024)


class UnreadableSource(Exception):
    """The landed file cannot be read at all (truncated, encrypted, not the declared format)."""

    def __init__(self, reason_zh: str, reason_en: str) -> None:
        super().__init__(f"{reason_zh} / {reason_en}")
        self.reason_zh, self.reason_en = reason_zh, reason_en


log = logging.getLogger(__name__)

@dataclass
class StageResult:
    rows_in: int = 0
    encoding: str | None = None
    mapped: dict[str, str] = field(default_factory=dict)
    extra_headers: list[str] = field(default_factory=list)  # declared extra columns found in the source
    unknown_headers: list[str] = field(default_factory=list)
    duplicate_fields: list[str] = field(default_factory=list)
    other_sheets: list[str] = field(default_factory=list)  # further XLSX sheets that hold data
    unreadable_cells: list[str] = field(default_factory=list)  # XLSX error cells, formulas without a result
    # Where each row is in the file as the department sees it (Excel row, CSV or JSON line): runs of
    # [row_no, position] where the position stops following the row number (blank lines, multi-line cells).
    positions: list[list[int]] = field(default_factory=list)
    elapsed_ms: int = 0

    def place(self, row_no: int, position: int) -> None:
        """Note that row `row_no` is at `position` of the file (kept only where the runs break)."""
        if not self.positions or self.positions[-1][1] + row_no - self.positions[-1][0] != position:
            self.positions.append([row_no, position])


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or GB18030, decided from the bytes by charset-normalizer."""
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        # A cut in the middle of a multi-byte character at the sample's end is not evidence against UTF-8.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    # A UTF-8 file with a few rows pasted in from a GBK system: UTF-8 it is, and those rows get rejected.
    lines = [line for line in sample.split(b"\n")[:-1] if not line.isascii()]
    undecodable = sum(1 for line in lines if not _decodes(line, "utf-8"))
    # GB18030-encoded Chinese is almost never valid UTF-8, so in a GB18030 file nearly every line fails.
    if lines and undecodable < len(lines) / 2:
        return "utf-8"
    best = from_bytes(sample, cp_isolation=["gb18030", "utf_8", "big5"]).best()
    return "gb18030" if best is None or best.encoding in ("gb18030", "gb2312", "gbk") else best.encoding


def _cell_text(value: object) -> str | None:
    """An XLSX cell as the text a department meant: dates as ISO, whole numbers without '.0'."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


@dataclass(frozen=True)
class BrokenLine:
    """A physical line that could not be read as a CSV record (e.g. a quote opened and never closed)."""

    text: str


class _LineFeeder:
    """The file's physical lines for csv.reader, remembering what each record consumed, with push-back."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._pushed: list[str] = []
        self._consumed: list[str] = []

    def __iter__(self) -> _LineFeeder:
        return self

    def __next__(self) -> str:
        line = self._pushed.pop() if self._pushed else next(self._lines)
        self._consumed.append(line)
        return line

    def take_consumed(self) -> list[str]:
        consumed, self._consumed = self._consumed, []
        return consumed

    def push_back(self, lines: list[str]) -> None:
        self._pushed.extend(reversed(lines))


def _read_csv(path: Path, encoding: str) -> Iterator[tuple[int, list[str] | BrokenLine]]:
    """CSV records with the line each starts on; a record that swallowed several lines yet has the wrong
    width is an unclosed quote: its first line is reported broken and the following lines are read again,
    so one stray quote costs one row, not the rest of the file."""
    # surrogateescape keeps undecodable bytes visible so the row, not the file, is rejected.
    with path.open("r", encoding=encoding, errors="surrogateescape", newline="") as handle:
        feeder = _LineFeeder(iter(handle))
        reader = csv.reader(feeder)
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)  # blank lines above the header
        if header is None:
            return
        line = len(feeder.take_consumed())
        yield line, header
        width = len(header)
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error:
                record = None
            lines = feeder.take_consumed()
            if record is None or (len(lines) > 1 and len(record) != width):
                yield line + 1, BrokenLine(lines[0].rstrip("\r\n") if lines else "")
                feeder.push_back(lines[1:])
                reader = csv.reader(feeder)
                line += 1
                continue
            yield line + 1, record
            line += len(lines)


# Cells calamine reads as empty although the department put something there: an error value
# (#DIV/0!, #N/A …) or a formula saved without its result. Found in the sheet XML, since the rows cannot tell.
ERROR_CELL = re.compile(rb'<c\b(?=[^>]*\bt="e")[^>]*\br="([A-Z]{1,3}[0-9]+)"[^>]*>')
FORMULA_WITHOUT_VALUE = re.compile(rb'<c\b[^>]*\br="([A-Z]{1,3}[0-9]+)"[^>]*>\s*<f\b[^>]*(?:/>|>[^<]*</f>)\s*'
                                   rb'(?:<v\s*/>|<v>\s*</v>)?\s*</c>')


# Worksheet XML is read in blocks, not whole: a sheet of 150,000 rows is some 250 MB of XML, which read at once
# was the largest allocation of an ingest. Each block is searched with the end of the one before it (longer than
# any cell: Excel caps a formula at 8,192 characters), and a match counts in the block where it ends.
XML_BLOCK = 1 << 20
XML_OVERLAP = 1 << 16


def _unreadable_cells(path: Path) -> list[str]:
    """References of error cells and formulas without a saved result, in any worksheet of the workbook."""
    import zipfile

    found: list[str] = []
    with zipfile.ZipFile(path) as archive:
        for name in sorted(n for n in archive.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")):
            by_pattern: dict[re.Pattern, list[str]] = {ERROR_CELL: [], FORMULA_WITHOUT_VALUE: []}
            tail = b""
            with archive.open(name) as sheet:
                while block := sheet.read(XML_BLOCK):
                    data = tail + block
                    if b'"e"' in data or b"<f" in data:  # cheap test first: most sheets have neither
                        for pattern, references in by_pattern.items():
                            references.extend(m.group(1).decode() for m in pattern.finditer(data)
                                              if m.end() > len(tail))
                    tail = data[-XML_OVERLAP:]
            found.extend(by_pattern[ERROR_CELL] + by_pattern[FORMULA_WITHOUT_VALUE])
    return found


ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the compound file of Excel 97-2003, and of encrypted workbooks
ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")  # a stream name of an encrypted OOXML package


def _open_workbook(path: Path):  # noqa: ANN202 - a CalamineWorkbook
    """The workbook, recognised by its bytes rather than its name (a department's .xls may arrive as .xlsx and
    the other way round); a file that cannot be read fails with a reason naming what it is."""
    from python_calamine import CalamineWorkbook

    with path.open("rb") as handle:
        magic = handle.read(8)
        handle.seek(0)
        try:
            return CalamineWorkbook.from_filelike(handle)
        except Exception:  # noqa: BLE001 - calamine raises several types for damaged files
            pass
    if not magic:
        raise UnreadableSource("Excel 文件为空（0 字节）", "the Excel file is empty (0 bytes)")
    if magic.startswith(ZIP_MAGIC):
        raise UnreadableSource("Excel 文件已损坏或被截断（上传不完整？），无法打开",
                               "the Excel file is damaged or truncated (an incomplete upload?) and cannot be opened")
    if magic == OLE2_MAGIC:
        if ENCRYPTION_INFO in path.read_bytes():
            raise UnreadableSource("Excel 文件设置了打开密码（已加密），无法读取；请取消密码后重报",
                                   "the Excel workbook is password-protected (encrypted); remove the password and "
                                   "send it again")
        raise UnreadableSource("Excel 97-2003 格式（.xls）的工作簿无法读取（可能已损坏或设置了密码）；"
                               "请另存为 .xlsx 后重报",
                               "the Excel 97-2003 (.xls) workbook cannot be read (damaged or password-protected); "
                               "save it as .xlsx and send it again")
    raise UnreadableSource("文件不是 Excel 工作簿（内容看起来是文本或其他格式）",
                           "the file is not an Excel workbook (its content looks like text or another format)")


# calamine holds the whole sheet in memory while its rows are read, about twice the sheet's XML: 82 MB for a
# 49,011-row sheet (45 MB of XML), some 250 MB for 150,000 rows, which with a worker's own 250 MB (Great
# Expectations imported) made the largest peak of an ingest. A workbook with a sheet of more XML than this is
# read row by row instead (openpyxl's read-only mode: 5 MB for the same sheet, but 6.9 s against 0.6 s), so only
# workbooks far larger than any department sends by hand pay for it.
STREAMED_SHEET_XML = 64 << 20


def _largest_sheet_xml(path: Path) -> int:
    """The uncompressed size of the workbook's largest worksheet XML (0 for a workbook that is not a zip)."""
    import zipfile

    if not _is_zip(path):
        return 0
    with zipfile.ZipFile(path) as archive:
        return max((i.file_size for i in archive.infolist()
                    if i.filename.startswith("xl/worksheets/") and i.filename.endswith(".xml")), default=0)


def _first_sheet_rows(path: Path, workbook) -> Iterator[tuple]:  # noqa: ANN001 - a CalamineWorkbook
    """The first sheet's rows from its first row (blank or not), read whole by calamine or, for a large sheet,
    streamed by openpyxl (its error values read as empty, as calamine reads them)."""
    if _largest_sheet_xml(path) <= STREAMED_SHEET_XML:
        yield from workbook.get_sheet_by_index(0).iter_rows()
        return
    import openpyxl
    from openpyxl.cell.cell import ERROR_CODES

    streamed = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for row in streamed.worksheets[0].iter_rows(values_only=True):
            yield tuple(None if isinstance(v, str) and v in ERROR_CODES else v for v in row)
    except Exception as exc:  # noqa: BLE001 - the XML read so far was fine; what follows is damaged
        raise UnreadableSource("Excel 文件的第一个工作表读到中途无法继续读取（文件可能已损坏）",
                               f"the workbook's first sheet cannot be read to its end, it may be damaged "
                               f"({type(exc).__name__})") from None
    finally:
        streamed.close()


def _read_xlsx(path: Path, other_sheets: list[str] | None = None,
               unreadable_cells: list[str] | None = None) -> Iterator[tuple[int, list[str | None]]]:
    """Rows of the first sheet with their Excel row numbers, read with calamine (Rust; an order of magnitude
    faster than openpyxl; see STREAMED_SHEET_XML for large sheets), from the first row that holds anything (a
    blank line above the header is common). Excel 97-2003 (.xls) workbooks are read too. Names of further sheets
    that hold data go to `other_sheets`, error cells and formulas without a saved result to `unreadable_cells`
    (the batch is held for either)."""
    workbook = _open_workbook(path)
    try:
        rows = _first_sheet_rows(path, workbook)
        first = next(rows, None)
    except Exception as exc:  # noqa: BLE001
        raise UnreadableSource("Excel 文件的第一个工作表无法读取", f"the workbook's first sheet cannot be read "
                               f"({type(exc).__name__})") from None
    width = None
    # Both readers start at the sheet's first row, blank or not.
    for excel_row, row in enumerate(itertools.chain([first] if first is not None else [], rows), start=1):
        # Most cells are text: kept as they are without a call (an empty one is an absent value).
        values = [(v or None) if type(v) is str else _cell_text(v) for v in row]
        if width is None:  # the header: calamine pads it to the sheet's width with empty cells
            while values and values[-1] is None:
                values.pop()
            if not values:
                continue  # blank rows above the header
            width = len(values)
        # A short row is a row with blanks at the end; a long one keeps its extra values (a parse finding).
        while len(values) > width and values[-1] is None:
            values.pop()
        yield excel_row, values + [None] * (width - len(values))
    if other_sheets is not None:
        for index, name in enumerate(workbook.sheet_names[1:], start=1):
            try:
                data = workbook.get_sheet_by_index(index).to_python()
            except Exception:  # noqa: BLE001 - an unreadable extra sheet is still an extra sheet
                data = [["?"]]
            if any(_cell_text(v) for row in data for v in row):
                other_sheets.append(name)
    if unreadable_cells is not None and _is_zip(path):
        try:
            unreadable_cells.extend(_unreadable_cells(path))
        except Exception:  # noqa: BLE001 - calamine read it; a second look that fails changes nothing
            log.warning("could not scan %s for error cells", path.name)


def _is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == ZIP_MAGIC


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict | str]]:
    """Each JSON line's value (the line itself when it is not JSON) with its line number; blank lines skipped."""
    with path.open("r", encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                yield number, line
                continue
            yield number, value if isinstance(value, dict) else line


# NUL, bytes that did not decode (surrogate escapes) and lone surrogates: PostgreSQL text can hold none of them.
BAD_CHARACTERS = re.compile("[\x00\ud800-\udfff]")


def _bad_text(values: Iterable[str | None]) -> tuple[str, str] | None:
    """Why a row's text cannot be stored (NUL, undecodable bytes), or None; one regex pass per row."""
    found = BAD_CHARACTERS.search("\x1f".join(filter(None, values)))
    if found is None:
        return None
    if found.group() == "\x00":
        return "包含 NUL 字符", "contains a NUL character"
    if not "\udc80" <= found.group() <= "\udcff":
        return "包含无效的 Unicode 字符（孤立代理项）", "contains an invalid Unicode character (a lone surrogate)"
    return "包含无法按文件编码解码的字节", "contains bytes that do not decode in the file's encoding"


class _CopySource:
    """What COPY reads from: the batch's rows as CSV, a few hundred per read, never the whole batch.

    psycopg2 sends whatever `read` returns and stops at an empty result. The rows are formatted by one csv.writer
    per read (writerows: the formatting loop stays in C). Empty strings and NULLs are both written as an unquoted
    empty field, which COPY reads as NULL: a blank cell is an absent value.
    """

    ROWS_PER_READ = 500

    def __init__(self, rows: Iterable[list]) -> None:
        self._rows = iter(rows)
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")

    def read(self, size: int = -1) -> bytes:  # noqa: ARG002 - psycopg2 passes its buffer size
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerows(itertools.islice(self._rows, self.ROWS_PER_READ))
        return self._buffer.getvalue().encode("utf-8")


class _Stager:
    def __init__(self, batch: Batch, record_type: RecordType, feed: Feed) -> None:
        self.batch = batch
        self.record_type = record_type
        self.feed = feed
        self.result = StageResult()
        self.findings: list[Finding] = []
        self.codes: list[str] = []
        document = record_type.role(Role.DOCUMENT_NUMBER)
        self.document_code = document.code if document else None
        self._document_position: int | None = None
        self._index = header_index(record_type, feed)
        # Columns the transport adds around the record: an API's id and its last-change field.
        self._transport = TRANSPORT_COLUMNS | (
            {normalise_header(feed.api.updated_field)} if feed.api is not None else set())
        # Columns a data engineer reviewed and declared for the feed: kept as the row's `extra`, by declared name.
        self._extras = {normalise_header(h): h for h in feed.extra_columns}

    def extra_name(self, header: str) -> str | None:
        """The declared name of an extra column (its header compared as headers are), else None."""
        name = self._extras.get(normalise_header(header or ""))
        if name is not None and name not in self.result.extra_headers:
            self.result.extra_headers.append(name)
        return name

    def resolve_header(self, header: str) -> str | None:
        """The field code a source header stands for, noting unknown and repeated ones for the batch checks;
        None for transport columns, unknown headers and a second header for the same field."""
        key = normalise_header(header or "")
        code = self._index.get(key)
        if code is None:
            if key not in self._transport and key not in self._extras and key:
                self.result.unknown_headers.append(_printable_text(header))
            return None
        if code in self.result.mapped.values():
            self.result.duplicate_fields.append(code)
            return None
        self.result.mapped[header] = code
        return code

    def map_headers(self, headers: list[str]) -> list[int | None]:
        """Position of each source column in self.codes (None: not loaded)."""
        positions: list[int | None] = []
        for header in headers:
            code = self.resolve_header(header)
            if code is not None:
                self.codes.append(code)
            positions.append(len(self.codes) - 1 if code is not None else None)
        return positions

    def parse_failure(self, row_no: int, raw: dict, detail_zh: str, detail_en: str) -> None:
        self.findings.append(Finding(row_no=row_no, field="*", rule=Rule.PARSE, raw=_printable(raw),
                                     detail_zh=detail_zh, detail_en=detail_en))

    def rows(self, records: Iterator[tuple[int, list[str | None] | BrokenLine]]) -> Iterator[list]:
        """Staging rows for COPY from positional records (CSV and XLSX) with their places in the file; the first
        record is the header."""
        _, header = next(records, (0, None))
        if header is None:
            return
        headers = [(h or "").strip() for h in header]
        positions = self.map_headers(headers)
        extras = [(i, name) for i, h in enumerate(headers) if (name := self.extra_name(h)) is not None]
        width = len(headers)
        headerless = [i for i, h in enumerate(headers) if not h]
        # The source columns that hold a field, in the order of self.codes (map_headers appends as it goes).
        pick = _picker([i for i, p in enumerate(positions) if p is not None])
        place = self.result.place
        row_no = 0
        for position, record in records:
            if isinstance(record, BrokenLine):
                row_no += 1
                place(row_no, position)
                self.parse_failure(row_no, {"line": _printable_text(record.text[:2000])},
                                   "引号不成对或格式错误，该行无法解析", "unbalanced quote or malformed line")
                continue
            if not any(record):  # cells are text or None: a line of empty cells is blank, not a record
                continue
            row_no += 1
            place(row_no, position)
            if len(record) != width and (len(record) < width or any(record[width:])):
                self.parse_failure(row_no, _raw_row(headers, record), f"列数为 {len(record)}，表头为 {width} 列",
                                   f"{len(record)} columns where the header has {width}")
                continue
            if headerless:
                unnamed = [i + 1 for i in headerless if record[i]]
                if unnamed:
                    columns = ", ".join(map(str, unnamed))
                    self.parse_failure(row_no, _raw_row(headers, record), f"第 {columns} 列有值但没有表头",
                                       f"a value in column {columns}, which has no header")
                    continue
            problem = _bad_text(record)
            if problem:
                self.parse_failure(row_no, _raw_row(headers, record), *problem)
                continue
            extra = {name: record[i] for i, name in extras if record[i]} if extras else None
            yield self.row(row_no, pick(record), extra)
        self.result.rows_in = row_no

    def json_rows(self, records: Iterator[tuple[int, dict | str]]) -> Iterator[list]:
        """Staging rows for COPY from JSON objects; keys are mapped as they first appear."""
        # Keys can first appear in any record, but COPY needs its column list up front: use every field.
        self.codes = [f.code for f in self.record_type.fields]
        position_of_code = {code: i for i, code in enumerate(self.codes)}
        positions: dict[str, int | None] = {}
        extra_names: dict[str, str | None] = {}
        row_no = 0
        for position, record in records:
            row_no += 1
            self.result.place(row_no, position)
            if isinstance(record, str):
                self.parse_failure(row_no, {"line": _printable_text(record[:2000])}, "不是有效的 JSON 对象",
                                   "not a valid JSON object")
                continue
            for key in record:
                if key not in positions:
                    extra_names[key] = self.extra_name(key)
                    code = self.resolve_header(key)
                    positions[key] = position_of_code[code] if code else None
            text = {k: None if v is None else (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                    for k, v in record.items()}
            problem = _bad_text(text.values())
            if problem:
                self.parse_failure(row_no, text, *problem)
                continue
            values: list[str | None] = [None] * len(self.codes)
            for key, value in text.items():
                position = positions[key]
                if position is not None:
                    values[position] = value
            # Extra values keep their JSON type (CREATE_DATE stays a number of epoch milliseconds).
            extra = {extra_names[k]: v for k, v in record.items() if extra_names[k] is not None and v not in (None, "")}
            yield self.row(row_no, values, extra)
        self.result.rows_in = row_no

    def row(self, row_no: int, values: Sequence[str | None], extra: dict | None) -> list:
        if self._document_position is None and self.document_code in self.codes:
            self._document_position = self.codes.index(self.document_code)
        document = values[self._document_position] if self._document_position is not None else None
        uid = record_uid_text(self.batch.department_code, self.batch.record_type_code, document,
                              self.record_type.document_brackets)
        extra_json = json.dumps(extra, ensure_ascii=False) if extra else None
        return [self.batch.batch_id, row_no, uid, extra_json, *values]


def _picker(indices: list[int]) -> Callable[[list], Sequence]:
    """A function taking the cells at `indices` out of a record, in that order (operator.itemgetter, in C)."""
    if len(indices) == 1:
        (index,) = indices
        return lambda record: (record[index],)
    return operator.itemgetter(*indices) if indices else lambda record: ()


def _printable_text(value: str) -> str:
    return value.replace("\x00", "\\0").encode("utf-8", "backslashreplace").decode("utf-8")


def _printable(raw: dict) -> dict:
    return {_printable_text(str(k)): None if v is None else _printable_text(str(v)) for k, v in raw.items()}


def _raw_row(headers: list[str], record: list[str | None]) -> dict:
    return {headers[i] if i < len(headers) else f"#{i + 1}": v for i, v in enumerate(record)}


# What a row's place in the file is called for each landed format (read back by the feedback workbook).
_POSITION_UNIT = {"csv": "csv_line", "xlsx": "excel_row", "jsonl": "json_line"}


def stage_batch(engine: Engine, batch: Batch, catalog: Catalog) -> StageResult:
    """Parse the landed file into staging (replacing any earlier attempt for this batch)."""
    started = time.monotonic()
    feed = next(f for f in catalog.department_by_code[batch.department_code].feeds if f.code == batch.feed_code)
    record_type = catalog.record_type_by_code[batch.record_type_code]
    stager = _Stager(batch, record_type, feed)
    path = batch.landed_path
    if batch.source_format == "csv":
        stager.result.encoding = batch.source_encoding or detect_encoding(path)
        rows: Iterator[list] = stager.rows(_read_csv(path, stager.result.encoding))
    elif batch.source_format == "xlsx":
        rows = stager.rows(_read_xlsx(path, stager.result.other_sheets, stager.result.unreadable_cells))
    else:
        stager.result.encoding = "utf-8"
        rows = stager.json_rows(_read_jsonl(path))

    table = staging_table(record_type)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM {table} WHERE batch_id = %(b)s", {"b": batch.batch_id})
        conn.exec_driver_sql("DELETE FROM audit.quarantine WHERE batch_id = %(b)s", {"b": batch.batch_id})
        first = next(rows, None)  # parses the header, so the column list is known before COPY starts
        if first is not None:
            columns = ", ".join(["batch_id", "row_no", "record_uid", "extra", *[column(c) for c in stager.codes]])
            cursor = conn.connection.driver_connection.cursor()
            cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)",
                               _CopySource(itertools.chain([first], rows)))
        else:
            for _ in rows:  # exhaust: an all-failing source still counts its rows
                pass
        record_findings(conn, batch.batch_id, record_type, stager.findings)
        crash_point("stage.before_commit")
        result = stager.result
        result.elapsed_ms = int((time.monotonic() - started) * 1000)
        conn.execute(sa.text("""
            UPDATE audit.batch
               SET status = 'staged', rows_in = :rows_in, source_encoding = coalesce(:encoding, source_encoding),
                   header_map = CAST(:header_map AS jsonb), stage_ms = :ms, updated_at = now()
             WHERE batch_id = :batch_id
        """), {"rows_in": result.rows_in, "encoding": result.encoding, "ms": result.elapsed_ms,
               "batch_id": batch.batch_id,
               "header_map": json.dumps({"mapped": result.mapped, "extra": result.extra_headers,
                                         "unknown": result.unknown_headers,
                                         "duplicate_fields": result.duplicate_fields,
                                         "other_sheets": result.other_sheets,
                                         "unreadable_cells": result.unreadable_cells[:50],
                                         "positions": {"unit": _POSITION_UNIT[batch.source_format],
                                                       "runs": result.positions}},
                                        ensure_ascii=False)})
    return result


@dataclass
class Table:
    """A file read as a table: its header, its rows as text (blank rows kept, for numbering), and how it was
    read, with what a person must hear about (lines that are not CSV, other sheets, cells without a value)."""

    header: list[str]
    rows: list[list[str | None]]
    format: str
    encoding: str | None
    broken_lines: list[str]
    other_sheets: list[str] = field(default_factory=list)
    unreadable_cells: list[str] = field(default_factory=list)


# Control characters in a header: bytes read as text that are not (a binary file named .csv).
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _is_workbook(path: Path) -> bool:
    with path.open("rb") as handle:
        magic = handle.read(8)
    return magic.startswith(ZIP_MAGIC) or magic == OLE2_MAGIC


def read_table(path: Path, limit: int | None = None) -> Table:
    """A department's or the office's file as header and rows, in any format a feed may deliver (CSV in UTF-8
    or GB18030, Excel .xlsx/.xls, JSON lines), told apart by its bytes before its name (an .xlsx renamed .csv
    is a workbook); UnreadableSource when it is not a table. `limit` stops after that many rows (a look at
    the columns, not a load)."""
    path = Path(path)
    suffix = path.suffix.casefold()
    rows: list[list[str | None]] = []
    broken: list[str] = []
    other_sheets: list[str] = []
    unreadable: list[str] = []
    if _is_workbook(path) or suffix in (".xlsx", ".xls", ".xlsm"):
        fmt, encoding, records = "xlsx", None, _read_xlsx(path, other_sheets, unreadable)
    elif suffix in (".jsonl", ".json", ".ndjson"):
        fmt, encoding = "jsonl", "utf-8"
        objects = [v for _, v in _read_jsonl(path) if isinstance(v, dict)]
        if not objects:
            raise UnreadableSource("文件中没有 JSON 对象行", "the file holds no JSON object per line")
        header = list(dict.fromkeys(k for o in objects[:limit] for k in o))
        rows = [[None if o.get(k) is None else str(o.get(k)) for k in header] for o in objects[:limit]]
        return Table(header, rows, fmt, encoding, [])
    else:
        fmt, encoding = "csv", detect_encoding(path)
        if encoding not in ("utf-8", "utf-8-sig", "gb18030"):
            # A short Chinese text can look like Big5 to a detector; offices write UTF-8 or GB18030.
            encoding = "gb18030"
        records = _read_csv(path, encoding)
    header = None
    for _, record in records:
        if isinstance(record, BrokenLine):
            broken.append(record.text)
            continue
        if header is None:
            header = [(cell or "").strip() for cell in record]
            if _bad_text(header) or CONTROL_CHARACTERS.search("".join(header)):
                raise UnreadableSource("文件不是文本表格（表头含无法识别的字节）",
                                       "the file is not a text table (its header holds bytes that are not text)")
            continue
        rows.append([cell if cell not in ("",) else None for cell in record])
        if limit is not None and len(rows) >= limit:
            break
    if header is None:
        raise UnreadableSource("文件中没有表头行", "the file has no header row")
    return Table(header, rows, fmt, encoding, broken, other_sheets, unreadable)
