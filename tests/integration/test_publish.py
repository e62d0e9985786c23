"""双公示 publicity end to end: departments' files → warehouse → outbox → the platform simulator.

Records are loaded through the real ingest path (a department's CSV drop) and pushed over HTTP to
real platform simulators on loopback; what the platforms hold is read back from their own stores.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from etl.catalog import catalog
from etl.codes import id_check_char, is_valid_id_number
from etl.errors import UserError
from etl.feedback import write_platform_rejections
from etl.ingest import ingest_feed
from etl.migrate import migrate
from etl.publicity.outbox import expire_publicity_windows, repair_penalty
from etl.publicity.outbox import payloads as outbox_payloads
from etl.publish.client import PlatformClient, RetryPolicy
from etl.publish.push import push_publicity
from etl.publish.reconcile import reconcile
from etl.reference import seed_reference_data
from simulators.generate.subjects import uscc
from simulators.platform import PlatformFaults, PlatformSimulator

pytestmark = pytest.mark.integration

# Departments whose feeds are UTF-8 CSV drops with standard field codes accepted as headers.
DEPARTMENT_OF = {"penalty": "health", "license": "education"}
AGENCY = catalog().department_by_code["health"].agency_uscc
LICENSING_AGENCY = catalog().department_by_code["education"].agency_uscc
_numbers = itertools.count(1)


@pytest.fixture
def engine(empty_database):
    migrate(empty_database)
    seed_reference_data(empty_database, catalog())
    return empty_database


def firm_code(n: int) -> str:
    return uscc("9", "1", "410523", f"{n:08d}"[-8:])


def person_id(n: int) -> str:
    first17 = f"410523198{n % 10}0101{n % 1000:03d}"
    return first17 + id_check_char(first17)


def penalty(decided: dt.date, *, types: str = "罚款", fine: str = "0.5", person: bool = False,
            stated_end: str = "", severity: str = "一般", procedure: str = "普通程序") -> dict[str, str]:
    """A penalty as the health bureau sends it, declaring severity (失信严重程度) and procedure (案件程序类别)
    unless they are given empty."""
    n = next(_numbers)
    row = {"CF_XDR_MC": f"测试主体{n}", "CF_WSH": f"卫罚〔2026〕{n}号", "CF_WFXW": "违反卫生管理规定",
           "CF_SY": "经查……", "CF_YJ": "《公共场所卫生管理条例》", "CF_CFLB": types, "CF_NR": "处罚内容",
           "CF_NR_FK": fine, "CF_JDRQ": decided.isoformat(), "CF_YXQ": (decided + dt.timedelta(days=365)).isoformat(),
           "CF_GSJZQ": stated_end, "CF_CFJG": "县卫生健康委员会", "CF_CFJGDM": AGENCY,
           "CF_SJLY": "县卫生健康委员会", "CF_SJLYDM": AGENCY, "CF_SXYZCD": severity, "CF_AJCXLB": procedure}
    if person:
        row.update({"CF_XDR_LB": "自然人", "CF_XDR_ZJLX": "身份证", "CF_XDR_ZJHM": person_id(n)})
    else:
        row.update({"CF_XDR_LB": "法人及非法人组织", "CF_XDR_SHXYM": firm_code(n), "CF_FRDB": "张三"})
    return row


def licence(decided: dt.date, valid_to: dt.date) -> dict[str, str]:
    n = next(_numbers)
    return {"XK_XDR_MC": f"测试机构{n}", "XK_XDR_LB": "法人及非法人组织", "XK_XDR_SHXYM": firm_code(n),
            "XK_FRDB": "李四", "XK_XKWS": "准予行政许可决定书", "XK_WSH": f"卫许〔2026〕{n}号", "XK_XKLB": "普通",
            "XK_NR": "民办学校办学许可", "XK_JDRQ": decided.isoformat(), "XK_YXQZ": decided.isoformat(),
            "XK_YXQZI": valid_to.isoformat(), "XK_XKJG": "县教育局", "XK_XKJGDM": LICENSING_AGENCY,
            "XK_LYDW": "县教育局", "XK_LYDWDM": LICENSING_AGENCY}


def load(engine, drop: Path, feed_code: str, rows: list[dict[str, str]], *, clean: bool = True) -> list:
    """Drop the rows as the department's CSV and ingest that feed; returns the new batch's outcome."""
    cat = catalog()
    department = cat.department_by_code[DEPARTMENT_OF[feed_code]]
    feed = next(f for f in department.feeds if f.code == feed_code)
    assert feed.file.format == "csv" and feed.file.encoding == "utf-8"
    folder = drop / department.code
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{feed_code}_{next(_numbers):05d}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=sorted({k for r in rows for k in r}))
        writer.writeheader()
        writer.writerows(rows)
    outcomes = ingest_feed(engine, cat, department, feed, file_drop_dir=drop)
    # Files dropped earlier are listed again and recognised by their bytes; the new one is loaded.
    assert [o.status for o in outcomes if o.source_name == path.name] == ["loaded"], outcomes
    assert {o.status for o in outcomes if o.source_name != path.name} <= {"already_loaded"}, outcomes
    if clean:
        assert sum(o.rows_quarantined for o in outcomes) == 0, outcomes
    return next(o for o in outcomes if o.source_name == path.name)


def client_for(sim: PlatformSimulator, secret: str | None = None, timeout: float = 2.0) -> PlatformClient:
    return PlatformClient(sim.base_url, sim.app_key, secret or sim.secret, read_timeout=timeout,
                          retry=RetryPolicy(attempts=8, backoff=0.02, backoff_max=0.2, retry_after_max=0.2))


def platform_payloads(sim: PlatformSimulator) -> list[dict]:
    with sqlite3.connect(sim.store_path) as db:
        return [json.loads(p) for (p,) in db.execute("SELECT payload FROM publicity_items")]


def platform_state(sim: PlatformSimulator) -> dict[str, str]:
    with sqlite3.connect(sim.store_path) as db:
        return dict(db.execute("SELECT record_uid, state FROM publicity_current"))


def outbox(engine, where: str = "true") -> list:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT * FROM outbox.publicity_item WHERE {where} ORDER BY item_id")).all()


def fact(engine, document_number: str):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM dw.fact_credit_record WHERE document_number = :d"),
                            {"d": document_number}).one()


RECENT = dt.date.today() - dt.timedelta(days=20)


def test_due_date_counts_chinese_working_days_across_spring_festival_and_make_up_days(engine, tmp_path):
    # 2026 Spring Festival: 15-23 Feb off, Saturday 14 Feb and Saturday 28 Feb are make-up working days.
    before_festival = penalty(dt.date(2026, 2, 13))
    # 2026 National Day: 1-7 Oct off, Saturday 10 Oct is a make-up working day.
    before_national_day = licence(dt.date(2026, 9, 30), dt.date(2099, 12, 31))
    load(engine, tmp_path, "penalty", [before_festival])
    load(engine, tmp_path, "license", [before_national_day])
    assert fact(engine, before_festival["CF_WSH"]).publicity_due == dt.date(2026, 3, 2)
    assert fact(engine, before_national_day["XK_WSH"]).publicity_due == dt.date(2026, 10, 15)


def test_policy_tiers_decide_what_is_published_and_for_how_long(engine, tmp_path):
    warning = penalty(RECENT, types="警告", fine="", severity="")  # the fallback on types: minor
    ordinary = penalty(RECENT, types="罚款", fine="0.2")
    serious = penalty(RECENT, types="罚款;吊销许可证件", fine="2", severity="")  # the fallback: serious
    stated = penalty(RECENT, types="罚款", stated_end=(RECENT + dt.timedelta(days=200)).isoformat())
    too_short = penalty(RECENT, types="罚款", stated_end=(RECENT + dt.timedelta(days=10)).isoformat())
    ended_long_ago = penalty(dt.date(2023, 5, 8))
    load(engine, tmp_path, "penalty", [warning, ordinary, serious, stated, too_short, ended_long_ago])

    def months_later(day: dt.date, months: int) -> dt.date:
        from dateutil.relativedelta import relativedelta
        return day + relativedelta(months=months)

    assert fact(engine, warning["CF_WSH"]).publicity_tier == "minor"
    assert fact(engine, warning["CF_WSH"]).publicity_start is None
    assert fact(engine, ordinary["CF_WSH"]).publicity_end == months_later(RECENT, 12)
    assert (fact(engine, serious["CF_WSH"]).publicity_tier, fact(engine, serious["CF_WSH"]).publicity_end) == (
        "serious", months_later(RECENT, 36))
    assert fact(engine, stated["CF_WSH"]).publicity_end == RECENT + dt.timedelta(days=200)
    assert fact(engine, too_short["CF_WSH"]).publicity_end == months_later(RECENT, 3)  # the tier's minimum
    published = {r.record_uid for r in outbox(engine)}
    expected = {fact(engine, p["CF_WSH"]).record_uid for p in (ordinary, serious, stated, too_short)}
    assert published == expected  # not the warning, not the window that ended in 2024
    assert {(r.platform, r.action) for r in outbox(engine)} == {("provincial", "upsert"), ("national", "upsert")}
    # The platform is told the window the warehouse decided, not the department's 公示截止期 (too short here).
    with engine.connect() as conn:
        to_send = outbox_payloads(conn, [r.record_key for r in outbox(engine)])
    sent = {r.record_uid: to_send[r.record_key].get("CF_GSJZQ") for r in outbox(engine)}
    assert sent[fact(engine, too_short["CF_WSH"]).record_uid] == months_later(RECENT, 3).isoformat()
    assert sent[fact(engine, ordinary["CF_WSH"]).record_uid] == months_later(RECENT, 12).isoformat()


def test_each_policy_edition_sets_the_windows_of_decisions_made_while_it_was_in_force(engine, tmp_path):
    """527号 from 2019-07-01, 令第58号 from 2023-05-01 (figures unconfirmed), 令第36号 from 2026-04-01: the tier
    from the department's declaration first, then the edition's fallback on penalty types (publicity_policy.yml)."""
    from dateutil.relativedelta import relativedelta

    in_527, in_58, in_36 = dt.date(2020, 3, 2), dt.date(2024, 3, 4), dt.date(2026, 5, 6)
    cases = [  # (row, expected tier, expected months of publicity or None when unpublished)
        (penalty(in_527), "ordinary", 12),
        (penalty(in_527, severity="严重"), "serious", 36),
        (penalty(in_527, severity="严重", stated_end="2020-05-01"), "serious", 6),  # raised to the minimum
        (penalty(in_527, severity=""), "ordinary", 12),  # 527: 一般 unless declared serious
        (penalty(in_527, severity="", procedure="简易程序"), "minor", None),
        (penalty(in_527, types="责令停产停业", fine="", severity=""), "serious", 36),
        (penalty(in_58), "ordinary", 36),
        (penalty(in_58, stated_end="2024-05-04"), "ordinary", 3),
        (penalty(in_36, severity="严重", stated_end="2026-08-06"), "serious", 12),  # 令36: a year at least
        (penalty(in_36), "ordinary", 12),
        (penalty(in_36, stated_end="2026-06-01"), "ordinary", 3),
        (penalty(in_36, severity="轻微"), "minor", None),
        (penalty(in_36, types="暂扣许可证件", fine="", severity=""), "ordinary", 12),
        (penalty(in_36, types="警告", fine="", severity=""), "minor", None),
        (penalty(in_36, severity="", procedure="简易程序"), "minor", None),
        (penalty(in_36, types="罚款;吊销许可证件", severity=""), "serious", 36),
    ]
    undeclared = penalty(in_36, severity="")  # a fine alone places nothing under 令36: the department must say
    outcome = load(engine, tmp_path, "penalty", [row for row, _, _ in cases] + [undeclared], clean=False)
    assert outcome.rows_quarantined == 1
    for row, tier, months in cases:
        stored = fact(engine, row["CF_WSH"])
        decided = dt.date.fromisoformat(row["CF_JDRQ"])
        expected_end = decided + relativedelta(months=months) if months else None
        assert (stored.publicity_tier, stored.publicity_start, stored.publicity_end) == (
            tier, decided if months else None, expected_end), row
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT field, rule, message_zh, message_en FROM audit.quarantine")).one()
    assert (found.field, found.rule) == ("CF_SXYZCD", "severity_undeclared")
    assert ("2026-05-06的决定适用国家发展改革委令第36号《信用修复管理办法》，"
            "处罚类别“罚款”不能确定等级") in found.message_zh
    assert "declare CF_SXYZCD (轻微/一般/严重) or CF_AJCXLB" in found.message_en


def test_a_correction_moves_the_window_with_the_new_version(engine, tmp_path):
    from dateutil.relativedelta import relativedelta

    first = penalty(RECENT, types="罚款", fine="0.2")
    load(engine, tmp_path, "penalty", [first])
    assert (fact(engine, first["CF_WSH"]).publicity_tier, fact(engine, first["CF_WSH"]).publicity_end) == (
        "ordinary", RECENT + relativedelta(months=12))
    corrected = dict(first, CF_CFLB="罚款;吊销许可证件", CF_NR_FK="2", CF_SXYZCD="")
    load(engine, tmp_path, "penalty", [corrected])
    assert (fact(engine, first["CF_WSH"]).publicity_tier, fact(engine, first["CF_WSH"]).publicity_end) == (
        "serious", RECENT + relativedelta(months=36))
    with engine.connect() as conn:
        prior = conn.execute(sa.text("SELECT publicity_end, change_reason FROM dw.fact_credit_record_history")).all()
    assert [tuple(r) for r in prior] == [(RECENT + relativedelta(months=12), "correction")]


def test_items_reach_both_platforms_once_with_id_numbers_masked(engine, tmp_path):
    rows = [penalty(RECENT, person=True) for _ in range(5)] + [penalty(RECENT) for _ in range(5)]
    load(engine, tmp_path, "penalty", rows)
    load(engine, tmp_path, "license", [licence(RECENT, dt.date(2099, 12, 31)) for _ in range(4)])
    with PlatformSimulator("provincial", tmp_path / "p.sqlite") as provincial, \
            PlatformSimulator("national", tmp_path / "n.sqlite") as national:
        for code, sim in (("provincial", provincial), ("national", national)):
            result = push_publicity(engine, code, client=client_for(sim), batch_size=3)
            assert (result.accepted, result.rejected, result.unconfirmed) == (14, 0, 0)
            assert sim.count_accepted() == 14
            payloads = platform_payloads(sim)
            people = [p for p in payloads if p.get("CF_XDR_LB") == "自然人"]
            assert len(people) == 5
            assert all(re.fullmatch(r"4105\*{10}[\dX]{4}", p["CF_XDR_ZJHM"]) for p in people)
            assert all("*" in value for p in payloads for key, value in p.items() if key.endswith("_ZJHM"))
        # A second run sends nothing: every item has its receipt.
        assert push_publicity(engine, "national", client=client_for(national)).requests == 0
    assert {r.status for r in outbox(engine)} == {"accepted"}
    assert all(r.receipt_id for r in outbox(engine))
    with engine.connect() as conn:
        raw_ids = conn.scalar(sa.text("""SELECT count(*) FROM outbox.publicity_item, jsonb_each_text(payload) e
                                         WHERE e.key LIKE '%ZJHM' AND e.value !~ '[*]'"""))
    assert raw_ids == 0
    assert all(is_valid_id_number(r["CF_XDR_ZJHM"]) for r in rows if "CF_XDR_ZJHM" in r)  # the source had real ones


def test_repaired_and_expired_records_are_withdrawn(engine, tmp_path):
    decided = dt.date(2026, 1, 5)
    repairable = penalty(decided)
    short_licence = licence(RECENT, dt.date.today() + dt.timedelta(days=30))
    load(engine, tmp_path, "penalty", [repairable])
    load(engine, tmp_path, "license", [short_licence])
    with PlatformSimulator("national", tmp_path / "n.sqlite") as national, \
            PlatformSimulator("provincial", tmp_path / "p.sqlite") as provincial:
        for code, sim in (("national", national), ("provincial", provincial)):
            push_publicity(engine, code, client=client_for(sim))
        with pytest.raises(UserError, match="2026-04-05"):  # ordinary: three months served first
            repair_penalty(engine, "health", repairable["CF_WSH"], dt.date(2026, 3, 20))
        repaired = repair_penalty(engine, "health", repairable["CF_WSH"], dt.date(2026, 4, 10))
        assert repaired["withdrawals"] == 2
        expired = expire_publicity_windows(engine, today=dt.date.today() + dt.timedelta(days=60))
        assert expired == {"expired": 1, "withdrawals": 2}
        for code, sim in (("national", national), ("provincial", provincial)):
            result = push_publicity(engine, code, client=client_for(sim))
            assert result.accepted == 2
            assert set(platform_state(sim).values()) == {"withdrawn"}
    penalty_fact = fact(engine, repairable["CF_WSH"])
    assert (penalty_fact.status, penalty_fact.publicity_end) == ("repaired", dt.date(2026, 4, 10))
    assert fact(engine, short_licence["XK_WSH"]).status == "expired"
    with engine.connect() as conn:
        reasons = set(conn.scalars(sa.text("SELECT change_reason FROM dw.fact_credit_record_history")))
    assert reasons == {"repair", "expired"}
    # A department re-sending the repaired penalty unchanged does not publish it again.
    load_again = dict(repairable, CF_NR="处罚内容（重报）")
    load(engine, tmp_path, "penalty", [load_again])
    assert fact(engine, repairable["CF_WSH"]).status == "repaired"
    assert fact(engine, repairable["CF_WSH"]).publicity_end == dt.date(2026, 4, 10)  # the repair's end stays
    assert not outbox(engine, "status = 'pending'")


def test_crash_between_send_and_receipt_then_resume_delivers_exactly_once(engine, tmp_path):
    load(engine, tmp_path, "penalty", [penalty(RECENT) for _ in range(30)])
    with PlatformSimulator("provincial", tmp_path / "p.sqlite") as sim:
        env = {**os.environ, "WAREHOUSE_URL": engine.url.render_as_string(hide_password=False),
               "AIRFLOW_CONN_PLATFORM_PROVINCIAL": f"http://{sim.app_key}:{sim.secret}@127.0.0.1:{sim.port}",
               "CREDITWH_CRASH_AT": "push.before_receipts:2"}
        killed = subprocess.run([sys.executable, "-m", "etl", "push", "publicity", "--platform", "provincial",
                                 "--batch-size", "10", "--concurrency", "1"], env=env, capture_output=True, text=True,
                                timeout=120)
        assert killed.returncode == -9, killed.stderr
        provincial = "platform = 'provincial'"
        assert {r.status for r in outbox(engine, provincial)} == {"accepted", "sent"}  # receipts lost in the crash
        result = push_publicity(engine, "provincial", client=client_for(sim))
        stats = sim.stats()
    assert {r.status for r in outbox(engine, provincial)} == {"accepted"}
    assert stats["unique_keys"] == stats["published"] == 30
    assert stats["duplicates"] >= 10  # the re-sent items were recognised, not published twice
    assert result.accepted == 30 - 10  # the first request's receipts were recorded before the crash


def test_thirty_percent_faults_lose_nothing_and_publish_nothing_twice(engine, tmp_path):
    load(engine, tmp_path, "penalty", [penalty(RECENT, person=n % 2 == 0) for n in range(120)])
    faults = PlatformFaults(error_rate=0.1, timeout_rate=0.1, reset_rate=0.05, rate_limit_rate=0.05,
                            timeout_seconds=1.0, seed=7)
    with PlatformSimulator("national", tmp_path / "n.sqlite", faults=faults) as sim:
        client = client_for(sim, timeout=0.3)
        runs = 0
        while outbox(engine, "platform = 'national' AND status <> 'accepted'") and runs < 5:
            push_publicity(engine, "national", client=client, batch_size=10, concurrency=3)
            runs += 1
        stats = sim.stats()
    assert not outbox(engine, "platform = 'national' AND status <> 'accepted'")
    assert stats["faults_injected"] > 0
    assert stats["unique_keys"] == stats["published"] == 120
    assert stats["conflicting_duplicates"] == 0


def test_wrong_secret_is_refused_reported_and_not_retried(engine, tmp_path):
    load(engine, tmp_path, "penalty", [penalty(RECENT) for _ in range(3)])
    with PlatformSimulator("national", tmp_path / "n.sqlite") as sim:
        result = push_publicity(engine, "national", client=client_for(sim, secret="not-the-secret"))
        assert sim.stats()["requests"] == 1
    assert result.stopped and "bad_signature" in result.stopped and "secret" in result.stopped
    assert "not-the-secret" not in result.stopped
    assert result.accepted == 0
    assert {(r.status, r.attempts) for r in outbox(engine, "platform = 'national'")} == {("sent", 1)}
    assert all("bad_signature" in r.last_error for r in outbox(engine, "platform = 'national'"))


def test_html_and_rejections_end_clearly_and_rejections_go_back_to_the_department(engine, tmp_path):
    load(engine, tmp_path, "penalty", [penalty(RECENT) for _ in range(20)])
    with PlatformSimulator("national", tmp_path / "n.sqlite", faults=PlatformFaults(html_rate=1.0)) as sim:
        result = push_publicity(engine, "national", client=client_for(sim), batch_size=5)
    assert (result.accepted, result.unconfirmed) == (0, 20)  # bounded: every item tried once, then stopped
    assert "HTML" in result.errors[0]
    with PlatformSimulator("national", tmp_path / "n2.sqlite", faults=PlatformFaults(reject_rate=0.3, seed=1)) as sim:
        result = push_publicity(engine, "national", client=client_for(sim), batch_size=5)
    assert result.accepted + result.rejected == 20 and result.rejected > 0
    rejected = outbox(engine, "status = 'rejected'")
    assert all(r.reason_code == "platform_rejected" and r.reason for r in rejected)
    paths = write_platform_rejections(engine)
    assert [p.parent.name for p in paths] == ["health"]
    sheet = load_workbook(paths[0]).active
    documents = {sheet.cell(row=row, column=3).value for row in range(3, sheet.max_row + 1)}
    with engine.connect() as conn:
        expected = set(conn.scalars(sa.text("""SELECT f.document_number FROM outbox.publicity_item o
                                               JOIN dw.fact_credit_record f USING (record_key)
                                               WHERE o.status = 'rejected'""")))
    assert documents == expected
    assert write_platform_rejections(engine) == []  # each rejection is returned once


def test_reconciliation_finds_what_the_platform_lost_and_requeues_it(engine, tmp_path):
    load(engine, tmp_path, "penalty", [penalty(RECENT - dt.timedelta(days=n % 3)) for n in range(12)])
    with PlatformSimulator("provincial", tmp_path / "p.sqlite") as sim:
        push_publicity(engine, "provincial", client=client_for(sim))
        clean = reconcile(engine, "provincial", client=client_for(sim))
        assert (clean.groups_different, clean.sample_missing, clean.requeued) == (0, 0, 0)
        with sqlite3.connect(sim.store_path) as db:  # the platform loses three records
            lost = [uid for (uid,) in db.execute("SELECT record_uid FROM publicity_current LIMIT 3")]
            db.executemany("DELETE FROM publicity_current WHERE record_uid = ?", [(u,) for u in lost])
            db.executemany("DELETE FROM publicity_items WHERE record_uid = ?", [(u,) for u in lost])
        found = reconcile(engine, "provincial", client=client_for(sim))
        assert found.groups_different >= 1 and found.requeued == 3
        push_publicity(engine, "provincial", client=client_for(sim))
        assert reconcile(engine, "provincial", client=client_for(sim)).groups_different == 0
        published = sorted(uid for uid, state in platform_state(sim).items() if state == "published")
        assert published == sorted(str(r.record_uid) for r in outbox(engine, "platform = 'provincial' AND "
                                                                              "cause LIKE 'batch:%'"))


def test_indicators_reach_the_national_platform_once(engine, tmp_path):
    from etl.indicators import compute_indicators
    from etl.publish.indicators import push_indicators

    load(engine, tmp_path, "penalty", [penalty(RECENT) for _ in range(3)])
    period = RECENT.strftime("%Y-%m")
    compute_indicators(engine, period)
    with PlatformSimulator("national", tmp_path / "n.sqlite") as sim:
        first = push_indicators(engine, period, client=client_for(sim))
        again = push_indicators(engine, period, client=client_for(sim))
        assert sim.stats()["indicators_accepted"] == 1
    assert (first["status"], first["already"], again["already"]) == ("accepted", False, True)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT status, receipt_id, payload FROM outbox.indicator_submission")).all()
    assert [(s.status, s.receipt_id) for s in stored] == [("accepted", first["receipt_id"])]
    assert stored[0].payload["period"] == period and len(stored[0].payload["values"]) >= 20
