"""The credit check (联合奖惩) over a generated, ingested warehouse.

Proves that `mart.credit_check` / `mart.credit_check_batch` agree with an independent computation over
the facts for every subject; that a subsidy review's workbook of ~500 firms comes back marked with every
seeded dishonest debtor vetoed and nobody else; that bad rows (invalid codes, names, blanks, unknown
subjects) are findings, not failures; that 100,000 codes are one set-based query; that a login with
only bi_reader can call the check without rights on the tables; and that no ID number leaks.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from dateutil.relativedelta import relativedelta
from openpyxl import Workbook, load_workbook
from sqlalchemy.engine import Engine, make_url

from etl.catalog import catalog
from etl.check import check_code, check_rows, load_measures, measures, seed_measures
from etl.check.batch import check_file, read_input
from etl.check.cli import check as check_command
from etl.codes import classify_code, id_check_char, is_valid_id_number
from etl.errors import UserError
from etl.ingest import ingest_department
from etl.migrate import migrate
from etl.personal import mask_id
from etl.reference import seed_reference_data
from simulators.departments import DepartmentSimulator
from simulators.generate import generate
from simulators.generate.subjects import uscc
from tests.conftest import SERVERS, DatabaseFactory

pytestmark = pytest.mark.integration

RECORDS = 3000
CHINA = ZoneInfo("Asia/Shanghai")
ID_LIKE = re.compile(r"(?<![0-9A-Z])[0-9]{17}[0-9X](?![0-9A-Z])")
RENAMED = "（更名后）"


def today() -> dt.date:
    return dt.datetime.now(CHINA).date()


@dataclass
class Warehouse:
    engine: Engine
    url: str
    admin: Engine
    renamed_debtor: str  # a dishonest debtor whose facts all point at an older subject version


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("check_departments") / "data"
    generate(out, records=RECORDS, seed=6006, defect_rate=0.02, as_of=today())
    return out


@pytest.fixture(scope="module", params=SERVERS)
def wh(request, admin_url_for, generated, tmp_path_factory) -> Iterator[Warehouse]:
    factory = DatabaseFactory(admin_url_for(request.param))
    with pytest.MonkeyPatch.context() as mp:
        # Module scope runs before the autouse per-test isolation: isolate the ingest's files here.
        mp.setenv("CREDITWH_VAR_DIR", str(tmp_path_factory.mktemp("check_var")))
        mp.setenv("CREDITWH_GX", "off")
        mp.delenv("WAREHOUSE_URL", raising=False)
        try:
            engine = factory.create()
            migrate(engine)
            cat = catalog()
            seed_reference_data(engine, cat)
            assert seed_measures(engine) == len(measures().measures)
            with engine.begin() as conn:  # this module checks every subject, people included, many times a day
                conn.execute(sa.text("UPDATE dw.credit_query_limit SET value = 1000000 "
                                     "WHERE limit_code IN ('max_id_numbers_per_call', 'max_id_numbers_per_day')"))
            with DepartmentSimulator(generated) as sim:
                for key, value in sim.connection_env().items():
                    mp.setenv(key, value)
                for department in cat.departments:
                    ingest_department(engine, cat, department, file_drop_dir=sim.file_drop_dir)
            renamed = _rename_a_debtor(engine)
            yield Warehouse(engine, engine.url.render_as_string(hide_password=False), factory.admin, renamed)
        finally:
            factory.drop_all()


def _rename_a_debtor(engine: Engine) -> str:
    """A firm renamed after its listing: a new current version, the facts still on the old one (SCD2)."""
    with engine.begin() as conn:
        code = conn.scalar(sa.text("""
            SELECT s.subject_code FROM dw.dim_subject s
              JOIN dw.fact_credit_record f USING (subject_key) JOIN dw.dim_record_type t USING (record_type_key)
             WHERE s.is_current AND s.code_kind = 'uscc' AND t.record_type_code = 'dishonest_debtor'
               AND f.status = 'active'
             ORDER BY s.subject_code LIMIT 1"""))
        old = conn.execute(sa.text("""
            UPDATE dw.dim_subject SET valid_to = now(), is_current = false
             WHERE subject_code = :c AND is_current RETURNING *"""), {"c": code}).one()
        conn.execute(sa.text("""
            INSERT INTO dw.dim_subject (subject_code, code_kind, subject_type, name, legal_representative, id_type,
                                        attributes_hash, valid_from, batch_id)
            VALUES (:c, :kind, :type, :name, :rep, :id_type, repeat('0', 64), now(), :batch)
        """), {"c": code, "kind": old.code_kind, "type": old.subject_type, "name": old.name + RENAMED,
               "rep": old.legal_representative, "id_type": old.id_type, "batch": old.batch_id})
    return code


# -- the independent computation ------------------------------------------------------------------------


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def expected_by_subject(engine: Engine, day: dt.date) -> dict[str, dict]:
    """Conditions, counts, measures and verdict per current subject, computed in Python from the facts."""
    rules = measures()
    lookback = rules.condition_by_code["active_penalty"].lookback_months
    grades = set(rules.condition_by_code["low_rating"].grades)
    with engine.connect() as conn:
        subjects = {r.subject_code: r for r in conn.execute(sa.text(
            "SELECT subject_code, code_kind, name, subject_type FROM dw.dim_subject WHERE is_current"))}
        facts = conn.execute(sa.text("""
            SELECT v.subject_code, t.record_type_code, f.status, f.attributes, f.decision_date_key,
                   f.publicity_start, f.publicity_end, f.publicity_tier
              FROM dw.fact_credit_record f JOIN dw.dim_subject v USING (subject_key)
              JOIN dw.dim_record_type t USING (record_type_key)""")).all()
    found: dict[str, dict] = {code: {"conditions": set(), "penalties": 0, "ratings": {}} for code in subjects}
    for f in facts:
        decided = dt.datetime.strptime(str(f.decision_date_key), "%Y%m%d").date()
        if f.status != "active" or decided > day:
            continue
        a, mine = f.attributes, found[f.subject_code]
        kind = f.record_type_code
        if kind == "serious_dishonesty" and (not a.get("SX_YCRQ") or _date(a["SX_YCRQ"]) > day):
            mine["conditions"].add("serious_dishonesty")
        elif kind == "dishonest_debtor":
            mine["conditions"].add("dishonest_debtor")
        elif kind == "abnormal_operation" and (not a.get("YC_YCRQ") or _date(a["YC_YCRQ"]) > day):
            mine["conditions"].add("abnormal_operation")
        elif kind == "red_list" and (not a.get("RY_YXQZ") or _date(a["RY_YXQZ"]) >= day):
            mine["conditions"].add("red_list")
        elif kind == "penalty":
            if f.publicity_start is not None:
                counts = f.publicity_start <= day <= f.publicity_end
            elif f.publicity_tier is not None:  # an unpublished (minor) penalty
                counts = False
            else:
                counts = decided > day - relativedelta(months=lookback)
            if counts:
                mine["penalties"] += 1
                mine["conditions"].add("active_penalty")
        elif kind == "credit_rating" and (not a.get("PJ_YXQZ") or _date(a["PJ_YXQZ"]) >= day):
            key = (decided, a.get("PJ_PJND") or "", a.get("PJ_WSH") or "")
            area = a.get("PJ_PJLY")
            if area not in mine["ratings"] or key > mine["ratings"][area][0]:
                mine["ratings"][area] = (key, a.get("PJ_PJDJ"))
    out = {}
    for code, mine in found.items():
        conditions = mine["conditions"]
        if any(grade in grades for _, grade in mine["ratings"].values()):
            conditions.add("low_rating")
        applicable = [m for m in rules.measures if m.condition in conditions and not set(m.unless) & conditions]
        verdicts = {m.verdict for m in applicable}
        out[code] = {
            "conditions": conditions,
            "penalties": mine["penalties"],
            "measures": {m.code for m in applicable},
            "verdict": "veto" if "veto" in verdicts else "review" if "review" in verdicts else "pass",
            "subject": subjects[code],
        }
    return out


def _conditions(result) -> set[str]:  # noqa: ANN001
    flags = {"serious_dishonesty": result.is_on_serious_dishonesty_list,
             "dishonest_debtor": result.is_dishonest_debtor,
             "active_penalty": bool(result.active_penalty_count),
             "abnormal_operation": result.is_on_abnormal_operation_list,
             "low_rating": result.has_low_rating,
             "red_list": result.is_on_red_list}
    assert {r["condition"] for r in result.reasons} == {c for c, on in flags.items() if on}
    return {c for c, on in flags.items() if on}


def _display(code: str) -> str:
    return code if classify_code(code) == "uscc" else mask_id(code)


# -- agreement with the facts -------------------------------------------------------------------------


def test_batch_check_agrees_with_an_independent_computation_for_every_subject(wh):
    expected = expected_by_subject(wh.engine, today())
    codes = sorted(expected)
    results = check_rows(wh.engine, [(c, None) for c in codes], "测试核查")
    assert len(results) == len(codes) > 400
    for code, result in zip(codes, results, strict=True):
        want = expected[code]
        assert result.lookup_status == "found" and result.is_found, code
        assert result.code == _display(code)
        assert result.subject_name == want["subject"].name
        assert _conditions(result) == want["conditions"], (result.code, want["conditions"])
        assert result.active_penalty_count == want["penalties"], result.code
        assert {m["measure"] for m in result.measures} == want["measures"], result.code
        assert result.verdict == want["verdict"], result.code
        assert result.checked_on == today()
    verdicts = Counter(r.verdict for r in results)
    # The generated county has all three outcomes in quantity.
    assert verdicts["veto"] > 20 and verdicts["review"] > 20 and verdicts["pass"] > 100, verdicts


def test_check_agrees_with_the_subject_profile_mart(wh):
    """The BI mart (012) and the check read the lists the same way."""
    with wh.engine.connect() as conn:
        profile = {r.subject_name: r for r in conn.execute(sa.text("""
            SELECT subject_code, subject_name, is_serious_dishonesty, is_dishonest_debtor, is_abnormal_operation,
                   is_on_red_list FROM mart.v_subject_profile WHERE code_kind = 'uscc'"""))}
        codes = [r.subject_code for r in profile.values()]
    for result in check_rows(wh.engine, [(c, None) for c in codes], "测试核查"):
        row = profile[result.subject_name]
        assert (result.is_on_serious_dishonesty_list, result.is_dishonest_debtor, result.is_on_abnormal_operation_list,
                result.is_on_red_list) == (row.is_serious_dishonesty, row.is_dishonest_debtor,
                                           row.is_abnormal_operation, row.is_on_red_list), result.code


def test_single_check_equals_the_batch_row_and_masks_people(wh):
    with wh.engine.connect() as conn:
        sample = list(conn.scalars(sa.text("""
            (SELECT subject_code FROM dw.dim_subject WHERE is_current AND code_kind = 'id_number' ORDER BY 1 LIMIT 15)
            UNION ALL
            (SELECT subject_code FROM dw.dim_subject WHERE is_current AND code_kind <> 'id_number' ORDER BY 1 LIMIT 25)
        """)))
    batch = check_rows(wh.engine, [(c, None) for c in sample], "测试核查")
    for code, from_batch in zip(sample, batch, strict=True):
        single = check_code(wh.engine, code, "测试核查")
        assert single == from_batch
        if classify_code(code) != "uscc":
            assert single.code == mask_id(code) != code


def test_renamed_debtor_is_still_vetoed_through_its_old_version(wh):
    result = check_code(wh.engine, wh.renamed_debtor, "测试核查")
    assert result.subject_name.endswith(RENAMED)
    assert result.is_dishonest_debtor and result.verdict == "veto"
    assert {"zx_subsidies", "zx_high_consumption"} <= {m["measure"] for m in result.measures}


def test_as_of_a_date_before_the_data_finds_nothing(wh):
    code = wh.renamed_debtor
    result = check_code(wh.engine, code, "测试核查", as_of=dt.date(2000, 1, 3))
    assert result.is_found and result.verdict == "pass" and result.reasons == [] and result.measures == []
    assert result.checked_on == dt.date(2000, 1, 3)


def test_codes_are_normalised_and_bad_input_is_classified(wh):
    code = wh.renamed_debtor
    with wh.engine.connect() as conn:
        name = conn.scalar(sa.text("SELECT name FROM dw.dim_subject WHERE subject_code = :c AND is_current"),
                           {"c": code})
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in code.lower())
    fixed = code[:-1] + ("0" if code[-1] != "0" else "1")
    unknown = uscc("9", "1", "410523", "MA000000")
    rows = [(f"  {code.lower()} ", None), (fullwidth + "\u3000", None), (fixed, None), (name, None),
            (None, name), ("", ""), (None, None), (unknown, None), ("不存在的某某有限公司", None),
            ("410523199001011234", None), (fixed, name)]
    results = check_rows(wh.engine, rows, "测试核查")
    statuses = [r.lookup_status for r in results]
    assert statuses == ["found", "found", "invalid", "found_by_name", "found_by_name", "empty", "empty",
                        "not_found", "name_not_found", "invalid", "found_by_name"]
    assert [r.verdict for r in results] == ["veto", "veto", "unchecked", "veto", "veto", "unchecked", "unchecked",
                                            "pass", "unchecked", "unchecked", "veto"]
    # a code that fails every check is shown as an unrecognised number: at least half hidden, whatever it is
    assert results[2].code == mask_id(fixed)
    assert results[9].code == mask_id("410523199001011234") == "4" + "*" * 16 + "4"
    assert results[5].code is None and results[8].code is None and results[8].is_dishonest_debtor is None
    assert results[7].is_dishonest_debtor is False and results[7].active_penalty_count == 0


def test_a_name_shared_by_two_firms_is_ambiguous(wh):
    with wh.engine.begin() as conn:
        twin = conn.execute(sa.text("""
            SELECT name, subject_type, batch_id FROM dw.dim_subject
             WHERE is_current AND code_kind = 'uscc' ORDER BY subject_code LIMIT 1""")).one()
        conn.execute(sa.text("""
            INSERT INTO dw.dim_subject (subject_code, code_kind, subject_type, name, attributes_hash, valid_from)
            VALUES (:code, 'uscc', :type, :name, repeat('1', 64), now())
        """), {"code": uscc("9", "1", "410523", "MA0TWEN1"), "type": twin.subject_type, "name": twin.name})
        conn.commit()
    try:
        with wh.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            [row] = conn.execute(sa.text("SELECT * FROM mart.credit_check_batch(ARRAY[NULL], ARRAY[:n], '测试')"),
                                 {"n": twin.name}).all()
    finally:
        with wh.engine.begin() as conn:
            # the twin's version is closed (subject versions are never deleted): later lookups see one firm again
            conn.execute(sa.text("UPDATE dw.dim_subject SET is_current = false, valid_to = now() "
                                 "WHERE subject_code = :code AND is_current"),
                         {"code": uscc("9", "1", "410523", "MA0TWEN1")})
    assert row.lookup_status == "name_ambiguous" and row.verdict == "unchecked"


def test_an_empty_measures_list_refuses_instead_of_passing_everyone(wh):
    with wh.engine.begin() as conn:
        conn.execute(sa.text("UPDATE dw.dim_measure SET is_active = false"))
        with pytest.raises(sa.exc.DBAPIError, match="measures list is empty"):
            conn.execute(sa.text("SELECT * FROM mart.credit_check('91440300708461136T', '测试')"))
        conn.rollback()


# -- the subsidy review workbook ----------------------------------------------------------------------


@dataclass(frozen=True)
class Planted:
    code: str | None
    name: str | None
    expect: str  # verdict expected
    lookup: str


def subsidy_review_rows(wh: Warehouse, rng: random.Random) -> list[Planted]:
    """~500 firms as a subsidy review sends them: every dishonest-debtor firm, clean firms, and mistakes."""
    expected = expected_by_subject(wh.engine, today())
    firms = {c: e for c, e in expected.items() if e["subject"].code_kind == "uscc"}
    debtors = sorted(c for c, e in firms.items() if "dishonest_debtor" in e["conditions"])
    clean = sorted(c for c, e in firms.items() if not e["conditions"] & {"dishonest_debtor", "serious_dishonesty"})
    listed = sorted(c for c, e in firms.items()
                    if "serious_dishonesty" in e["conditions"] and "dishonest_debtor" not in e["conditions"])
    rng.shuffle(clean)
    rows = [Planted(c, firms[c]["subject"].name, "veto", "found") for c in debtors]
    rows += [Planted(c, firms[c]["subject"].name, "veto", "found") for c in listed[:5]]
    spare = 500 - len(rows) - 35  # about 500 rows in all, with 35 mistakes of the kinds below
    assert len(clean) >= spare + 22, "the generated county has too few firms for a 500-firm review"
    for code in clean[:spare]:
        rows.append(Planted(code, firms[code]["subject"].name, firms[code]["verdict"], "found"))
    names = Counter(e["subject"].name for e in firms.values())
    named = [c for c in clean[spare:spare + 8] + debtors[:2] if names[firms[c]["subject"].name] == 1]
    rows += [Planted(firms[c]["subject"].name, None, firms[c]["verdict"], "found_by_name") for c in named]
    for code in clean[spare + 8:spare + 18]:  # a mistyped code: checksum fails, and the name column is empty
        bad = code[:-1] + ("0" if code[-1] != "0" else "1")
        rows.append(Planted(bad, None, "unchecked", "invalid"))
    for i in range(5):  # valid codes of firms the warehouse has never heard of
        rows.append(Planted(uscc("9", "1", "410523", f"MA9X{i:04d}"), f"外县新设企业{i}有限公司", "pass", "not_found"))
    rows += [Planted(None, None, "unchecked", "empty") for _ in range(6)]
    for code in clean[spare + 18:spare + 22]:  # lower case with padding: normalised, still found
        rows.append(Planted(f" {code.lower()} ", firms[code]["subject"].name, firms[code]["verdict"], "found"))
    rng.shuffle(rows)
    # Trailing blank rows are not data (a sheet's used range often runs on): keep a firm last.
    last = max(i for i, r in enumerate(rows) if r.lookup != "empty")
    rows.append(rows.pop(last))
    return rows


def write_workbook(path: Path, rows: list[Planted]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "补贴申报企业"
    sheet.append(["2026 年度产业扶持资金申报企业名单"])
    sheet.append([])
    sheet.append(["序号", "企业名称", "统一社会信用代码（必填）", "申报项目"])
    for index, row in enumerate(rows, start=1):
        if row.code is None and row.name is None:
            sheet.append([])
        else:
            sheet.append([index, row.name, row.code, "技术改造补贴"])
    workbook.save(path)


def test_subsidy_review_of_500_firms_vetoes_exactly_the_dishonest(wh, tmp_path, monkeypatch, caplog):
    rows = subsidy_review_rows(wh, random.Random(500))
    path = tmp_path / "补贴申报企业.xlsx"
    write_workbook(path, rows)
    out = tmp_path / "核查结果.xlsx"
    monkeypatch.setenv("WAREHOUSE_URL", wh.url)
    caplog.set_level(logging.DEBUG)
    started = time.perf_counter()
    run = CliRunner().invoke(check_command, ["--file", str(path), "--out", str(out), "--purpose", "财政补贴审核"],
                             catch_exceptions=False)
    elapsed = time.perf_counter() - started
    assert run.exit_code == 0, run.output
    assert "一票否决 veto" in run.output and str(out) in run.output
    print(f"\n500-firm batch check: {len(rows)} rows in {elapsed:.2f} s")

    sheet = load_workbook(out, read_only=True)["核查结果"]
    lines = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(lines) == len(rows)
    # Data starts below the title, a blank row and the header (row 4); blank rows stay in place.
    assert [line[0] for line in lines] == list(range(4, 4 + len(rows)))
    vetoed = 0
    for planted, line in zip(rows, lines, strict=True):
        verdict = {"通过": "pass", "一票否决": "veto", "审慎核查": "review", "无法核查": "unchecked"}[line[3]]
        assert verdict == planted.expect, (planted, line)
        vetoed += verdict == "veto"
        if planted.lookup == "invalid":
            assert "校验未通过" in line[7]
        if planted.lookup == "empty":
            assert "空行" in line[7]
        if planted.lookup == "found_by_name":
            assert "按名称" in line[7] and line[6]
        if planted.lookup == "not_found":
            assert "库中无该主体" in line[7]
        if verdict == "veto":
            assert "一票否决" in line[9]
    debtors = sum(p.expect == "veto" for p in rows)
    assert vetoed == debtors >= 6
    assert Counter(p.lookup for p in rows) >= Counter(invalid=10, empty=6, not_found=5, found_by_name=6)
    assert 490 <= len(rows) <= 510
    summary = {r[0]: r[1] for r in load_workbook(out, read_only=True)["汇总"].iter_rows(values_only=True)
               if len(r) > 1 and r[0]}
    assert summary["一票否决 / Veto"] == debtors and summary["核查行数 / Rows"] == len(rows)
    for text in [run.output, caplog.text]:
        assert not [m for m in ID_LIKE.findall(text) if is_valid_id_number(m)]


def test_workbook_without_header_is_read_by_content(wh, tmp_path):
    with wh.engine.connect() as conn:
        codes = list(conn.scalars(sa.text(
            "SELECT subject_code FROM dw.dim_subject WHERE is_current AND code_kind = 'uscc' ORDER BY 1 LIMIT 20")))
    workbook = Workbook()
    for code in codes:
        workbook.active.append(["某项目", code])
    path = tmp_path / "no_header.xlsx"
    workbook.save(path)
    table = read_input(path)
    assert table.code_column == 1 and table.code_header is None and [r.code for r in table.rows] == codes
    summary = check_file(wh.engine, path, purpose="测试核查")
    assert summary.out_path == tmp_path / "no_header__核查结果.xlsx" and summary.out_path.is_file()
    assert summary.lookup_counts == Counter({"found": 20})


def test_people_in_a_workbook_are_masked_everywhere(wh, tmp_path, caplog):
    with wh.engine.connect() as conn:
        people = list(conn.scalars(sa.text("SELECT subject_code FROM dw.dim_subject "
                                           "WHERE is_current AND code_kind = 'id_number' ORDER BY 1 LIMIT 30")))
    path = tmp_path / "people.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["姓名", "证件号码"])
        for code in people:
            writer.writerow(["某人", code])
        writer.writerow(["=HYPERLINK(\"http://x\")", "410523199001011234"])
    caplog.set_level(logging.DEBUG)
    summary = check_file(wh.engine, path, tmp_path / "people_out.xlsx", purpose="测试核查")
    assert summary.lookup_counts["found"] == len(people)
    cells = [str(v) for row in load_workbook(summary.out_path).worksheets[1].iter_rows(values_only=True)
             for v in row if v is not None]
    assert not [m for text in cells for m in ID_LIKE.findall(text) if is_valid_id_number(m)]
    assert any(c.startswith("=HYPERLINK") for c in cells)  # kept as text ...
    formula_cells = [c for row in load_workbook(summary.out_path).worksheets[1].iter_rows() for c in row
                     if c.data_type == "f"]
    assert formula_cells == []  # ... never as a formula
    assert not [m for m in ID_LIKE.findall(caplog.text) if is_valid_id_number(m)]


@pytest.mark.parametrize("content, message", [
    ([], "is empty"),
    ([["统一社会信用代码", "企业名称"]], "no rows below it"),
    ([["项目", "金额"], ["技术改造", 100], ["设备购置", 200]], "no column of codes"),
    ([["企业名称"], ["示范县康宁大药房有限公司"], ["某某科技有限公司"]], "只有名称的名单无法核查"),
])
def test_unusable_workbooks_are_clear_errors(tmp_path, content, message):
    workbook = Workbook()
    for row in content:
        workbook.active.append(row)
    path = tmp_path / "firms.xlsx"
    workbook.save(path)
    with pytest.raises(UserError, match=message):
        read_input(path)


def test_100000_codes_are_one_set_based_query(wh, tmp_path):
    with wh.engine.connect() as conn:
        known = list(conn.scalars(sa.text("SELECT subject_code FROM dw.dim_subject WHERE is_current")))
    rng = random.Random(100_000)
    codes = [rng.choice(known) if i % 4 == 0 else uscc("9", "1", "410523", f"{i:08d}") for i in range(100_000)]
    path = tmp_path / "many.csv"
    path.write_text("统一社会信用代码\n" + "\n".join(codes) + "\n", encoding="utf-8")
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append(statement)

    sa.event.listen(wh.engine, "before_cursor_execute", count)
    try:
        started = time.perf_counter()
        summary = check_file(wh.engine, path, tmp_path / "many_out.xlsx", purpose="测试核查")
        elapsed = time.perf_counter() - started
    finally:
        sa.event.remove(wh.engine, "before_cursor_execute", count)
    print(f"\n100,000-code batch check: {elapsed:.1f} s (read {summary.seconds_read:.1f}, "
          f"check {summary.seconds_check:.1f}, write {summary.seconds_write:.1f})")
    assert len(summary.results) == 100_000
    known_set = set(known)
    assert summary.lookup_counts["found"] == sum(1 for c in codes if c in known_set)
    assert summary.lookup_counts["found"] + summary.lookup_counts["not_found"] == 100_000
    assert summary.seconds_check < 120
    # Who asks (for the query log), one temporary table, one COPY (on the raw cursor), one query, and the table
    # dropped again: not a statement per code.
    assert len(statements) <= 4 and sum("credit_check_batch" in s for s in statements) == 1, statements
    assert summary.out_path.is_file()


# -- who may call it ------------------------------------------------------------------------------------


@pytest.fixture
def login(wh) -> Iterator:
    """Make a throw-away login role (optionally in bi_reader); dropped afterwards."""
    made: list[tuple[str, Engine]] = []

    def make(member_of: str | None) -> Engine:
        name = f"cwtest_login_{uuid.uuid4().hex[:10]}"
        with wh.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE ROLE "{name}" LOGIN'))
            if member_of:
                conn.execute(sa.text(f'GRANT {member_of} TO "{name}"'))
        with wh.engine.begin() as conn:  # as `creditwh init` does after an administrator grants the role
            conn.execute(sa.text("SELECT dw.grant_credit_check()"))
        engine = sa.create_engine(make_url(wh.url).set(username=name, password=None))
        made.append((name, engine))
        return engine

    yield make
    for name, engine in made:
        engine.dispose()
        with wh.admin.connect() as conn:
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{name}"'))


def test_bi_reader_cannot_call_the_check_and_credit_checker_can_without_table_rights(wh, login):
    with wh.engine.connect() as conn:
        person = conn.scalar(sa.text(
            "SELECT subject_code FROM dw.dim_subject WHERE is_current AND code_kind = 'id_number' ORDER BY 1 LIMIT 1"))
    reader = login("bi_reader")
    with reader.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        conn.execute(sa.text("SELECT * FROM mart.credit_check_batch(ARRAY[:c], NULL, '测试')"), {"c": person})
    checker = login("credit_checker").execution_options(isolation_level="AUTOCOMMIT")
    with checker.connect() as conn:
        [row] = conn.execute(sa.text("SELECT * FROM mart.credit_check(:c, '补贴审核')"), {"c": wh.renamed_debtor}).all()
        assert row.verdict == "veto" and row.is_dishonest_debtor and row.code == _display(wh.renamed_debtor)
        [row] = conn.execute(sa.text("SELECT * FROM mart.credit_check(:c, '补贴审核')"), {"c": person}).all()
        assert row.is_found and row.code == mask_id(person) != person
        assert person not in str(tuple(row))
        rows = conn.execute(sa.text("SELECT * FROM mart.credit_check_batch(ARRAY[:a, :b], NULL, '补贴审核')"),
                            {"a": wh.renamed_debtor, "b": person}).all()
        assert [r.verdict for r in rows][0] == "veto" and len(rows) == 2
    for table in ("dw.dim_subject", "dw.dim_measure", "audit.credit_query"):
        with checker.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            conn.execute(sa.text(f"SELECT count(*) FROM {table}"))


def test_a_login_without_the_role_cannot_call_it(wh, login):
    stranger = login(None)
    with stranger.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        conn.execute(sa.text("SELECT * FROM mart.credit_check('91440300708461136T', '测试')"))


def test_every_query_is_logged_and_calls_without_purpose_or_inside_a_transaction_are_refused(wh, login):
    checker = login("credit_checker")
    with checker.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("SELECT set_config('application_name', 'subsidy-system', false), "
                             "set_config('creditwh.operator', 'clerk-7', false)"))
        [answered] = conn.execute(sa.text("SELECT * FROM mart.credit_check(:c, '财政补贴审核')"),
                                  {"c": wh.renamed_debtor}).all()
        [no_purpose] = conn.execute(sa.text("SELECT * FROM mart.credit_check(:c)"), {"c": wh.renamed_debtor}).all()
    with checker.connect() as conn:  # the driver's own BEGIN: a rollback could take the log entry back
        [in_transaction] = conn.execute(sa.text("SELECT * FROM mart.credit_check(:c, '财政补贴审核')"),
                                        {"c": wh.renamed_debtor}).all()
        conn.rollback()
    assert answered.verdict == "veto" and answered.refusal is None
    assert (no_purpose.verdict, no_purpose.is_found, no_purpose.measures) == ("refused", False, [])
    assert "查询事由" in no_purpose.refusal and "no purpose" in no_purpose.refusal
    assert in_transaction.verdict == "refused" and "autocommit" in in_transaction.refusal
    with wh.engine.connect() as conn:
        log = conn.execute(sa.text("""
            SELECT db_user, operator, application, purpose, codes_in, found, vetoed, refused, refusal
              FROM audit.credit_query WHERE db_user = :u ORDER BY query_id"""),
            {"u": make_url(str(checker.url)).username}).all()
    assert [(r.operator, r.application, r.purpose, r.codes_in, r.found, r.vetoed, r.refused) for r in log] == [
        ("clerk-7", "subsidy-system", "财政补贴审核", 1, 1, 1, False),
        ("clerk-7", "subsidy-system", None, 1, 0, 0, True)]


def _candidates_behind(masked: str, count: int) -> list[str]:
    """What an attacker builds from a masked number: the visible head, every birth date in turn, and any
    sequence whose check character matches the visible tail (the county code is another guess, as here)."""
    head, tail = masked[:4], masked[-4:]
    found: list[str] = []
    day = dt.date(1960, 1, 1)
    while len(found) < count:
        for county in ("23", "26", "27"):
            first17 = f"{head}{county}{day:%Y%m%d}{tail[:3]}"
            if id_check_char(first17) == tail[3]:
                found.append(first17 + tail[3])
        day += dt.timedelta(days=1)
    return found[:count]


def test_enumerating_a_masked_number_fails_for_every_role(wh, login):
    """The attack of the hardening review: the masked number of a mart view, ~20,000 candidates with its head and
    tail, and the check as an oracle. bi_reader may not call the check; a checker is refused in bulk, in small
    calls, and after rolling back; and every attempt is in the query log."""
    with wh.engine.connect() as conn:
        person = conn.scalar(sa.text("""
            SELECT subject_code FROM dw.dim_subject WHERE is_current AND code_kind = 'id_number'
             ORDER BY subject_code LIMIT 1"""))
    reader = login("bi_reader")
    with reader.connect() as conn:
        masked = conn.scalar(sa.text("SELECT subject_code FROM mart.v_subject_profile WHERE subject_code LIKE :m"),
                             {"m": mask_id(person)})
    assert masked == mask_id(person) != person
    candidates = _candidates_behind(masked, 20_000)
    candidates[12_345] = person  # the right one is among them
    with reader.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        conn.execute(sa.text("SELECT * FROM mart.credit_check_batch(CAST(:c AS text[]), NULL, '核查')"),
                     {"c": candidates})

    checker = login("credit_checker").execution_options(isolation_level="AUTOCOMMIT")
    with wh.engine.begin() as conn:  # the project's limits (measures.yml), not this module's raised ones
        conn.execute(sa.text("UPDATE dw.credit_query_limit SET value = CASE limit_code "
                             "WHEN 'max_id_numbers_per_call' THEN 200 WHEN 'max_id_numbers_per_day' THEN 1000 "
                             "ELSE value END"))
    try:
        revealed = []
        with checker.connect() as conn:
            bulk = conn.execute(sa.text("SELECT * FROM mart.credit_check_batch(CAST(:c AS text[]), NULL, '核查')"),
                                {"c": candidates}).all()
            assert len(bulk) == 20_000 and {r.verdict for r in bulk} == {"refused"}
            assert "200" in bulk[0].refusal
            started = time.monotonic()
            for start in range(0, len(candidates), 100):  # small calls, one after another
                rows = conn.execute(sa.text(
                    "SELECT * FROM mart.credit_check_batch(CAST(:c AS text[]), NULL, '核查')"),
                    {"c": candidates[start:start + 100]}).all()
                revealed += [r for r in rows if r.is_found]
                if {r.verdict for r in rows} == {"refused"} and start >= 400:
                    break
            print(f"\nenumeration stopped after {start + 100} candidates in {time.monotonic() - started:.1f} s")
        assert not revealed, "a candidate was confirmed"
        assert start < 1000  # refused long before the right candidate (12,345th) came up
        with wh.engine.connect() as conn:
            log = conn.execute(sa.text("""
                SELECT count(*) AS calls, count(*) FILTER (WHERE refused) AS refused,
                       sum(id_numbers_in) FILTER (WHERE NOT refused) AS answered
                  FROM audit.credit_query WHERE db_user = :u"""), {"u": make_url(str(checker.url)).username}).one()
        assert log.calls >= 2 and log.calls == log.refused and not log.answered
    finally:
        with wh.engine.begin() as conn:
            conn.execute(sa.text("UPDATE dw.credit_query_limit SET value = 1000000 "
                                 "WHERE limit_code IN ('max_id_numbers_per_call', 'max_id_numbers_per_day')"))


def test_the_days_count_of_id_numbers_survives_a_dropped_connection(wh, login):
    """The log is transactional, the day's count is not: a caller who drops the connection while the answer is
    on its way (so that no log entry commits) has still used up what it asked about."""
    people = [f"410523{1950 + i:04d}0101{i:03d}" for i in range(5)]
    people = [p + id_check_char(p) for p in people]
    checker = login("credit_checker").execution_options(isolation_level="AUTOCOMMIT")
    user = make_url(str(checker.url)).username
    with checker.connect() as conn:
        pid = conn.scalar(sa.text("SELECT pg_backend_pid()"))
        killer = threading.Timer(1.0, lambda: _terminate(wh, pid))
        killer.start()
        with pytest.raises(sa.exc.OperationalError):
            conn.execute(sa.text("SELECT *, pg_sleep(0.5) FROM mart.credit_check_batch(CAST(:c AS text[]), NULL, "
                                 "'核查')"), {"c": people}).all()
        killer.join()
    with wh.engine.connect() as conn:
        logged = conn.scalar(sa.text("SELECT count(*) FROM audit.credit_query WHERE db_user = :u"), {"u": user})
        oid = conn.scalar(sa.text("SELECT oid FROM pg_roles WHERE rolname = :u"), {"u": user})
        count = conn.scalar(sa.text(f"SELECT mod(last_value, 10000000) FROM audit.credit_quota_{oid}"))
    assert logged == 0 and count == len(people)


def _terminate(wh, pid: int) -> None:
    with wh.engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})


# -- the command line -----------------------------------------------------------------------------------


def test_cli_prints_verdict_reasons_and_measures(wh, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", wh.url)
    run = CliRunner().invoke(check_command, [wh.renamed_debtor, "--measures", "--purpose", "测试"],
                             catch_exceptions=False)
    assert run.exit_code == 0, run.output
    for text in ("一票否决 VETO", "失信被执行人", "Dishonest judgment debtor", "限制高消费", "法释〔2015〕17号",
                 "数据截至 Data as of"):
        assert text in run.output
    short = CliRunner().invoke(check_command, [wh.renamed_debtor, "--purpose", "测试"], catch_exceptions=False)
    assert "--measures" in short.output and "法释" not in short.output
    as_json = CliRunner().invoke(check_command, [wh.renamed_debtor, "--json", "--purpose", "测试"],
                                 catch_exceptions=False)
    assert '"verdict": "veto"' in as_json.output


def test_cli_reports_an_invalid_code_masked(wh, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", wh.url)
    run = CliRunner().invoke(check_command, ["410523199001011235", "--purpose", "测试"])
    assert run.exit_code != 0 and isinstance(run.exception, UserError)
    assert mask_id("410523199001011235") in str(run.exception) and "410523199001011235" not in str(run.exception)
    usage = CliRunner().invoke(check_command, [])
    assert usage.exit_code == 2 and "give one CODE or --file" in usage.output


# -- the measures list ---------------------------------------------------------------------------------


def test_cli_shows_a_mistyped_code_as_typed_unless_it_is_shaped_like_an_id_number(wh, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", wh.url)
    for typed in ("91440300MA5ABCDE", "914403001922038217", "１２３４５"):
        run = CliRunner().invoke(check_command, [typed, "--purpose", "测试"])
        assert run.exit_code != 0 and typed.strip() in str(run.exception), (typed, run.exception)
    for person in ("410523199001011235", "4105 2319 9001 0112 35", "410523900101123"):
        run = CliRunner().invoke(check_command, [person, "--purpose", "测试"])
        assert run.exit_code != 0 and "0101" not in str(run.exception), (person, run.exception)


def test_measures_read_the_same_in_both_languages():
    from etl.check.core import MEASURE_TAGS, CheckResult

    kinds = [{"kind": "reward", "verdict": "pass"}, {"kind": "punishment", "verdict": "veto"},
             {"kind": "punishment", "verdict": "review"}, {"kind": "punishment", "verdict": "pass"}]
    result = CheckResult(**{**dict.fromkeys(CheckResult.__dataclass_fields__), "measures": [
        {**k, "name_zh": "措施", "name_en": "measure"} for k in kinds]})
    zh, en = result.measure_lines()
    pairs = {tag_zh: tag_en for tag_zh, tag_en in MEASURE_TAGS.values()}
    for line_zh, line_en in zip(zh, en, strict=True):
        tag_zh, tag_en = line_zh[1:line_zh.index("]")], line_en[1:line_en.index("]")]
        assert pairs[tag_zh] == tag_en
    assert [line[1:line.index("]")] for line in en] == ["reward", "veto", "review", "punishment"]


def test_the_project_measures_list_is_complete():
    rules = load_measures()
    vetoing = {m.condition for m in rules.measures if m.verdict == "veto"}
    assert vetoing == {"serious_dishonesty", "dishonest_debtor"}
    assert {m.condition for m in rules.measures if m.verdict == "review"} >= {"active_penalty", "low_rating"}
    assert all(m.kind == "reward" for m in rules.measures if m.condition == "red_list")
    assert all("《" in m.legal_basis and " 《" not in m.legal_basis for m in rules.measures)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("verdict: none\n    name_zh: 行政审批", "verdict: veto\n    name_zh: 行政审批"),
     r"measures\.\d+: .*reward cannot veto"),
    (lambda t: t.replace("condition: dishonest_debtor\n    kind: punishment\n    verdict: veto",
                         "condition: bankrupt\n    kind: punishment\n    verdict: veto", 1),
     r"measures\.\d+\.condition"),
    (lambda t: t.replace("    lookback_months: 12\n", ""), r"conditions\.2: .*lookback_months"),
    (lambda t: t.replace("code: sx_honours", "code: sx_fiscal_funds"),
     r"\(top level\): measure codes \['sx_fiscal_funds'\] repeat"),
])
def test_mistakes_in_the_measures_list_name_the_file_and_field(tmp_path, edit, message):
    from etl import config

    text = (config.CATALOG_DIR / "measures.yml").read_text(encoding="utf-8")
    (tmp_path / "measures.yml").write_text(edit(text), encoding="utf-8")
    with pytest.raises(UserError, match=r"Catalog file measures\.yml: field " + message):
        load_measures(tmp_path)
