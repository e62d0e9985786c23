"""The bad-input corpus: builds the hostile source files under tests/corpus/files/, byte for byte.

The files are committed; this module is how they were made and how to make them again
(`python -m tests.corpus.build`). The same run gives the same bytes (XLSX zip entries and
document properties carry fixed timestamps). Files too big to commit (a 100k-character field,
a batch ten times a feed's usual size) are built at test time by `recipe()` from the same rows.

Every row is a valid record of its feed until a case breaks it on purpose, so each case's expected
outcome in cases.yml is caused by its one defect. Document numbers carry the file's name, so no two
cases touch the same warehouse record.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from openpyxl import Workbook

from etl.catalog import Feed, catalog
from etl.codes import id_check_char
from simulators.generate.subjects import uscc

FILES = Path(__file__).resolve().parent / "files"

# The penalty columns a department usually sends, in its own column order.
PENALTY_CODES = [
    "CF_XDR_MC", "CF_XDR_LB", "CF_XDR_SHXYM", "CF_FRDB", "CF_WSH", "CF_WFXW", "CF_SY", "CF_YJ", "CF_CFLB", "CF_NR",
    "CF_NR_FK", "CF_JDRQ", "CF_YXQ", "CF_CFJG", "CF_CFJGDM", "CF_SJLY", "CF_SJLYDM",
]
PERSON_CODES = [*PENALTY_CODES, "CF_XDR_ZJLX", "CF_XDR_ZJHM"]
LICENCE_CODES = ["XK_XDR_MC", "XK_XDR_LB", "XK_XDR_SHXYM", "XK_FRDB", "XK_XKWS", "XK_WSH", "XK_XKLB", "XK_NR",
                 "XK_JDRQ", "XK_YXQZ", "XK_YXQZI", "XK_XKJG", "XK_XKJGDM", "XK_LYDW", "XK_LYDWDM"]
DEBTOR_CODES = ["ZX_XDR_MC", "ZX_XDR_LB", "ZX_XDR_SHXYM", "ZX_FRDB", "ZX_AH", "ZX_ZXFY", "ZX_LARQ", "ZX_FBRQ",
                "ZX_SXQX", "ZX_LXQK"]
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# Files no Python library here writes: real Excel 97-2003 (BIFF8) workbooks, saved by LibreOffice 7.4 from the
# workbook `xlsx_bytes` makes of two valid statistics penalties named after the file (`soffice --headless
# --convert-to xls`). Committed as they are; `main` keeps them.
SAVED_BY_LIBREOFFICE = frozenset({"xls_excel_97_2003.xls", "xls_saved_under_an_xlsx_name.xlsx"})


def feed_of(department: str, feed: str) -> Feed:
    return next(f for f in catalog().department_by_code[department].feeds if f.code == feed)


def firm_code(n: int, category: str = "1") -> str:
    """A valid USCC of a county firm (category 1 = enterprise, 2 = 个体工商户)."""
    return uscc("9", category, "410523", f"{n % 10**8:08d}")


def person_id(birth: str, sequence: int) -> str:
    first17 = f"410523{birth}{sequence % 1000:03d}"
    return first17 + id_check_char(first17)


def person_id_ending_in_x() -> str:
    return next(i for i in (person_id("19850615", s) for s in range(1000)) if i.endswith("X"))


def tag_of(name: str) -> int:
    """A stable number per file, so document numbers never collide between cases."""
    return zlib.crc32(name.encode()) % 10**6


def penalty(department: str, name: str, n: int, **overrides: str) -> dict[str, str]:
    """Row n (1-based) of a file: a valid penalty of the department's, changed by `overrides` (by field code)."""
    dept = catalog().department_by_code[department]
    row = {
        "CF_XDR_MC": f"示范县康宁大药房有限公司{n}", "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": firm_code(tag_of(name) * 10 + n), "CF_FRDB": "张伟",
        "CF_WSH": f"示罚〔2025〕{tag_of(name)}-{n}号", "CF_WFXW": "药品管理", "CF_SY": "销售过期药品",
        "CF_YJ": "《药品管理法》第一百一十七条", "CF_CFLB": "罚款;没收违法所得", "CF_NR": "罚款二千元",
        "CF_NR_FK": "0.2", "CF_JDRQ": "2025-06-03", "CF_YXQ": "2026-06-03", "CF_CFJG": dept.name_zh,
        "CF_CFJGDM": dept.agency_uscc, "CF_SJLY": dept.name_zh, "CF_SJLYDM": dept.agency_uscc,
        "CF_XDR_ZJLX": "", "CF_XDR_ZJHM": "",
    }
    row.update(overrides)
    return row


def person_penalty(department: str, name: str, n: int, **overrides: str) -> dict[str, str]:
    return penalty(department, name, n, **{"CF_XDR_MC": f"王某{n}", "CF_XDR_LB": "自然人", "CF_XDR_SHXYM": "",
                                          "CF_FRDB": "", "CF_XDR_ZJLX": "身份证",
                                          "CF_XDR_ZJHM": person_id("19900101", n), **overrides})


def licence(department: str, name: str, n: int, **overrides: str) -> dict[str, str]:
    dept = catalog().department_by_code[department]
    row = {
        "XK_XDR_MC": f"示范县育才培训学校{n}", "XK_XDR_LB": "法人及非法人组织",
        "XK_XDR_SHXYM": firm_code(tag_of(name) * 10 + n), "XK_FRDB": "李娜", "XK_XKWS": "准予行政许可决定书",
        "XK_WSH": f"示许〔2025〕{tag_of(name)}-{n}号", "XK_XKLB": "普通", "XK_NR": "民办学校办学许可",
        "XK_JDRQ": "2025-05-06", "XK_YXQZ": "2025-05-06", "XK_YXQZI": "2030-05-05", "XK_XKJG": dept.name_zh,
        "XK_XKJGDM": dept.agency_uscc, "XK_LYDW": dept.name_zh, "XK_LYDWDM": dept.agency_uscc,
    }
    row.update(overrides)
    return row


def debtor(name: str, n: int, **overrides) -> dict:
    """An API record of the court's dishonest-debtor feed (field codes as keys, plus id and updated_at)."""
    record = {
        "id": tag_of(name) * 10 + n, "ZX_XDR_MC": f"示范县宏达建材有限公司{n}", "ZX_XDR_LB": "法人及非法人组织",
        "ZX_XDR_SHXYM": firm_code(tag_of(name) * 10 + n), "ZX_FRDB": "赵强",
        "ZX_AH": f"（2025）豫0523执{tag_of(name)}-{n}号", "ZX_ZXFY": "示范县人民法院", "ZX_LARQ": "2025-03-01",
        "ZX_FBRQ": "2025-04-01", "ZX_SXQX": "有履行能力而拒不履行生效法律文书确定义务", "ZX_LXQK": "全部未履行",
        "updated_at": "2025-04-01T08:00:00Z",
    }
    record.update(overrides)
    return record


def headers(feed: Feed, codes: list[str]) -> list[str]:
    """How the feed names each field: its own alias, the code, or the standard Chinese name."""
    record_type = catalog().record_type_by_code[feed.record_type]
    alias = {code: header for header, code in feed.columns.items()}
    if feed.header_style == "codes":
        return codes
    return [alias.get(code) or record_type.field_by_code[code].name_zh for code in codes]


def table(department: str, feed: str, rows: list[dict[str, str]], codes: list[str] = PENALTY_CODES) -> list[list]:
    """Header row and data rows, in the feed's header spelling."""
    return [headers(feed_of(department, feed), codes), *[[row.get(c, "") for c in codes] for row in rows]]


def csv_text(rows: list[list]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def csv_bytes(rows: list[list], encoding: str = "utf-8") -> bytes:
    return csv_text(rows).encode(encoding)


def csv_line(row: list, encoding: str = "utf-8") -> bytes:
    return csv_bytes([row], encoding)


# -- XLSX -------------------------------------------------------------------------------------------


def _fixed_zip(data: bytes, patch: Callable[[str, bytes], bytes] | None = None) -> bytes:
    """The same workbook with fixed timestamps (reproducible bytes), parts optionally rewritten."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2025-06-30T00:00:00Z", content)
            if patch:
                content = patch(info.filename, content)
            target.writestr(zipfile.ZipInfo(info.filename, FIXED_TIME), content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def xlsx_bytes(sheets: dict[str, list[list]], *, merges: dict[str, list[str]] | None = None,
               text_cells: bool = True, cached: dict[str, tuple[str, str]] | None = None,
               error_cells: bool = False) -> bytes:
    """A workbook with one sheet per entry. Strings starting with '=' are formulas unless `text_cells`;
    `cached` gives formula cells ("Sheet!A1") a cached result, as Excel saves it: (type, value);
    with `error_cells`, strings like #N/A are error values, not text."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is None or value == "":
                    continue
                cell = sheet.cell(row=r, column=c, value=value)
                formula = isinstance(value, str) and value.startswith("=") and (
                    not text_cells or f"{title}!{cell.coordinate}" in (cached or {}))
                if isinstance(value, str) and not formula and not (error_cells and cell.data_type == "e"):
                    cell.data_type = "s"
        for area in (merges or {}).get(title, []):
            sheet.merge_cells(area)
    buffer = io.BytesIO()
    workbook.save(buffer)

    def add_cached_values(name: str, content: bytes) -> bytes:
        for key, (kind, value) in (cached or {}).items():
            title, ref = key.split("!")
            index = list(sheets).index(title) + 1
            if name != f"xl/worksheets/sheet{index}.xml":
                continue
            pattern = re.compile(rb'<c r="(' + ref.encode() + rb')"([^>]*)><f>(.*?)</f><v ?/>')
            kind_attr = rb' t="str"' if kind == "str" else b""
            replacement = rb'<c r="\1"\2' + kind_attr + rb"><f>\3</f><v>" + value.encode() + b"</v>"
            content, count = pattern.subn(replacement, content)
            assert count == 1, key
        return content

    return _fixed_zip(buffer.getvalue(), add_cached_values)


def ole_container(streams: dict[str, bytes]) -> bytes:
    """A Compound File Binary (v3, 512-byte sectors) holding `streams`, as Office wraps an encrypted
    workbook (streams EncryptionInfo and EncryptedPackage). Streams are padded to the 4096-byte
    mini-stream cutoff so all live in ordinary sectors."""
    sector = 512
    free, end, fat_sector = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    names = list(streams)
    datas = [streams[n].ljust(4096, b"\0") for n in names]
    sizes = [len(d) for d in datas]
    data_sectors = [-(-len(d) // sector) for d in datas]
    fat = [fat_sector, end]  # sector 0: the FAT itself, sector 1: the directory
    starts = []
    for count in data_sectors:
        start = len(fat)
        starts.append(start)
        fat.extend(list(range(start + 1, start + count)) + [end])
    assert len(fat) <= sector // 4
    fat += [free] * (sector // 4 - len(fat))

    def entry(name: str, kind: int, left: int, right: int, child: int, start: int, size: int) -> bytes:
        encoded = name.encode("utf-16-le") + b"\0\0" if name else b""
        return (encoded.ljust(64, b"\0") + struct.pack("<HBB3I", len(encoded), kind, 1, left, right, child)
                + b"\0" * 16 + b"\0" * 4 + b"\0" * 16 + struct.pack("<IQ", start, size))

    nostream = 0xFFFFFFFF
    # Siblings ordered by name length then name: the shorter name is the subtree's root, the longer its right.
    directory = entry("Root Entry", 5, nostream, nostream, 1, end, 0)
    for i, _ in enumerate(names):
        directory += entry(names[i], 2, nostream, i + 2 if i + 1 < len(names) else nostream, nostream, starts[i],
                           sizes[i])
    directory = directory.ljust(sector, b"\0")
    assert len(directory) == sector
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\0" * 6 + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0)
              + struct.pack("<109I", 0, *([free] * 108)))
    assert len(header) == sector
    body = b"".join(d.ljust(count * sector, b"\0") for d, count in zip(datas, data_sectors, strict=True))
    return header + struct.pack(f"<{sector // 4}I", *fat) + directory + body


ENCRYPTION_INFO = b"\x04\x00\x04\x00\x40\x00\x00\x00" + (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n<encryption '
    b'xmlns="http://schemas.microsoft.com/office/2006/encryption" '
    b'xmlns:p="http://schemas.microsoft.com/office/2006/keyEncryptor/password"><keyData saltSize="16" '
    b'blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" cipherChaining="ChainingModeCBC" '
    b'hashAlgorithm="SHA512" saltValue="AAAAAAAAAAAAAAAAAAAAAA=="/><keyEncryptors><keyEncryptor '
    b'uri="http://schemas.microsoft.com/office/2006/keyEncryptor/password"><p:encryptedKey spinCount="100000" '
    b'saltSize="16" blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" '
    b'cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512" saltValue="AAAAAAAAAAAAAAAAAAAAAA=="/>'
    b'</keyEncryptor></keyEncryptors></encryption>')


# -- the files --------------------------------------------------------------------------------------


def health(name: str, rows: list[dict[str, str]], codes: list[str] = PENALTY_CODES, encoding: str = "utf-8") -> bytes:
    return csv_bytes(table("health", "penalty", rows, codes), encoding)


def health_rows(name: str, count: int, **overrides: str) -> list[dict[str, str]]:
    return [penalty("health", name, n, **overrides) for n in range(1, count + 1)]


def one_bad_row(name: str, codes: list[str] = PENALTY_CODES, good: int = 1, person: bool = False,
                **overrides: str) -> bytes:
    """`good` valid rows and, last, one row with `overrides`."""
    make = person_penalty if person else penalty
    rows = [make("health", name, n) for n in range(1, good + 1)]
    rows.append(make("health", name, good + 1, **overrides))
    return health(name, rows, codes)


def emergency(name: str, rows: list[dict[str, str]], encoding: str) -> bytes:
    return csv_bytes(table("emergency", "penalty", rows), encoding)


def natural_resources_xlsx(name: str, rows: list[dict[str, str]], **options) -> bytes:
    return xlsx_bytes({"行政处罚": table("natural_resources", "penalty", rows)}, **options)


def build_files() -> dict[str, bytes]:
    """Every committed corpus file by name (relative to files/)."""
    files: dict[str, bytes] = {}

    def add(name: str, data: bytes) -> None:
        assert name not in files, name
        files[name] = data

    # -- encodings and byte-order marks --
    n = "enc_gbk_row_in_utf8_feed.csv"
    rows = health_rows(n, 3)
    add(n, csv_bytes(table("health", "penalty", rows[:2])) + csv_line(table("health", "penalty", rows[2:])[1], "gbk"))
    n = "enc_whole_file_gbk_in_utf8_feed.csv"
    add(n, health(n, health_rows(n, 3), encoding="gbk"))
    n = "enc_utf16le_with_bom.csv"
    add(n, health(n, health_rows(n, 2), encoding="utf-16"))
    n = "enc_utf16be_without_bom.csv"
    add(n, health(n, health_rows(n, 2), encoding="utf-16-be"))
    n = "enc_half_utf8_half_gb18030.csv"
    rows = table("health", "penalty", health_rows(n, 4))
    add(n, csv_bytes(rows[:3]) + csv_bytes(rows[3:], "gb18030"))
    n = "enc_gb18030_feed_with_a_utf8_row.csv"
    rows = table("emergency", "penalty", [penalty("emergency", n, i) for i in range(1, 5)])
    add(n, csv_bytes(rows[:4], "gb18030") + csv_bytes(rows[4:], "utf-8"))
    n = "enc_gb18030_feed_with_a_utf8_row_that_decodes_as_gb18030.csv"
    even = {"CF_XDR_MC": "宏达建材", "CF_XDR_LB": "法人及非法人组织", "CF_FRDB": "张伟", "CF_WFXW": "安全生产",
            "CF_SY": "未按规定配备安全设施", "CF_YJ": "《安全生产法》第九十九条", "CF_CFLB": "罚款",
            "CF_NR": "罚款二千", "CF_WSH": f"安监罚字2025-{tag_of(n)}-3号令", "CF_CFJG": "县应急管理局",
            "CF_SJLY": "县应急管理局"}
    rows = table("emergency", "penalty", [penalty("emergency", n, 1), penalty("emergency", n, 2),
                                          penalty("emergency", n, 3, **even)])
    pasted = csv_line(rows[3], "utf-8")
    assert pasted.decode("gb18030") != rows[3], "the UTF-8 row is valid GB18030 too (as mojibake)"
    add(n, csv_bytes(rows[:3], "gb18030") + pasted)
    n = "bom_utf8_file_in_gb18030_feed.csv"
    add(n, emergency(n, [penalty("emergency", n, i) for i in (1, 2)], "utf-8-sig"))
    n = "bom_utf8_then_gb18030_bytes.csv"
    add(n, b"\xef\xbb\xbf" + emergency(n, [penalty("emergency", n, i) for i in (1, 2)], "gb18030"))
    n = "bom_double_utf8.csv"
    add(n, b"\xef\xbb\xbf\xef\xbb\xbf" + health(n, health_rows(n, 2)))
    n = "bom_gb18030_in_gb18030_feed.csv"  # GB18030's own BOM (84 31 95 33)
    add(n, "\ufeff".encode("gb18030") + emergency(n, [penalty("emergency", n, i) for i in (1, 2)], "gb18030"))

    # -- XLSX containers --
    n = "xlsx_truncated.xlsx"
    whole = natural_resources_xlsx(n, [penalty("natural_resources", n, i) for i in (1, 2, 3)])
    add(n, whole[: len(whole) // 2])
    n = "xlsx_encrypted_ole.xlsx"
    add(n, ole_container({"EncryptionInfo": ENCRYPTION_INFO,
                          "EncryptedPackage": struct.pack("<Q", 8192) + bytes(range(256)) * 32}))
    add("xlsx_zero_bytes.xlsx", b"")
    n = "xlsx_csv_renamed.xlsx"
    add(n, csv_bytes(table("natural_resources", "penalty", [penalty("natural_resources", n, 1)])))
    n = "xlsx_empty_workbook.xlsx"
    add(n, xlsx_bytes({"Sheet1": []}))
    n = "xlsx_formulas_with_cached_values.xlsx"
    rows = table("natural_resources", "penalty", [penalty("natural_resources", n, i) for i in (1, 2)])
    rows[1][PENALTY_CODES.index("CF_NR_FK")] = "=0.1+0.1"
    rows[2][PENALTY_CODES.index("CF_XDR_MC")] = '="示范县"&"鑫源矿业有限公司"'
    add(n, xlsx_bytes({"行政处罚": rows}, cached={"行政处罚!K2": ("n", "0.2"),
                                                "行政处罚!A3": ("str", "示范县鑫源矿业有限公司")}))
    n = "xlsx_formula_name_without_cached_value.xlsx"
    rows = table("natural_resources", "penalty", [penalty("natural_resources", n, i) for i in (1, 2)])
    rows[2][PENALTY_CODES.index("CF_XDR_MC")] = '="示范县"&"鑫源矿业有限公司"'
    add(n, xlsx_bytes({"行政处罚": rows}, text_cells=False))
    n = "xlsx_formula_fine_without_cached_value.xlsx"
    rows = table("natural_resources", "penalty", [penalty("natural_resources", n, i) for i in (1, 2)])
    rows[1][PENALTY_CODES.index("CF_NR_FK")] = "=0.1+0.1"
    add(n, xlsx_bytes({"行政处罚": rows}, text_cells=False))
    n = "xlsx_error_values.xlsx"  # cells holding Excel errors (#N/A in a required field, #DIV/0! in the fine)
    rows = table("natural_resources", "penalty", [penalty("natural_resources", n, i) for i in (1, 2, 3)])
    rows[2][PENALTY_CODES.index("CF_XDR_MC")] = "#N/A"
    rows[3][PENALTY_CODES.index("CF_NR_FK")] = "#DIV/0!"
    add(n, xlsx_bytes({"行政处罚": rows}, error_cells=True))
    n = "xlsx_value_in_column_without_header.xlsx"
    rows = table("natural_resources", "penalty", [penalty("natural_resources", n, i) for i in (1, 2)])
    rows[0].append("")
    rows[1].append("")
    rows[2].append("该企业已整改完毕")
    add(n, xlsx_bytes({"行政处罚": rows}))
    n = "xlsx_blank_row_above_header.xlsx"
    rows = table("natural_resources", "penalty", [penalty("natural_resources", n, i) for i in (1, 2)])
    add(n, xlsx_bytes({"行政处罚": [[], *rows]}))
    n = "xlsx_merged_title_row.xlsx"
    rows = table("natural_resources", "penalty", [penalty("natural_resources", n, i) for i in (1, 2)])
    add(n, xlsx_bytes({"行政处罚": [["示范县自然资源局2025年6月行政处罚信息公示表"], *rows]},
                      merges={"行政处罚": ["A1:Q1"]}))
    n = "xlsx_merged_cells_down_a_column.xlsx"
    rows = table("natural_resources", "penalty", [penalty("natural_resources", n, i) for i in (1, 2, 3)])
    column = PENALTY_CODES.index("CF_CFJG")
    for row in rows[2:]:
        row[column] = ""
    letter = chr(ord("A") + column)
    add(n, xlsx_bytes({"行政处罚": rows}, merges={"行政处罚": [f"{letter}2:{letter}4"]}))
    n = "xlsx_two_sheets_of_data.xlsx"
    rows = [penalty("natural_resources", n, i) for i in (1, 2, 3, 4)]
    add(n, xlsx_bytes({"1-6月": table("natural_resources", "penalty", rows[:2]),
                       "7-12月": table("natural_resources", "penalty", rows[2:])}))
    n = "xlsx_instructions_sheet_first.xlsx"
    add(n, xlsx_bytes({"填报说明": [["填报说明"], ["1. 日期格式为 YYYY-MM-DD"], ["2. 罚款金额单位为万元"]],
                       "行政处罚": table("natural_resources", "penalty",
                                        [penalty("natural_resources", n, i) for i in (1, 2)])}))
    n = "xlsx_typed_cells.xlsx"  # dates as real dates, amounts and a document number as numbers
    rows = table("natural_resources", "penalty", [penalty("natural_resources", n, i) for i in (1, 2)])
    for row in rows[1:]:
        row[PENALTY_CODES.index("CF_JDRQ")] = dt.datetime(2025, 6, 3)
        row[PENALTY_CODES.index("CF_YXQ")] = dt.date(2026, 6, 3)
        row[PENALTY_CODES.index("CF_NR_FK")] = 0.25
        row[PENALTY_CODES.index("CF_NR")] = "罚款贰仟伍佰元"  # what 0.25 万元 is, as 处罚内容 writes it
    rows[2][PENALTY_CODES.index("CF_WSH")] = 20250000 + tag_of(n) % 10000
    add(n, xlsx_bytes({"行政处罚": rows}))
    n = "xlsx_id_number_typed_as_number.xlsx"
    person = person_penalty("natural_resources", n, 1)
    rows = table("natural_resources", "penalty", [penalty("natural_resources", n, 2), person], PERSON_CODES)
    rows[2][PERSON_CODES.index("CF_XDR_ZJHM")] = float(person["CF_XDR_ZJHM"])  # Excel keeps 15 digits
    add(n, xlsx_bytes({"行政处罚": rows}))
    n = "xlsx_formula_injection_as_text.xlsx"  # hrss: the department's own headers
    rows = table("hrss", "penalty", [penalty("hrss", n, 1), penalty("hrss", n, 2, CF_XDR_LB="=cmd|' /C calc'!A0"),
                                      penalty("hrss", n, 3, CF_NR_FK="=1+1")])
    add(n, xlsx_bytes({"Sheet1": rows}))
    n = "xlsx_lower_case_code_headers.xlsx"  # statistics sends field codes as headers, in any case
    rows = table("statistics", "penalty", [penalty("statistics", n, i) for i in (1, 2)])
    rows[0] = [h.lower() for h in rows[0]]
    add(n, xlsx_bytes({"Sheet1": rows}))

    # -- CSV structure --
    add("csv_zero_bytes.csv", b"")
    add("csv_bom_only.csv", b"\xef\xbb\xbf")
    n = "csv_header_spelling_variants.csv"  # spaces, half-width brackets, a field code in mixed case
    rows = table("health", "penalty", health_rows(n, 2))
    rows[0][0] = " 行政相对人名称\u3000"
    rows[0][PENALTY_CODES.index("CF_NR_FK")] = "罚款金额 (万元)"
    rows[0][PENALTY_CODES.index("CF_WSH")] = "Cf_Wsh"
    add(n, csv_bytes(rows))
    add("csv_header_only.csv", csv_bytes([headers(feed_of("statistics", "serious_dishonesty"),
                                                  ["SX_XDR_MC", "SX_XDR_LB", "SX_XDR_SHXYM", "SX_FRDB", "SX_MDLX",
                                                   "SX_LRYY", "SX_WSH", "SX_LRRQ", "SX_RDJG", "SX_RDJGDM"])]))
    n = "csv_nul_byte_in_a_field.csv"
    add(n, one_bad_row(n, CF_SY="销售过期\x00药品"))
    n = "csv_embedded_newlines.csv"
    add(n, health(n, [penalty("health", n, 1, CF_SY="第一行\n第二行\r\n第三行"), penalty("health", n, 2)]))
    n = "csv_unbalanced_quote.csv"
    rows = table("health", "penalty", health_rows(n, 4))
    lines = csv_text(rows).split("\r\n")
    lines[2] = lines[2].replace("张伟", '"张伟', 1)
    add(n, "\r\n".join(lines).encode())
    n = "csv_wrong_column_counts.csv"
    rows = table("health", "penalty", health_rows(n, 3))
    rows[2] = rows[2][:-3]
    rows[3] = [*rows[3], "多余的值"]
    add(n, csv_bytes(rows))
    n = "csv_semicolon_delimited.csv"
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(table("health", "penalty", health_rows(n, 2)))
    add(n, buffer.getvalue().encode())
    n = "csv_old_mac_cr_line_endings.csv"
    add(n, health(n, health_rows(n, 2)).replace(b"\r\n", b"\r"))
    n = "csv_trailing_empty_rows.csv"
    add(n, health(n, health_rows(n, 2)) + b",,,,,,,,,,,,,,,,\r\n" * 3 + b"\r\n")
    n = "csv_blank_lines_above_header.csv"
    add(n, b"\r\n,,,\r\n" + health(n, health_rows(n, 2)))
    n = "csv_concatenated_exports.csv"  # two exports pasted together: the second header is a data row
    first, second = table("health", "penalty", health_rows(n, 2)[:1]), table("health", "penalty", health_rows(n, 2)[1:])
    add(n, csv_bytes(first) + b"\xef\xbb\xbf" + csv_bytes(second))
    n = "csv_whitespace_only_required_field.csv"
    add(n, one_bad_row(n, CF_SY="\u3000 \u00a0"))

    # -- injection strings --
    n = "inj_sql_in_subject_name.csv"
    add(n, one_bad_row(n, CF_XDR_MC="示范县'); DROP TABLE dw.fact_credit_record; --"))
    n = "inj_sql_in_document_number.csv"
    add(n, one_bad_row(n, CF_WSH="1'; DELETE FROM audit.batch; SELECT '"))
    n = "inj_formula_cmd_in_penalty_type.csv"
    add(n, one_bad_row(n, CF_CFLB="=cmd|' /C calc'!A0"))
    n = "inj_formula_plus_sum_in_fine.csv"
    add(n, one_bad_row(n, CF_NR_FK="+SUM(1)"))
    n = "inj_formula_at_hyperlink_in_category.csv"
    add(n, one_bad_row(n, CF_XDR_LB='@HYPERLINK("http://evil.example/","点击查看")'))
    n = "inj_formula_minus_in_decision_date.csv"
    add(n, one_bad_row(n, CF_JDRQ="-2+3"))
    n = "inj_formula_duplicate_document_number.csv"
    add(n, health(n, [penalty("health", n, 1, CF_WSH="=1+1"), penalty("health", n, 2, CF_WSH="=1+1")]))
    n = "inj_formula_in_id_number.csv"  # the feedback masks ID numbers: the masked text still starts with "="
    add(n, one_bad_row(n, PERSON_CODES, person=True, CF_XDR_ZJHM='=HYPERLINK("http://evil.example/")'))
    n = "inj_formula_in_loaded_name.csv"
    add(n, one_bad_row(n, CF_XDR_MC='=HYPERLINK("http://evil.example/","示范县某公司")'))

    # -- dates --
    for name, value in [("date_february_30.csv", "2023-02-30"), ("date_month_13.csv", "2023-13-01"),
                        ("date_all_zeros.csv", "0000-00-00"), ("date_before_2000.csv", "1999-12-31")]:
        add(name, one_bad_row(name, CF_JDRQ=value))
    n = "date_decision_in_the_future.csv"
    add(n, one_bad_row(n, CF_JDRQ="2099-06-03", CF_YXQ="2100-06-03"))
    n = "date_validity_before_decision.csv"
    add(n, one_bad_row(n, CF_YXQ="2025-06-02"))
    n = "date_spellings.csv"
    add(n, health(n, [penalty("health", n, i, CF_JDRQ=v) for i, v in enumerate(
        ["2025年6月3日", "2025/06/03", "20250603", "２０２５－０６－０３", "45811", "2025.6.3"], start=1)]))

    # -- amounts --
    for name, value in [("fine_negative.csv", "-0.5"), ("fine_yuan_suffix.csv", "2000元"),
                        ("fine_wan_yuan_suffix.csv", "0.2万元")]:
        add(name, one_bad_row(name, CF_NR_FK=value))
    n = "fine_thousands_separators.csv"
    add(n, health(n, [penalty("health", n, 1, CF_NR_FK="1,200.50", CF_NR="罚款1,200.50万元"),
                      penalty("health", n, 2, CF_NR_FK="１，２００", CF_NR="罚款１２００万元")]))
    n = "fine_beyond_column_range.csv"  # agriculture: field codes as headers, GB18030
    rows = [penalty("agriculture", n, 1), penalty("agriculture", n, 2, CF_NR_FK="12345678901234")]
    add(n, csv_bytes(table("agriculture", "penalty", rows), "gb18030"))
    n = "fine_full_width_digits.csv"
    add(n, one_bad_row(n, CF_NR_FK="０．２"))

    # -- codes --
    n = "code_uscc_lower_and_full_width.csv"
    code = firm_code(tag_of(n))
    while not any(c.isalpha() for c in code):
        code = firm_code(int(code[8:16]) + 1)
    wide = "".join(chr(ord(c) + 0xFEE0) for c in code.lower())
    add(n, health(n, [penalty("health", n, 1, CF_XDR_SHXYM=f"\u3000{wide} "),
                      penalty("health", n, 2, CF_XDR_SHXYM=code.lower())]))
    n = "code_uscc_with_inner_spaces.csv"
    code = firm_code(tag_of(n))
    add(n, one_bad_row(n, CF_XDR_SHXYM=f"{code[:6]} {code[6:12]} {code[12:]}"))
    n = "code_uscc_bad_check_character.csv"
    code = firm_code(tag_of(n))
    add(n, one_bad_row(n, CF_XDR_SHXYM=code[:17] + ("0" if code[17] != "0" else "1")))
    n = "code_uscc_forbidden_letter.csv"
    code = firm_code(tag_of(n))
    add(n, one_bad_row(n, CF_XDR_SHXYM=code[:2] + "O" + code[3:]))
    n = "code_id_number_lower_case_x.csv"
    add(n, one_bad_row(n, PERSON_CODES, person=True, CF_XDR_ZJHM=person_id_ending_in_x().lower()))
    n = "code_id_number_future_birth_valid_checksum.csv"
    add(n, one_bad_row(n, PERSON_CODES, person=True, CF_XDR_ZJHM=person_id("20990101", 123)))
    n = "code_id_number_february_30.csv"
    add(n, one_bad_row(n, PERSON_CODES, person=True, CF_XDR_ZJHM=person_id("19900230", 123)))
    n = "code_individual_business_with_91_code.csv"
    add(n, one_bad_row(n, CF_XDR_LB="个体工商户", CF_XDR_MC="示范县李记小吃店", CF_FRDB=""))
    n = "code_legal_person_without_representative.csv"
    add(n, one_bad_row(n, CF_FRDB=""))
    n = "code_natural_person_without_id.csv"
    add(n, one_bad_row(n, PERSON_CODES, person=True, CF_XDR_ZJLX="", CF_XDR_ZJHM=""))
    n = "enum_values.csv"
    add(n, health(n, [penalty("health", n, 1, CF_CFLB="罚款、没收违法所得"), penalty("health", n, 2, CF_CFLB="罚金"),
                      penalty("health", n, 3, CF_XDR_LB="企业")]))
    n = "dup_document_numbers_in_one_batch.csv"
    rows = health_rows(n, 2)
    rows.append(penalty("health", n, 3, CF_WSH=rows[0]["CF_WSH"]))
    rows.append(penalty("health", n, 4, CF_WSH=f" {rows[0]['CF_WSH']}\u3000"))
    add(n, health(n, rows))

    # -- batch-level holds --
    n = "hold_unknown_header.csv"
    rows = table("health", "penalty", health_rows(n, 2))
    rows[0].append("内部备注")
    for row in rows[1:]:
        row.append("仅内部使用")
    add(n, csv_bytes(rows))
    n = "hold_required_column_empty.csv"
    add(n, health(n, health_rows(n, 3, CF_YJ="")))
    n = "hold_licence_headers_in_penalty_feed.csv"
    add(n, csv_bytes(table("education", "license", [licence("education", n, i) for i in (1, 2)], LICENCE_CODES)))
    n = "hold_two_headers_for_one_field.csv"
    rows = table("health", "penalty", health_rows(n, 2))
    rows[0].append("CF_XDR_MC")
    for row in rows[1:]:
        row.append(row[0])
    add(n, csv_bytes(rows))
    n = "hold_title_line_above_header.csv"
    add(n, "示范县卫生健康委员会2025年6月行政处罚信息公示\r\n".encode() + health(n, health_rows(n, 2)))

    # -- API responses (bodies only; the scripted server in the test adds status and headers) --
    page = {"data": [debtor("api_ok", 1), debtor("api_ok", 2)], "next_cursor": "c-end", "has_more": False}
    add("api/page_ok.json", json.dumps(page, ensure_ascii=False, indent=1).encode())
    add("api/html_error_page.html", (b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body>"
                                     b"<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body>"
                                     b"</html>\n"))
    body = json.dumps({"data": [debtor("api_truncated", 1), debtor("api_truncated", 2)], "has_more": False},
                      ensure_ascii=False).encode()
    add("api/truncated.json", body[: len(body) * 2 // 3])
    add("api/without_data.json", json.dumps({"records": [debtor("api_no_data", 1)], "has_more": False},
                                            ensure_ascii=False).encode())
    add("api/data_not_a_list.json", json.dumps({"data": debtor("api_data_object", 1), "has_more": False},
                                               ensure_ascii=False).encode())
    add("api/record_is_a_list.json", json.dumps(
        {"data": [debtor("api_list_record", 1), list(debtor("api_list_record", 2).values())], "has_more": False},
        ensure_ascii=False).encode())
    add("api/has_more_without_cursor.json", json.dumps(
        {"data": [debtor("api_no_cursor", 1)], "has_more": True}, ensure_ascii=False).encode())
    add("api/first_page_of_two.json", json.dumps(
        {"data": [debtor("api_second_page_fails", 1)], "next_cursor": "c-2", "has_more": True},
        ensure_ascii=False).encode())
    add("api/rate_limited.json", b'{"error": "too many requests"}')
    add("api/server_error.json", b'{"error": "Internal Server Error"}')
    add("api/unauthorised.json", b'{"error": "missing or invalid bearer token"}')
    add("api/record_with_nul.json", json.dumps(
        {"data": [debtor("api_nul", 1), debtor("api_nul", 2, ZX_SXQX="拒不\u0000履行")], "has_more": False},
        ensure_ascii=False).encode())
    add("api/record_with_unknown_field.json", json.dumps(
        {"data": [debtor("api_unknown_field", 1, 内部编号="A-001")], "has_more": False}, ensure_ascii=False).encode())
    add("api/json_with_utf8_bom.json", b"\xef\xbb\xbf" + json.dumps(
        {"data": [debtor("api_bom", 1)], "has_more": False}, ensure_ascii=False).encode())
    add("api/gbk_encoded_json.json", json.dumps(
        {"data": [debtor("api_gbk", 1)], "has_more": False}, ensure_ascii=False).encode("gbk"))
    add("api/empty_body.json", b"")
    add("api/lone_surrogate_in_record.json", json.dumps(
        {"data": [debtor("api_surrogate", 1), debtor("api_surrogate", 2, ZX_SXQX="拒不履行\ud800")],
         "has_more": False}).encode())
    add("api/sql_injection_in_record.json", json.dumps(
        {"data": [debtor("api_sql", 1, ZX_XDR_MC="示范县'); DROP TABLE dw.fact_credit_record; --")],
         "has_more": False}, ensure_ascii=False).encode())
    return files


def recipe(name: str, **options) -> list[tuple[str, str, bytes]]:
    """Files built at test time, too big to commit: (department, feed, bytes) in the order to ingest."""
    if name == "huge_fields":
        chars = options["chars"]
        rows = [penalty("health", "recipe_huge", 1, CF_SY="违法事实" * (chars // 4)),
                penalty("health", "recipe_huge", 2, CF_XDR_MC="=" + "长" * (chars - 1)),
                penalty("health", "recipe_huge", 3)]
        return [("health", "penalty", health("recipe_huge", rows))]
    if name == "ten_times_usual_rows":
        department, feed = options["department"], options["feed"]
        sources = []
        for batch, size in enumerate([*options["history"], options["rows"]], start=1):
            label = f"recipe_rows_{batch}"
            rows = [penalty(department, label, i) for i in range(1, size + 1)]
            sources.append((department, feed, csv_bytes(table(department, feed, rows))))
        return sources
    raise KeyError(f"no recipe {name!r}")


def main() -> None:
    """Write the corpus files (and remove stale ones), printing what changed."""
    files = build_files()
    for path in sorted(FILES.rglob("*")):
        name = path.relative_to(FILES).as_posix()
        if path.is_file() and name not in files and name not in SAVED_BY_LIBREOFFICE:
            path.unlink()
            print(f"removed {path.relative_to(FILES)}")
    for name, data in files.items():
        path = FILES / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            print(f"wrote {name} ({len(data)} bytes)")
    print(f"{len(files)} files, {sum(len(d) for d in files.values())} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
