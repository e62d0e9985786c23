"""Onboarding a department's real file: `creditwh catalog suggest` reads it and proposes the feed entry;
after the engineer declares what it found, `creditwh release` takes the held batch with the new mapping.

The files are shaped as real extracts are, not as etl/generate writes them: the 双公示 2.0 field names with
a department's own variations (处罚决定书文号 for 行政处罚决定书文号, 罚款金额(万元) with half-width brackets,
处罚决定日期（必填）), the platform's bookkeeping columns (ID, RESOURCE_ID, CREATE_DATE in epoch milliseconds,
as in the 双鸭山 sample, docs/research/shuanggongshi.md), old-format 处罚类别 codes, GB18030 encoding.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from etl import config
from etl.catalog import catalog, load_catalog
from etl.catalog.suggest import render_suggestion, suggest_feed
from etl.errors import UserError
from etl.ingest import ingest_feed, release_batch
from etl.migrate import migrate
from etl.reference import seed_reference_data
from tests.integration.test_publish import RECENT, firm_code

pytestmark = pytest.mark.integration

AGENCY = catalog().department_by_code["health"].agency_uscc
HEADERS = ["序号", "ID", "行政相对人名称", "行政相对人类别", "统一社会信用代码", "法定代表人", "处罚决定书文号",
           "违法行为类型", "违法事实", "处罚依据", "处罚类别", "处罚内容", "罚款金额(万元)", "处罚决定日期（必填）",
           "处罚有效期", "处罚机关", "处罚机关统一社会信用代码", "数据来源单位", "数据来源单位统一社会信用代码",
           "RESOURCE_ID", "CREATE_DATE", "经办人电话"]


def real_row(n: int) -> list[str]:
    return [str(n), f"8a8a{n:08d}", f"某某餐饮有限公司{n}", "法人及非法人组织", firm_code(700_000 + n), "张三",
            f"县卫健罚〔2026〕{n}号", "违反食品安全法", "经营超过保质期的食品",
            "《中华人民共和国食品安全法》第一百二十四条", "1", "罚款人民币伍仟元整", "0.5", RECENT.isoformat(),
            "2099-12-31", "县卫生健康委员会", AGENCY,
            "县卫生健康委员会", AGENCY, f"RES{n:06d}", "1672502400000", "0394-1234567"]


def write(path, rows, encoding="gb18030") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        writer.writerows(rows)


def test_suggest_maps_a_real_file_and_says_how_sure_it_is(tmp_path):
    path = tmp_path / "县卫健委行政处罚_202611.csv"
    write(path, [real_row(n) for n in range(1, 6)])
    s = suggest_feed(catalog(), path, "health")
    by_header = {m.header: m for m in s.matches}
    assert (s.record_type.code, s.format, s.encoding) == ("penalty", "csv", "gb18030")
    assert (by_header["行政相对人名称"].field_code, by_header["行政相对人名称"].how) == ("CF_XDR_MC", "standard name")
    assert by_header["罚款金额(万元)"].field_code == "CF_NR_FK" and by_header["罚款金额(万元)"].confidence == 1
    for header, code in (("处罚决定书文号", "CF_WSH"), ("处罚决定日期（必填）", "CF_JDRQ")):
        assert by_header[header].field_code == code
        assert 0.6 <= by_header[header].confidence < 1 and by_header[header].how.startswith("near")
    assert s.extra == ["序号", "ID", "RESOURCE_ID", "CREATE_DATE"]
    assert [m.header for m in s.unmapped] == ["经办人电话"]
    assert by_header["处罚类别"].code_table == "penalty_type_old_format_codes"  # "1" is 警告 only there
    assert s.missing_required == []
    text = render_suggestion(s)
    document = yaml.safe_load(text)
    [feed] = document
    assert feed["record_type"] == "penalty" and feed["header_style"] == "department"
    assert feed["file"] == {"format": "csv", "encoding": "gb18030", "pattern": "县卫健委行政处罚*.csv"}
    assert feed["columns"]["处罚决定日期（必填）"] == "CF_JDRQ"
    assert feed["code_tables"] == {"CF_CFLB": "penalty_type_old_format_codes"}
    assert feed["extra_columns"] == ["序号", "ID", "RESOURCE_ID", "CREATE_DATE"]
    assert "CHECK near" in text and "unmapped: 经办人电话" in text


def test_suggest_on_files_a_tester_built_to_break_it(tmp_path):
    """Headers YAML cannot take bare, an empty header, data where the header should be, a file of nothing
    known, a binary file named .csv, JSON lines, an ID number Excel rounded."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["行政相对人名称\n（必填）", "", "NO", "处罚决定书文号", "法定代表人证件号码", "X"])
    book.active.append(["某公司", "x", "1", "罚〔2026〕1号", 410523198701009984, "y"])
    book.save(tmp_path / "行政处罚2026年12月.xlsx")
    s = suggest_feed(catalog(), tmp_path / "行政处罚2026年12月.xlsx", "health")
    text = render_suggestion(s)
    [feed] = yaml.safe_load(text)
    assert feed["columns"]["行政相对人名称\n（必填）"] == "CF_XDR_MC"  # survives the YAML round trip
    assert feed["file"]["pattern"] == "行政处罚*.xlsx"
    assert "" not in feed.get("columns", {}) and "X" not in feed.get("columns", {})
    assert "410523198701009984" not in text and "personal data, not shown" in text
    assert "unmapped: \"NO\"" in text  # quoted: bare, YAML would read it as false

    headerless = tmp_path / "penalty_1.csv"
    headerless.write_text("某公司,410523198701010071,罚款\n", encoding="utf-8")
    with pytest.raises(UserError, match="holds an identity number: it is data, not a header") as caught:
        suggest_feed(catalog(), headerless, "market_regulation")
    assert "410523198701010071" not in str(caught.value)
    unknown = tmp_path / "export.csv"
    unknown.write_text("ID,CREATE_DATE,FLAG\n1,2,3\n", encoding="utf-8")
    with pytest.raises(UserError, match="its record type cannot be told"):
        suggest_feed(catalog(), unknown, "health")
    binary = tmp_path / "data.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UserError, match="not a text table"):
        suggest_feed(catalog(), binary, "health")
    lines = tmp_path / "penalty.jsonl"
    lines.write_text('{"CF_XDR_MC": "某公司", "CF_WSH": "罚1"}\n', encoding="utf-8")
    [api_feed] = yaml.safe_load(render_suggestion(suggest_feed(catalog(), lines, "health")))
    assert api_feed["transport"] == "api" and "file" not in api_feed


def creditwh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from etl.cli import main; main()", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_suggest_from_the_command_line_and_its_mistakes(tmp_path):
    path = tmp_path / "penalty_x.xlsx"
    path.write_bytes(b"PK\x03\x04 truncated")
    result = creditwh("catalog", "suggest", str(path), "--department", "health")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "damaged or truncated" in result.stderr
    result = creditwh("catalog", "suggest", str(path), "--department", "fisheries")
    assert result.returncode == 2 and "department 'fisheries' is not in departments.yml" in result.stderr
    good = tmp_path / "penalty_y.csv"
    write(good, [real_row(1)], encoding="utf-8-sig")
    result = creditwh("catalog", "suggest", str(good), "--department", "health")
    assert result.returncode == 0, result.stderr
    assert "extra_columns: [序号, ID, RESOURCE_ID, CREATE_DATE]" in result.stdout
    assert "encoding: utf-8" in result.stdout


def test_a_held_batch_is_released_with_the_mapping_added_since(empty_database, tmp_path, monkeypatch):
    # The health bureau starts sending the platform's export: standard names plus bookkeeping columns.
    headers = [h for h in HEADERS if h not in ("处罚决定书文号", "处罚决定日期（必填）", "经办人电话", "处罚类别")]
    standard = {"行政处罚决定书文号": "县卫健罚〔2026〕9号", "处罚决定日期": RECENT.isoformat(), "处罚类别": "罚款",
                # 令第36号 asks the department to declare the tier
                "失信严重程度": "一般"}
    row = dict(zip(HEADERS, real_row(9), strict=True))
    drop = tmp_path / "drop"
    folder = drop / "health"
    folder.mkdir(parents=True)
    with (folder / "penalty_202611.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=headers + list(standard))
        writer.writeheader()
        writer.writerow({**{h: row[h] for h in headers}, **standard})
    (folder / "penalty_202611.csv.ok").touch()
    migrate(empty_database)
    seed_reference_data(empty_database, catalog())
    department = catalog().department_by_code["health"]
    feed = next(f for f in department.feeds if f.code == "penalty")
    [held] = ingest_feed(empty_database, catalog(), department, feed, file_drop_dir=drop)
    assert held.status == "held" and "RESOURCE_ID" in held.reason

    # The engineer declares the bookkeeping columns (as `catalog suggest` proposed) and releases the batch.
    directory = tmp_path / "catalog"
    shutil.copytree(config.settings().catalog_dir, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (directory / "departments.yml").read_text(encoding="utf-8")
    assert text.count("        extra_columns: [序号]\n") == 1
    pasted = text.replace("        extra_columns: [序号]\n", "        extra_columns: [序号]\n"
                          "        extra_columns: [序号, ID, RESOURCE_ID, CREATE_DATE]\n")
    (directory / "departments.yml").write_text(pasted, encoding="utf-8")
    # Pasting the suggestion beside the old line would silently keep one of them: refused, with the line.
    with pytest.raises(UserError, match=r"departments\.yml is not valid YAML at line \d+.*'extra_columns' appears "
                                        r"twice"):
        load_catalog(directory)
    text = text.replace("        extra_columns: [序号]\n",
                        "        extra_columns: [序号, ID, RESOURCE_ID, CREATE_DATE]\n")
    (directory / "departments.yml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("CREDITWH_CATALOG_DIR", str(directory))
    edited = load_catalog(directory)
    # A release that cannot finish (the landed file moved away) leaves the batch held, not half-released.
    with empty_database.connect() as conn:
        landed = Path(conn.scalar(sa.text("SELECT landed_path FROM audit.batch WHERE batch_id = :b"),
                                  {"b": held.batch_id}))
    landed.rename(landed.with_name("moved-away"))
    with pytest.raises((OSError, UserError)):
        release_batch(empty_database, edited, held.batch_id, "数据工程师")
    with empty_database.connect() as conn:
        assert conn.scalar(sa.text("SELECT status FROM audit.batch WHERE batch_id = :b"), {"b": held.batch_id}) \
            == "held"
    landed.with_name("moved-away").rename(landed)
    released = release_batch(empty_database, edited, held.batch_id, "数据工程师")
    assert (released.status, released.rows_in, released.rows_loaded, released.rows_quarantined) == ("loaded", 1, 1, 0)
    with empty_database.connect() as conn:
        extra = conn.scalar(sa.text("SELECT extra FROM dw.fact_credit_record"))
        mapped = conn.scalar(sa.text("SELECT header_map -> 'extra' FROM audit.batch WHERE batch_id = :b"),
                             {"b": held.batch_id})
    assert extra == {"序号": "9", "ID": "8a8a00000009", "RESOURCE_ID": "RES000009", "CREATE_DATE": "1672502400000"}
    assert sorted(mapped) == sorted(["序号", "ID", "RESOURCE_ID", "CREATE_DATE"])


def test_a_file_named_with_an_id_number_is_never_shown_with_it(empty_database, tmp_path):
    """A clerk names the file after the person it is about: status, drop notices and the feedback workbook
    show the name masked (a tester found it whole in `creditwh status` and in the workbook's title)."""
    from openpyxl import load_workbook

    from etl.summary import drop_notices, held_batches

    person = "410523198701010071"
    drop = tmp_path / "drop"
    folder = drop / "health"
    folder.mkdir(parents=True)
    (folder / f"penalty_张三{person}.csv").write_text("行政相对人名称,无名列\n甲公司,1\n", encoding="utf-8")
    (folder / f"处罚名单_{person}.csv").write_text("x\n", encoding="utf-8")
    migrate(empty_database)
    seed_reference_data(empty_database, catalog())
    department = catalog().department_by_code["health"]
    feed = next(f for f in department.feeds if f.code == "penalty")
    from etl.ingest import with_feedback

    outcomes = [with_feedback(empty_database, catalog(), o)
                for o in ingest_feed(empty_database, catalog(), department, feed, file_drop_dir=drop)]
    held = next(o for o in outcomes if o.status == "held")
    with empty_database.connect() as conn:
        shown = held_batches(conn) + drop_notices(conn)
    assert person not in shown and "penalty_张三4105" in shown
    assert held.feedback is not None
    cells = [str(c.value) for sheet in load_workbook(held.feedback) for row in sheet.iter_rows()
             for c in row if c.value]
    assert not any(person in c for c in cells)
