"""Indicators over a generated, ingested county: values against expectations computed another way.

The data set is generated and ingested as in production (simulated departments, two of them left
out), one department resends corrected rows, two penalties are repaired, and the platform receipts
the publisher would record are written into the outbox directly. Each checked leaf's expected
value comes from somewhere its measure SQL does not look: the generator's manifest, the working-day
calendar in Python, or what the test itself did.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from etl import config
from etl.catalog import catalog
from etl.errors import UserError
from etl.indicators import (
    compute_indicators,
    edition,
    gap_report,
    indicator_payload,
    indicator_tree,
    parse_period,
    record_manual_value,
    render_gaps,
    render_tree,
)
from etl.ingest import ingest_department
from etl.migrate import migrate
from etl.publicity.outbox import repair_penalty
from etl.reference import seed_reference_data
from etl.workdays import calendar
from simulators.departments import DepartmentSimulator
from simulators.generate import generate
from tests.conftest import DatabaseFactory

pytestmark = pytest.mark.integration

CHINA = ZoneInfo("Asia/Shanghai")
RECORDS = 2000
SKIPPED = ("forestry", "fire_rescue")  # departments that send nothing this month
CODE_RULES = {"uscc_checksum", "uscc_prefix", "id_number_checksum"}
CORRECTED_ROWS = 3


def _today() -> dt.date:
    return dt.datetime.now(CHINA).date()


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("indicators") / "data"
    # Decisions are checked against today, and batches land now: the measured month is this one.
    generate(out, records=RECORDS, seed=4006, defect_rate=0.08, as_of=_today())
    return out


def _value(conn, code: str, department: str = "") -> sa.Row | None:
    return conn.execute(sa.text("""
        SELECT value, numerator, denominator, points_awarded, points_possible, is_closed_period, source
          FROM dw.fact_indicator_value
         WHERE edition = '2020' AND period = :p AND indicator_code = :c AND department_code = :d
    """), {"p": _today().strftime("%Y-%m"), "c": code, "d": department}).one_or_none()


def _ratio(numerator: int, denominator: int) -> Decimal | None:
    """As stored: six decimals, halves rounded away from zero like PostgreSQL's round()."""
    if denominator == 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def _at(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=CHINA)


def _correct_rows(drop_dir: Path, manifest: dict) -> tuple[Path, set[str]]:
    """hrss resends three of its commitments with a remark added: a department's correction (更正)."""
    source = sorted((drop_dir / "hrss").glob("commitment_*.csv"))[0]
    defective = {d["row"] for d in manifest["defects"] if d["source"] == f"files/hrss/{source.name}"}
    with source.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    number, remark = header.index("承诺书编号"), header.index("备注")
    chosen, numbers = [], set()
    for row_no, row in enumerate(rows, 1):
        if row_no not in defective and row[number] not in numbers:
            numbers.add(row[number])
            chosen.append(row[:remark] + ["经核实更正：补充承诺说明"] + row[remark + 1:])
        if len(chosen) == CORRECTED_ROWS:
            break
    target = source.with_name(source.stem + "_fix.csv")
    with target.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, *chosen])
    return target, numbers


def _simulate_platform(conn, period) -> dict:
    """Receipts the publisher would record: licences on time, late (by China date), rejected, or unsent."""
    params = period.parameters()
    items = conn.execute(sa.text("""
        SELECT o.item_id, o.record_key, o.department_code, o.record_type_code, o.due_date
          FROM outbox.publicity_item o
          JOIN dw.fact_credit_record f ON f.record_key = o.record_key
         WHERE o.platform = 'national' AND o.action = 'upsert' AND o.status = 'pending'
           AND f.decision_date_key >= :start_key AND f.decision_date_key < :end_key
         ORDER BY o.item_id
    """), params).all()
    licences = [i for i in items if i.record_type_code == "license"]
    penalties = [i for i in items if i.record_type_code == "penalty"]
    update = sa.text("""
        UPDATE outbox.publicity_item SET status = :status, sent_at = now(), accepted_at = :accepted,
               reason_code = CASE WHEN :status = 'rejected' THEN 'E_SCHEMA' END, attempts = 1
         WHERE item_id = :item
    """)
    outcome: dict[str, list] = {"on_time": [], "late": [], "rejected": [], "pending": []}
    for n, item in enumerate(licences):
        kind = ("on_time", "late", "rejected", "pending")[n % 4]
        outcome[kind].append(item)
        if kind == "on_time":  # 23:30 in China on the due date (15:30 UTC)
            conn.execute(update, {"status": "accepted", "accepted": _at(item.due_date, 23, 30), "item": item.item_id})
        elif kind == "late":  # 00:30 in China the next day: still the due date in UTC, but late
            conn.execute(update, {"status": "accepted", "accepted": _at(item.due_date + dt.timedelta(days=1), 0, 30),
                                  "item": item.item_id})
        elif kind == "rejected":
            conn.execute(update, {"status": "rejected", "accepted": None, "item": item.item_id})
    for item in penalties:
        conn.execute(update, {"status": "accepted", "accepted": _at(item.due_date, 9, 0), "item": item.item_id})
    fixed = outcome["rejected"][:1]
    for item in fixed:  # the department fixed the first rejected licence; accepted two days late
        conn.execute(sa.text("""
            INSERT INTO outbox.publicity_item
                   (platform, record_key, record_uid, department_code, record_type_code, action, payload,
                    content_hash, cause, idempotency_key, decision_date, due_date, status, attempts, sent_at,
                    accepted_at)
            SELECT platform, record_key, record_uid, department_code, record_type_code, action, payload,
                   content_hash, 'requeue', idempotency_key || '-fix', decision_date, due_date, 'accepted', 1, now(),
                   :accepted
              FROM outbox.publicity_item WHERE item_id = :item
        """), {"item": item.item_id, "accepted": _at(item.due_date + dt.timedelta(days=2), 12, 0)})
    sent = len(outcome["on_time"]) + len(outcome["late"]) + len(outcome["rejected"]) + len(penalties) + len(fixed)
    return {"licences": licences, "penalties": penalties, "fixed": fixed, "sent": sent, **outcome}


def _repair_two_penalties(engine, period) -> dict:
    """Two ordinary penalties still public, past their 3-month minimum, are repaired (信用修复); the first had
    been accepted by both platforms last month, so both must now be told to withdraw it."""
    with engine.begin() as conn:
        old = conn.execute(sa.text("""
            SELECT f.record_key, d.department_code, f.document_number
              FROM dw.fact_credit_record f
              JOIN dw.dim_department d ON d.department_key = f.department_key
              JOIN dw.dim_record_type r ON r.record_type_key = f.record_type_key
             WHERE r.record_type_code = 'penalty' AND f.status = 'active' AND f.publicity_tier = 'ordinary'
               AND f.publicity_end > :today AND f.decision_date_key < :cutoff
             ORDER BY f.record_key LIMIT 2
        """), {"today": _today(), "cutoff": int((_today() - dt.timedelta(days=130)).strftime("%Y%m%d"))}).all()
        assert len(old) == 2, "test setup: the data set has ordinary penalties still public after 4 months"
        last_month = _at(period.start - dt.timedelta(days=3), 10, 0)
        conn.execute(sa.text("""
            UPDATE outbox.publicity_item SET status = 'accepted', sent_at = :at, accepted_at = :at
             WHERE record_key = :r AND action = 'upsert' AND status = 'pending'
        """), {"r": old[0].record_key, "at": last_month})
    for fact in old:
        repair_penalty(engine, fact.department_code, fact.document_number, _today())
    with engine.begin() as conn:
        withdrawals = conn.execute(sa.text("""
            SELECT item_id, platform FROM outbox.publicity_item
             WHERE record_key = :r AND action = 'withdraw' ORDER BY platform
        """), {"r": old[0].record_key}).all()
        assert [w.platform for w in withdrawals] == ["national", "provincial"]
        # The national platform took the withdrawal down; the provincial one has not answered yet.
        conn.execute(sa.text("""
            UPDATE outbox.publicity_item SET status = 'accepted', sent_at = now(), accepted_at = now()
             WHERE item_id = :i
        """), {"i": withdrawals[0].item_id})
    return {"repaired": len(old), "withdrawals": len(withdrawals), "withdrawals_accepted": 1, "sent": 1}


@pytest.fixture(scope="module", params=["embedded", "pg15"])
def county(request, admin_url_for, generated, tmp_path_factory):
    """A warehouse holding this month's county data, the corrections, repairs and platform receipts."""
    factory = DatabaseFactory(admin_url_for(request.param))
    manifest = json.loads((generated / "manifest.json").read_text(encoding="utf-8"))
    period = parse_period(_today().strftime("%Y-%m"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CREDITWH_VAR_DIR", str(tmp_path_factory.mktemp("var")))
        mp.setenv("CREDITWH_GX", "off")  # the GX suites are tested elsewhere; here only the rows matter
        engine = factory.create()
        migrate(engine)
        cat = catalog()
        seed_reference_data(engine, cat)
        with DepartmentSimulator(generated) as sim:
            for key, value in sim.connection_env().items():
                mp.setenv(key, value)
            outcomes = [o for d in cat.departments if d.code not in SKIPPED
                        for o in ingest_department(engine, cat, d, file_drop_dir=sim.file_drop_dir)]
            assert {o.status for o in outcomes} == {"loaded"}
            fix_file, corrected = _correct_rows(sim.file_drop_dir, manifest)
            try:
                resent = ingest_department(engine, cat, cat.department_by_code["hrss"],
                                           file_drop_dir=sim.file_drop_dir)
            finally:
                fix_file.unlink()
        [fix] = [o for o in resent if o.source_name == fix_file.name]
        assert (fix.status, fix.rows_loaded, fix.rows_quarantined) == ("loaded", CORRECTED_ROWS, 0)
        with engine.begin() as conn:
            platform = _simulate_platform(conn, period)
        repairs = _repair_two_penalties(engine, period)
        run = compute_indicators(engine, period.code)
        yield SimpleNamespace(engine=engine, manifest=manifest, period=period, run=run, platform=platform,
                              repairs=repairs, corrected=corrected, server=request.param)
    factory.drop_all()


def _manifest_rows(manifest: dict) -> tuple[int, dict[tuple, set[str]]]:
    """Rows received from the departments that sent data, and the quarantine rules of each rejected row."""
    rows = sum(f["rows"] for f in manifest["feeds"] if f["department"] not in SKIPPED)
    rules: dict[tuple, set[str]] = {}
    for d in manifest["defects"]:
        if d["outcome"] == "quarantine" and d["department"] not in SKIPPED:
            rules.setdefault((d["department"], d["feed"], d["source"], d["row"]), set()).add(d["rule"])
    return rows, rules


def test_row_quality_leaves_match_the_generator_manifest(county):
    rows, rules = _manifest_rows(county.manifest)
    received = rows + CORRECTED_ROWS  # the resent batch of corrected rows counts too
    duplicated = sum(1 for r in rules.values() if "duplicate_in_batch" in r)
    wrong_code = sum(1 for r in rules.values() if r & CODE_RULES)
    assert duplicated and wrong_code, "test setup: the manifest seeds both kinds of defect"
    with county.engine.connect() as conn:
        completeness = _value(conn, "data_completeness")
        duplicates = _value(conn, "duplicate_rate")
        codes = _value(conn, "wrong_code_rate")
    assert (completeness.numerator, completeness.denominator) == (received - len(rules), received)
    assert completeness.value == _ratio(received - len(rules), received)
    assert (duplicates.numerator, duplicates.value) == (duplicated, _ratio(duplicated, received))
    assert (codes.numerator, codes.value) == (wrong_code, _ratio(wrong_code, received))
    # linear scoring: the completeness target is 98 %, zero at 80 %
    points = edition("2020").node("data_completeness").points
    expected_points = points * min(1, max(0, (completeness.value - Decimal("0.8")) / Decimal("0.18")))
    assert completeness.points_awarded == pytest.approx(expected_points, abs=Decimal("0.0001"))


def test_department_coverage_counts_the_departments_that_sent_data(county):
    with county.engine.connect() as conn:
        city = _value(conn, "department_coverage")
        skipped = [_value(conn, "department_coverage", d) for d in SKIPPED]
        sent = _value(conn, "department_coverage", "tax")
    assert (city.numerator, city.denominator) == (26 - len(SKIPPED), 26)
    assert city.value == _ratio(24, 26)
    assert all((s.numerator, s.denominator) == (0, 1) for s in skipped)
    assert sent.value == 1 and sent.points_awarded == sent.points_possible


def _due(decided: dt.date, days: list) -> dt.date:
    """The 7th working day after the decision, counted in Python from the holidays calendar."""
    working = [d.date for d in days if d.is_workday and d.date > decided]
    return working[6]


def test_submission_timeliness_matches_a_python_working_day_count(county):
    period = county.period
    days = calendar(period.start - dt.timedelta(days=5), period.end + dt.timedelta(days=40))
    with county.engine.connect() as conn:
        facts = conn.execute(sa.text("""
            SELECT to_date(f.decision_date_key::text, 'YYYYMMDD') AS decided, f.first_loaded_at
              FROM dw.fact_credit_record f
              JOIN dw.dim_record_type r ON r.record_type_key = f.record_type_key
             WHERE r.record_type_code IN ('license', 'penalty') AND f.publicity_due IS NOT NULL
               AND f.decision_date_key >= :start_key AND f.decision_date_key < :end_key
        """), period.parameters()).all()
        value = _value(conn, "publicity_submission_timeliness")
    on_time = sum(1 for f in facts if f.first_loaded_at.astimezone(CHINA).date() <= _due(f.decided, days))
    assert (value.numerator, value.denominator) == (on_time, len(facts))
    assert value.value == _ratio(on_time, len(facts))


def test_publicity_timeliness_follows_the_national_platform_receipts(county):
    p = county.platform
    with county.engine.connect() as conn:
        licences = conn.scalar(sa.text("""
            SELECT count(*) FROM dw.fact_credit_record f
              JOIN dw.dim_record_type r ON r.record_type_key = f.record_type_key
             WHERE r.record_type_code = 'license'
               AND f.decision_date_key >= :start_key AND f.decision_date_key < :end_key
        """), county.period.parameters())
        licence = _value(conn, "license_publicity_timeliness")
        penalty = _value(conn, "penalty_publicity_timeliness")
        rejection = _value(conn, "platform_rejection_rate")
        fixed = _value(conn, "rejection_fix_rate")
        by_department = {d: _value(conn, "license_publicity_timeliness", d)
                         for d in {i.department_code for i in p["licences"]}}
    assert len(p["licences"]) == licences, "every licence decided this month is queued for the national platform"
    # Late by China date, rejected, still pending and fixed-but-late all count as not on time.
    assert (licence.numerator, licence.denominator) == (len(p["on_time"]), licences)
    assert licence.value == _ratio(len(p["on_time"]), licences)
    assert penalty.value == (Decimal(1) if p["penalties"] else None)
    assert (rejection.numerator, rejection.denominator) == (len(p["rejected"]), p["sent"] + county.repairs["sent"])
    assert fixed.value == (_ratio(len(p["fixed"]), len(p["rejected"])) if p["rejected"] else None)
    on_time = Counter(i.department_code for i in p["on_time"])
    queued = Counter(i.department_code for i in p["licences"])
    for department, row in by_department.items():
        assert (row.numerator, row.denominator) == (on_time[department], queued[department]), department


def test_corrections_repairs_and_withdrawals(county):
    with county.engine.connect() as conn:
        facts = conn.scalar(sa.text("SELECT count(*) FROM dw.fact_credit_record"))
        correction = _value(conn, "correction_rate")
        hrss = _value(conn, "correction_rate", "hrss")
        repairs = _value(conn, "repairs")
        withdrawal = _value(conn, "withdrawal_rate")
    # Every fact was written this month (loaded today), three of them corrected by hrss.
    assert (correction.numerator, correction.denominator) == (CORRECTED_ROWS, facts)
    assert correction.value == _ratio(CORRECTED_ROWS, facts)
    assert hrss.numerator == CORRECTED_ROWS
    assert repairs.value == county.repairs["repaired"] == 2
    assert withdrawal.value == _ratio(county.repairs["withdrawals_accepted"], county.repairs["withdrawals"])


def test_list_and_commitment_leaves_match_simple_counts(county):
    with county.engine.connect() as conn:
        counts = dict(conn.execute(sa.text("""
            SELECT r.record_type_code, count(*) FROM dw.fact_credit_record f
              JOIN dw.dim_record_type r ON r.record_type_key = f.record_type_key
             WHERE f.decision_date_key >= :start_key AND f.decision_date_key < :end_key AND f.status <> 'revoked'
             GROUP BY 1
        """), county.period.parameters()).all())
        fulfilment = Counter(conn.scalars(sa.text("""
            SELECT f.attributes ->> 'CN_LYQK' FROM dw.fact_credit_record f
              JOIN dw.dim_record_type r ON r.record_type_key = f.record_type_key
             WHERE r.record_type_code = 'commitment'
               AND f.decision_date_key >= :year_start_key AND f.decision_date_key < :end_key
        """), county.period.parameters()))
        values = {code: _value(conn, code) for code in ("joint_punishment_cases", "red_list_entries",
                                                        "commitments_count", "blacklist_entries",
                                                        "commitment_fulfilment_rate")}
    assert values["joint_punishment_cases"].value == counts.get("serious_dishonesty", 0) + counts.get(
        "dishonest_debtor", 0)
    assert values["red_list_entries"].value == counts.get("red_list", 0)
    assert values["commitments_count"].value == counts.get("commitment", 0)
    assert values["blacklist_entries"].value == counts.get("serious_dishonesty", 0)
    assert values["commitment_fulfilment_rate"].value == _ratio(
        fulfilment["已履约"], fulfilment["已履约"] + fulfilment["未履约"])


def test_points_roll_up_the_tree(county):
    tree = indicator_tree(county.engine, county.period.code)
    by_code = {r.code: r for r in tree.rows}
    assert tree.points_possible == 100
    assert tree.points_awarded == county.run.points_awarded
    for row in tree.rows:
        if not row.is_leaf:
            children = [r for r in tree.rows if r.number.rsplit(".", 1)[0] == row.number and r.level == row.level + 1]
            assert row.points_awarded == sum((c.points_awarded or 0) for c in children), row.code
            assert row.points_possible == sum(c.points_possible for c in children), row.code
    assert by_code["credit_loans"].status == "manual" and by_code["credit_loans"].points_awarded is None
    serious = by_code["serious_event_score"]
    assert serious.status == "national" and serious.measured_by == "national"
    # Local indicators are scored but stay out of the 100 points and out of the payload.
    local = [r for r in tree.rows if not r.in_total]
    assert local and all(r.number.startswith("L") for r in local)
    assert {v["code"] for v in indicator_payload(county.engine, county.period.code)["values"]}.isdisjoint(
        r.code for r in local)
    assert by_code["wrong_code_rate"].status == "computed"
    assert not tree.is_closed_period  # the month measured is still running
    text = render_tree(tree)
    assert "信用制度和基础建设" in text and "重错码率" in text


def test_gap_report_orders_leaves_by_points_lost_and_names_departments(county):
    report = gap_report(county.engine, county.period.code, top=8)
    lost = [g.shortfall for g in report.gaps]
    assert lost == sorted(lost, reverse=True) and all(x > 0 for x in lost) and len(lost) <= 8
    assert report.manual_pending == 12  # 8 the office enters, 4 the national centre measures
    c = report.coverage
    assert (c.total, c.warehouse, c.office, c.national, c.self_estimate) == (100, 62, 23, 15, 85)
    tree = indicator_tree(county.engine, county.period.code)
    shortfalls = sorted((r.points_possible - (r.points_awarded or 0) for r in tree.rows
                         if r.is_leaf and r.status == "computed" and r.in_total), reverse=True)
    assert lost == [s for s in shortfalls if s > 0][:len(lost)]
    for gap in report.gaps:
        units = [d.units for d in gap.departments]
        assert units == sorted(units, reverse=True) and len(units) <= 3
    licence = next((g for g in gap_report(county.engine, county.period.code, top=40).gaps
                    if g.code == "license_publicity_timeliness"), None)
    if county.platform["licences"] and licence is not None:
        late = Counter(i.department_code for i in county.platform["licences"]) - Counter(
            i.department_code for i in county.platform["on_time"])
        expected = sorted(late.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        assert [(d.department_code, d.units) for d in licence.departments] == expected
    assert "失分最多的指标" in render_gaps(report)


def test_recomputing_replaces_values_and_keeps_manual_input(county):
    engine, period = county.engine, county.period.code
    snapshot = """SELECT indicator_code, department_code, value, numerator, denominator, points_awarded, source
                    FROM dw.fact_indicator_value WHERE edition = '2020' AND period = :p ORDER BY 1, 2"""
    with engine.connect() as conn:
        before = conn.execute(sa.text(snapshot), {"p": period}).all()
    points = record_manual_value(engine, period, "credit_loans", 75)
    assert points == Decimal(3)  # 75 of a 200 target, linear from 0, 8 points
    again = compute_indicators(engine, period)
    with engine.connect() as conn:
        after = conn.execute(sa.text(snapshot), {"p": period}).all()
        loans = _value(conn, "credit_loans")
    changed = {(r.indicator_code, r.department_code) for r in set(after) - set(before)}
    # Only the manual leaf and the sums above it moved; the computed values are identical.
    assert changed == {("credit_loans", ""), ("xinyidai", ""), ("convenience", ""), ("business_environment", "")}
    assert len(after) == len(before) and again.manual_entered == 1
    assert (loans.value, loans.points_awarded, loans.source) == (75, Decimal(3), "manual")
    assert again.points_awarded == county.run.points_awarded + Decimal(3)
    with pytest.raises(UserError, match="not a manual leaf"):
        record_manual_value(engine, period, "wrong_code_rate", 1)
    record_manual_value(engine, period, "credit_loans", None)
    compute_indicators(engine, period)
    with engine.connect() as conn:
        assert conn.execute(sa.text(snapshot), {"p": period}).all() == before


def test_payload_is_deterministic_and_keyed_by_its_values(county):
    engine, period = county.engine, county.period.code
    first = indicator_payload(engine, period, city_code="410523")
    assert indicator_payload(engine, period, city_code="410523") == first
    assert {k for k in first} == {"city_code", "period", "edition", "idempotency_key", "values"}
    # every leaf inside the 100 points, none of the local ones
    assert len(first["values"]) == len([n for n in edition("2020").leaves if n.in_total]) == 39
    values = {v["code"]: v for v in first["values"]}
    assert values["credit_loans"] == {"code": "credit_loans", "value": None, "points": None}
    assert values["department_coverage"]["value"] == pytest.approx(24 / 26, abs=1e-6)
    json.dumps(first)  # plain JSON types only
    record_manual_value(engine, period, "xinyi_scenarios", 3)
    try:
        changed = indicator_payload(engine, period, city_code="410523")
        assert changed["idempotency_key"] != first["idempotency_key"]
    finally:
        record_manual_value(engine, period, "xinyi_scenarios", None)
    assert indicator_payload(engine, period, city_code="410523")["idempotency_key"] == first["idempotency_key"]
    with pytest.raises(UserError, match="6-digit division code"):
        indicator_payload(engine, period, city_code="41052")


def test_closed_month_is_marked_closed_and_uncomputed_month_is_refused(county):
    engine = county.engine
    last_month = (county.period.start - dt.timedelta(days=1)).strftime("%Y-%m")
    with pytest.raises(UserError, match="have not been computed"):
        indicator_tree(engine, last_month)
    run = compute_indicators(engine, last_month)
    assert run.is_closed_period
    with engine.connect() as conn:
        flags = set(conn.scalars(sa.text(
            "SELECT DISTINCT is_closed_period FROM dw.fact_indicator_value WHERE period = :p"), {"p": last_month}))
        coverage = conn.execute(sa.text("""
            SELECT value FROM dw.fact_indicator_value
             WHERE period = :p AND indicator_code = 'department_coverage' AND department_code = ''
        """), {"p": last_month}).scalar_one()
    assert flags == {True}
    assert coverage == 0  # every batch landed this month, none last month


def test_scoring_function(county):
    cases = [
        ((Decimal("0.9"), 2, "linear", "higher", Decimal("0.98"), Decimal("0.8"), "full"), Decimal("1.1111")),
        ((Decimal("0.5"), 2, "linear", "higher", Decimal("0.98"), Decimal("0.8"), "full"), Decimal(0)),
        ((Decimal(1), 2, "linear", "higher", Decimal("0.98"), Decimal("0.8"), "full"), Decimal(2)),
        ((Decimal("0.03"), 1, "linear", "lower", Decimal("0.01"), Decimal("0.1"), "full"), Decimal("0.7778")),
        ((Decimal(0), 2, "step", "lower", Decimal(0), None, "full"), Decimal(2)),
        ((Decimal(1), 2, "step", "lower", Decimal(0), None, "full"), Decimal(0)),
        ((None, 2, "linear", "higher", Decimal(1), Decimal(0), "full"), Decimal(2)),
        ((None, 2, "linear", "higher", Decimal(1), Decimal(0), "zero"), Decimal(0)),
        ((None, 2, "linear", "higher", Decimal(1), Decimal(0), "none"), None),
    ]
    with county.engine.connect() as conn:
        for args, expected in cases:
            got = conn.scalar(sa.text("SELECT dw.indicator_points(CAST(:v AS numeric), :p, :r, :d, "
                                      "CAST(:t AS numeric), CAST(:f AS numeric), :e)"),
                              dict(zip("vprdtfe", args, strict=True)))
            assert got == expected, args


def test_a_failing_measure_names_the_leaf_and_stores_nothing(county, tmp_path, monkeypatch):
    if county.server != "embedded":
        pytest.skip("catalog handling is the same on every server")
    catalog_dir = tmp_path / "catalog"
    shutil.copytree(config.CATALOG_DIR, catalog_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (catalog_dir / "indicators" / "2099.yml").write_text("""
edition: "2099"
name_zh: 测试版
name_en: Test edition
total_points: 10
indicators:
  - code: only
    name_zh: 唯一
    name_en: Only
    points: 10
    basis: published
    source: a test
    children:
      - code: broken
        name_zh: 错误指标
        name_en: Broken
        points: 10
        basis: published
        source: a test
        computable: true
        unit: count
        direction: higher
        scoring: {rule: step, target: 1}
        measure: SELECT NULL::text AS department_code, count(*) AS numerator, NULL AS denominator FROM dw.no_such_table
""", encoding="utf-8")
    monkeypatch.setenv("CREDITWH_CATALOG_DIR", str(catalog_dir))
    with pytest.raises(UserError, match=r"indicator broken in 2099\.yml failed: .*no_such_table"):
        compute_indicators(county.engine, county.period.code, edition="2099")
    with county.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM dw.dim_indicator WHERE edition = '2099'")) == 0


# -- monitoring items (policy documents, news, risk alerts, rating results, joint-punishment cases) -----------

def _office_file(folder: Path, name: str, rows: list[list[str]], encoding: str = "gb18030") -> Path:
    """A file as a clerk saves it from Excel on a Chinese Windows: GB18030, Chinese headers, 年月日 dates."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["类型", "日期", "责任部门", "标题", "内容摘要", "网址"])
        writer.writerows(rows)
    return path


def test_monitoring_items_are_taken_from_the_office_and_reach_the_platform_once(county, tmp_path):
    from etl.indicators.items import push_indicator_items, take_office_items
    from simulators.platform import PlatformSimulator
    from tests.integration.test_publish import client_for

    engine = county.engine
    drop = tmp_path / "drop"
    folder = drop / "credit_office"
    day = county.period.start.isoformat()
    _office_file(folder, "indicator_items_2026.csv", [
        ["政策文件", day.replace("-", "年", 1).replace("-", "月") + "日", "信用办", "关于加强信用修复工作的通知",
         "全文见附件", "https://credit.example.gov.cn/a/1"],
        ["信用新闻", day, "县税务局", "纳税信用A级企业获信易贷授信", "当事人身份证 410523198701010071 已核实", ""],
        ["风险提示", day, "market_regulation", "关于防范非法集资的风险提示", "提示内容", ""],
        ["联合惩戒案例", day, "信用办", "多部门联合惩戒失信被执行人", "案例经过", ""],
    ])
    (folder / "indicator_items_link.csv").symlink_to("/etc/passwd")
    outcomes = {o.file_name: o for o in take_office_items(engine, drop, settle_seconds=0)}
    taken = outcomes["indicator_items_2026.csv"]
    assert (taken.status, taken.rows_in, taken.rows_loaded, taken.rows_unchanged, taken.rows_rejected) == \
        ("loaded", 4, 4, 0, 0)
    assert outcomes["indicator_items_link.csv"].status == "refused"
    assert "root:" not in outcomes["indicator_items_link.csv"].describe()
    # the same bytes again: recognised, nothing new
    again = {o.file_name: o.status for o in take_office_items(engine, drop, settle_seconds=0)}
    assert again["indicator_items_2026.csv"] == "already_loaded"
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT item_type, department_code FROM dw.indicator_item "
                                      "WHERE origin = 'office' ORDER BY item_type")).all()
        ratings = conn.scalar(sa.text("""
            SELECT count(*) FROM dw.fact_credit_record f JOIN dw.dim_record_type r USING (record_type_key)
             WHERE r.record_type_code = 'credit_rating' AND f.status IN ('active', 'corrected')"""))
    # 信用办 is the department hosting it; 县税务局 the one department whose name holds it
    assert [tuple(r) for r in stored] == [("credit_news", "tax"), ("joint_punishment_case", "development_reform"),
                                          ("policy_document", "development_reform"),
                                          ("risk_alert", "market_regulation")]
    assert ratings > 0, "test setup: the county holds rating results"

    with PlatformSimulator("national", tmp_path / "n.sqlite") as national:
        first = push_indicator_items(engine, client=client_for(national), city_code="410523")
        assert (first["queued"], first["accepted"], first["rejected"]) == (4 + ratings, 4 + ratings, 0)
        held = national.count_items()
        assert held == {"policy_document": 1, "credit_news": 1, "risk_alert": 1, "joint_punishment_case": 1,
                        "rating_result": ratings}
        # The ID number in the news item went up masked (the platform refuses an unmasked one).
        with engine.connect() as conn:
            sent = conn.scalar(sa.text("SELECT payload ->> 'content' FROM outbox.indicator_item_delivery d "
                                       "JOIN dw.indicator_item i USING (item_id) WHERE i.item_type = 'credit_news'"))
        assert "410523198701010071" not in sent and "*" in sent
        # Nothing new: nothing is sent again.
        assert push_indicator_items(engine, client=client_for(national), city_code="410523")["queued"] == 0
        # The office corrects one item: that version alone goes up, replacing the item upstream.
        _office_file(folder, "indicator_items_2026_fix.csv", [
            ["政策文件", day, "信用办", "关于加强信用修复工作的通知", "全文见附件（修订）",
             "https://credit.example.gov.cn/a/1"]])
        fixed = {o.file_name: o for o in take_office_items(engine, drop, settle_seconds=0)}
        assert (fixed["indicator_items_2026_fix.csv"].rows_loaded, fixed["indicator_items_2026_fix.csv"].rows_in) \
            == (1, 1)
        second = push_indicator_items(engine, client=client_for(national), city_code="410523")
        assert (second["queued"], second["accepted"]) == (1, 1)
        assert national.count_items() == held
        assert national.stats()["duplicates"] == 0

    # The items feed the leaves that count them.
    compute_indicators(engine, county.period.code)
    with engine.connect() as conn:
        assert _value(conn, "policy_documents").value == 1
        assert _value(conn, "credit_news").value == 1


def test_a_wrong_row_refuses_the_office_file_whole_with_every_row_named(county, tmp_path):
    from etl.indicators.items import take_office_items

    drop = tmp_path / "drop"
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    _office_file(drop / "credit_office", "indicator_items_bad.csv", [
        ["信用政策文件", "2026-11-02", "信用办", "一份正确的文件", "内容", ""],
        ["通知公告", "2026-11-02", "信用办", "类型不认识", "内容", ""],
        ["信用动态", "11/31/2026", "县气象局", "日期和部门都不对", "内容", ""],
        ["风险提示", future, "信用办", "", "身份证 410523198701010071", ""],
    ], encoding="utf-8-sig")
    with county.engine.connect() as conn:
        before = conn.scalar(sa.text("SELECT count(*) FROM dw.indicator_item"))
    [outcome] = take_office_items(county.engine, drop, settle_seconds=0)
    text = outcome.describe()
    assert (outcome.status, outcome.rows_in, outcome.rows_loaded, outcome.rows_rejected) == ("refused", 4, 0, 4)
    assert "第 3 行" in text and "通知公告" in text and "not a known item type" in text
    assert "第 4 行" in text and "11/31/2026" in text and "县气象局" in text
    assert "第 5 行" in text and "晚于今天" in text and "title is empty" in text
    assert "第 2 行" not in text
    assert "410523198701010071" not in text
    with county.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM dw.indicator_item")) == before
        kept = conn.execute(sa.text("SELECT status, rows_in, rows_rejected, jsonb_array_length(reasons) "
                                    "FROM audit.indicator_item_file WHERE file_name = 'indicator_items_bad.csv'")).one()
    assert tuple(kept) == ("refused", 4, 4, 3)


def test_what_a_clerk_gets_wrong_in_an_office_file_is_named_and_nothing_breaks(county, tmp_path):
    """Files a tester built to break the intake: bytes that are not text, a comma inside a value, the same item
    twice, a second sheet, formulas, blank rows, a header with the template's (必填) marks."""
    import openpyxl

    from etl.indicators.items import take_office_items

    engine = county.engine
    folder = tmp_path / "drop" / "credit_office"
    folder.mkdir(parents=True)
    day = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    header = "类型,日期（必填）,部门*,标题,内容,链接,序号\n"
    (folder / "indicator_items_bytes.csv").write_bytes(
        (header + f"信用动态,{day},信用办,好的一行,内容,,1\n\n").encode()
        + f"信用动态,{day},信用办,坏的一行,内\x00容,,2\n".encode()
        + f"信用动态,{day},信用办,宽的一行,第一句,第二句,3,第三句\n".encode()
        + f"信用动态,{day},信用办,好的一行,内容,,4\n".encode())
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["类型", "日期", "部门", "标题", "内容"])
    sheet.append(["信用动态", day, "信用办", "第一页", "内容"])
    sheet.append(["信用动态", day, "信用办", "公式", "=A1&B1"])
    book.create_sheet("第二页").append(["类型", "更多数据"])
    book.save(folder / "indicator_items_book.xlsx")
    outcomes = {o.file_name: o for o in take_office_items(engine, tmp_path / "drop", settle_seconds=0)}
    text = outcomes["indicator_items_bytes.csv"].describe()
    assert outcomes["indicator_items_bytes.csv"].status == "refused"
    assert outcomes["indicator_items_bytes.csv"].rows_in == 4  # the blank line is not a row
    assert "第 2 行 row 2" not in text and "NUL" in text and "第 4 行" in text
    assert "第 5 行" in text and "a comma inside a value?" in text
    assert "第 6 行" in text and "the same item as row 2" in text
    book_text = outcomes["indicator_items_book.xlsx"].describe()
    assert outcomes["indicator_items_book.xlsx"].status == "refused"
    assert "第二页" in book_text and "formula without a saved result" in book_text
    # The same bytes again are refused again, with the reasons: a clerk never reads "already read" for them.
    again = {o.file_name: o for o in take_office_items(engine, tmp_path / "drop", settle_seconds=0)}
    assert again["indicator_items_bytes.csv"].status == "refused"
    assert "the same bytes were refused before" in again["indicator_items_bytes.csv"].describe()
    assert "a comma inside a value?" in again["indicator_items_bytes.csv"].describe()
    with engine.connect() as conn:
        files = conn.execute(sa.text("SELECT rows_in, rows_loaded + rows_unchanged + rows_rejected FROM "
                                     "audit.indicator_item_file WHERE file_name LIKE 'indicator_items_b%'")).all()
    assert files and all(a == b for a, b in files)


def test_an_item_numbered_by_the_office_is_corrected_in_place_and_links_go_up_masked(county, tmp_path):
    from etl.indicators.items import push_indicator_items, take_office_items
    from simulators.platform import PlatformSimulator
    from tests.integration.test_publish import client_for

    engine = county.engine
    folder = tmp_path / "drop" / "credit_office"
    day = county.period.start.isoformat()
    link = "https://court.example.gov.cn/case?sfzh=410523198701010071"
    _office_file(folder, "indicator_items_n1.csv", [["信用动态", day, "信用办", "标题有错字", "正文", link]])
    with (folder / "indicator_items_n1.csv").open("w", encoding="gb18030", newline="") as handle:
        csv.writer(handle).writerows([["类型", "日期", "部门", "标题", "内容", "链接", "编号"],
                                      ["信用动态", day, "信用办", "标题有错字", "正文", link, "XW-2026-001"]])
    take_office_items(engine, tmp_path / "drop", settle_seconds=0)
    with (folder / "indicator_items_n2.csv").open("w", encoding="gb18030", newline="") as handle:
        csv.writer(handle).writerows([["类型", "日期", "部门", "标题", "内容", "链接", "编号"],
                                      ["信用动态", day, "信用办", "标题已改正", "正文", link, "XW-2026-001"]])
    [fixed] = [o for o in take_office_items(engine, tmp_path / "drop", settle_seconds=0)
               if o.file_name == "indicator_items_n2.csv"]
    assert (fixed.status, fixed.rows_loaded) == ("loaded", 1)
    with engine.connect() as conn:
        titles = conn.scalars(sa.text("SELECT title FROM dw.indicator_item WHERE source_name LIKE "
                                      "'indicator_items_n%'")).all()
    assert titles == ["标题已改正"]
    with PlatformSimulator("national", tmp_path / "n.sqlite") as national:
        push_indicator_items(engine, client=client_for(national), city_code="410523")
        with engine.connect() as conn:
            sent = conn.scalar(sa.text("SELECT d.payload ->> 'link' FROM outbox.indicator_item_delivery d JOIN "
                                       "dw.indicator_item i USING (item_id) WHERE i.title = '标题已改正'"))
    assert "410523198701010071" not in sent and sent.startswith("https://court.example.gov.cn/case?sfzh=")
