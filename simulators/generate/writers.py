"""Write generated rows in each department's native form: CSV/XLSX files, JSON API pages, SQL tables.

Every writer produces the same bytes for the same rows: XLSX packages get fixed timestamps inside
and outside the zip, JSON is written with a fixed layout, SQLite files are built from scratch.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sqlite3
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from etl.catalog import Feed, FieldType, RecordType

SQL_CHUNK_ROWS = 2000
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


def column_names(feed: Feed, rt: RecordType, transport: str) -> list[str]:
    """Column headers / JSON keys / SQL columns for the feed's header style, in record-type field order."""
    if feed.header_style == "codes":
        return [f.code.lower() if transport == "sql" else f.code for f in rt.fields]
    if feed.header_style == "standard_zh":
        return [f.name_zh for f in rt.fields]
    alias = {code: header for header, code in feed.columns.items()}
    return [alias.get(f.code, f.name_zh) for f in rt.fields]


def _text(value: object) -> str | None:
    """Values as text for CSV/JSON/SQL: an Excel serial (int) becomes its digits."""
    if value is None or isinstance(value, str):
        return value
    return str(value)


# -- files -------------------------------------------------------------------------------------------


def write_csv(path: Path, encoding: str, header: Sequence[str], codes: Sequence[str], rows: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows([row[c] for c in codes] for row in rows)  # None is written as ""


def _number(value: object) -> object:
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() and "." not in value else number
    return value


def _column_letters(count: int) -> list[str]:
    letters = []
    for n in range(1, count + 1):
        name = ""
        while n:
            n, r = divmod(n - 1, 26)
            name = chr(65 + r) + name
        letters.append(name)
    return letters


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sheet_rows(rows: Iterable[dict], codes: Sequence[str], numeric: set[str]) -> Iterable[str]:
    """Data rows (from row 2) as SpreadsheetML, cell for cell what openpyxl's write-only mode writes:
    inline strings (xml:space="preserve" when padded), numbers as n cells, empty cells left out."""
    letters = _column_letters(len(codes))
    columns = list(zip(letters, codes, [c in numeric for c in codes], strict=True))
    for r, row in enumerate(rows, 2):
        cells = []
        for letter, code, is_numeric in columns:
            value = row[code]
            if value is None or value == "":
                continue
            if is_numeric:
                value = _number(value)
            if isinstance(value, str):
                space = ' xml:space="preserve"' if value[:1].isspace() or value[-1:].isspace() else ""
                cells.append(f'<c r="{letter}{r}" t="inlineStr"><is><t{space}>{_xml_text(value)}</t></is></c>')
            else:
                cells.append(f'<c r="{letter}{r}" t="n"><v>{value!r}</v></c>')
        yield f'<row r="{r}">{"".join(cells)}</row>'


def write_xlsx(path: Path, sheet_title: str, header: Sequence[str], rt: RecordType, rows: Sequence[dict],
               timestamp: dt.datetime) -> None:  # fmt: skip
    """One sheet, header row then data; decimals and years as numbers, everything else as text.

    openpyxl builds the package (workbook, styles, the sheet with its header row). The data rows are
    then spliced into the sheet XML in the exact form openpyxl would write them, because openpyxl's
    per-cell serialisation (~6 µs a cell) would make XLSX feeds the bottleneck of large data sets.
    """
    from openpyxl import Workbook

    numeric = {f.code for f in rt.fields if f.type in (FieldType.DECIMAL, FieldType.YEAR)}
    codes = [f.code for f in rt.fields]
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "credit-warehouse generator"
    workbook.properties.created = timestamp
    workbook.properties.modified = timestamp
    sheet = workbook.create_sheet(sheet_title)
    sheet.append(list(header))
    buffer = io.BytesIO()
    workbook.save(buffer)
    data_rows = "".join(_sheet_rows(rows, codes, numeric)).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(deterministic_zip(buffer.getvalue(), timestamp, {"xl/worksheets/sheet1.xml": data_rows}))


_CORE_DATES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")
_SHEET_DATA_END = b"</sheetData>"


def deterministic_zip(data: bytes, timestamp: dt.datetime, append_rows: dict[str, bytes] | None = None) -> bytes:
    """Rewrite an OOXML package with fixed entry dates, attributes and core-property timestamps,
    adding rows before the end of the sheet data of the sheets named in append_rows."""
    stamp = timestamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    append_rows = append_rows or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in sorted(source.namelist(), key=lambda n: (n != "[Content_Types].xml", n)):
            content = source.read(name)
            if name == "docProps/core.xml":
                content = _CORE_DATES.sub(rb"\g<1>" + stamp + rb"\g<3>", content)
            if name in append_rows:
                if _SHEET_DATA_END not in content:
                    raise AssertionError(f"{name} has no </sheetData> to append rows to")
                content = content.replace(_SHEET_DATA_END, append_rows[name] + _SHEET_DATA_END, 1)
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            info.external_attr = 0o600 << 16
            target.writestr(info, content, compresslevel=6)
    return out.getvalue()


# -- API pages ---------------------------------------------------------------------------------------


def write_api_pages(directory: Path, page_size: int, keys: Sequence[str], codes: Sequence[str], rows: Sequence[dict],
                    updated_at: Sequence[str]) -> list[Path]:  # fmt: skip
    """`page-0001.json` ...: {"data": [...], "page", "page_size", "total", "total_pages"}; ids start at 1."""
    directory.mkdir(parents=True, exist_ok=True)
    total = len(rows)
    pages = max(1, -(-total // page_size))
    paths = []
    pairs = list(zip(keys, codes, strict=True))
    for page in range(1, pages + 1):
        first = (page - 1) * page_size
        data = []
        for index in range(first, min(first + page_size, total)):
            row = rows[index]
            record = {"id": index + 1}
            record.update((key, _text(row[code])) for key, code in pairs)
            record["updated_at"] = updated_at[index]
            data.append(record)
        document = {"data": data, "page": page, "page_size": page_size, "total": total, "total_pages": pages}
        path = directory / f"page-{page:04d}.json"
        path.write_text(json.dumps(document, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


# -- SQL front databases -----------------------------------------------------------------------------


def _sql_rows(columns: Sequence[str], codes: Sequence[str], rows: Sequence[dict], updated_at: Sequence[str]):
    for index, row in enumerate(rows):
        yield (index + 1, updated_at[index], *(_text(row[c]) for c in codes))


def write_sqlite_table(connection: sqlite3.Connection, table: str, columns: Sequence[str], codes: Sequence[str],
                       rows: Sequence[dict], updated_at: Sequence[str]) -> None:  # fmt: skip
    quoted = ", ".join(f'"{c}" TEXT' for c in columns)
    connection.execute(f'DROP TABLE IF EXISTS "{table}"')
    connection.execute(f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY, updated_at TEXT, {quoted})')
    placeholders = ", ".join("?" * (len(columns) + 2))
    connection.executemany(f'INSERT INTO "{table}" VALUES ({placeholders})',
                           _sql_rows(columns, codes, rows, updated_at))  # fmt: skip


def open_sqlite(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = DELETE")
    connection.execute("PRAGMA synchronous = OFF")
    return connection


class SqlTarget:
    """Front databases behind an SQLAlchemy URL with a `{department}` placeholder (one database each)."""

    def __init__(self, url_template: str) -> None:
        self.template = url_template
        self._engines: dict[str, object] = {}

    def url(self, department: str):
        from sqlalchemy.engine import make_url

        url = make_url(self.template.replace("{department}", department))
        if url.get_backend_name() in ("mysql", "mariadb") and "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        return url

    def redacted(self, department: str) -> str:
        return self.url(department).render_as_string(hide_password=True)

    def engine(self, department: str):
        from sqlalchemy import create_engine

        if department not in self._engines:
            url = self.url(department)
            _create_database(url)
            self._engines[department] = create_engine(url)
        return self._engines[department]

    def write_table(self, department: str, table: str, columns: Sequence[str], codes: Sequence[str],
                    rows: Sequence[dict], updated_at: Sequence[str]) -> None:  # fmt: skip
        from sqlalchemy import Column, Integer, MetaData, Table, Text

        engine = self.engine(department)
        metadata = MetaData()
        target = Table(table, metadata, Column("id", Integer, primary_key=True, autoincrement=False),
                       Column("updated_at", Text), *(Column(c, Text) for c in columns))  # fmt: skip
        names = ["id", "updated_at", *columns]
        with engine.begin() as connection:
            target.drop(connection, checkfirst=True)
            target.create(connection)
            chunk = []
            for values in _sql_rows(columns, codes, rows, updated_at):
                chunk.append(dict(zip(names, values, strict=True)))
                if len(chunk) == SQL_CHUNK_ROWS:
                    connection.execute(target.insert(), chunk)
                    chunk = []
            if chunk:
                connection.execute(target.insert(), chunk)

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()


def _create_database(url) -> None:
    """Create the database named in url if it is missing (MariaDB/MySQL and PostgreSQL)."""
    from sqlalchemy import URL, create_engine, text

    backend, name = url.get_backend_name(), url.database
    if not name:
        return
    if backend in ("mysql", "mariadb"):
        # URL.set(database=None) keeps the database in SQLAlchemy 2.1, so build the server URL anew
        server = create_engine(URL.create(url.drivername, url.username, url.password, url.host, url.port,
                                          None, url.query))  # fmt: skip
        try:
            with server.begin() as connection:
                quoted = name.replace("`", "``")
                connection.execute(text(f"CREATE DATABASE IF NOT EXISTS `{quoted}` "
                                        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))  # fmt: skip
        finally:
            server.dispose()
    elif backend == "postgresql":
        server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with server.connect() as connection:
                exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
                if not exists:
                    quoted = name.replace('"', '""')
                    connection.execute(text(f"CREATE DATABASE \"{quoted}\" ENCODING 'UTF8' TEMPLATE template0"))
        finally:
            server.dispose()
    elif backend == "sqlite" and name != ":memory:":
        Path(name).parent.mkdir(parents=True, exist_ok=True)
