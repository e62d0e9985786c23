"""Zero full identity numbers outside the restricted tables, after a real run.

Departments write people's numbers where they should and where they should not: ID fields of several document
types, 违法事实 / 处罚内容 / 备注 in sentences, full-width, spaced out, a file without its header row. After the
command-line ingest and a push to both platform simulators, every place a person or a platform can read is
scanned: every column of every mart view (as bi_reader), the outbox payloads, what both platforms stored,
the feedback workbooks, batch and quarantine reasons, the command output and the log file. Each planted
number must appear in none of them, in any spelling, and no other identity number may be found either.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlalchemy.engine import make_url

from etl.codes import id_check_char
from etl.personal import find_numbers
from simulators.platform import PlatformSimulator
from tests.corpus.build import csv_bytes, penalty, person_penalty, table
from tests.e2e.conftest import creditwh

pytestmark = pytest.mark.e2e

FIELDS = ["CF_XDR_MC", "CF_XDR_LB", "CF_XDR_SHXYM", "CF_FRDB", "CF_XDR_ZJLX", "CF_XDR_ZJHM", "CF_WSH", "CF_WFXW",
          "CF_SY", "CF_YJ", "CF_CFLB", "CF_NR", "CF_NR_FK", "CF_JDRQ", "CF_YXQ", "CF_CFJG", "CF_CFJGDM", "CF_SJLY",
          "CF_SJLYDM", "BZ"]


def resident(first17: str) -> str:
    return first17 + id_check_char(first17)


PEOPLE = [resident(f"410523{1960 + i:04d}0{i % 9 + 1}1{i}{7 * i % 10}{3 * i % 10}{i}") for i in range(8)]
PASSPORT = "E12345678"


def spellings(number: str) -> set[str]:
    full = "".join(chr(ord(c) + 0xFEE0) for c in number)
    return {number, number.lower(), full, f"{number[:6]} {number[6:14]} {number[14:]}", f"{number[:6]}-{number[6:]}"}


def decisions(today: str, until: str) -> list[dict[str, str]]:
    common = {"CF_JDRQ": today, "CF_YXQ": until}
    return [
        person_penalty("health", "people", 1, CF_XDR_ZJHM=PEOPLE[0], CF_SY=f"当事人王某（身份证号{PEOPLE[0]}）无证行医",
                       **common),
        person_penalty("health", "people", 2, CF_XDR_ZJHM=PEOPLE[1], CF_NR=f"罚款，当事人身份证 {PEOPLE[1][:6]} "
                       f"{PEOPLE[1][6:14]} {PEOPLE[1][14:]}", **common),
        person_penalty("health", "people", 3, CF_XDR_ZJLX="护照", CF_XDR_ZJHM=PASSPORT,
                       BZ=f"经办人身份证号{''.join(chr(ord(c) + 0xFEE0) for c in PEOPLE[2])}", **common),
        # a firm whose legal representative's number is written into the facts
        penalty("health", "people", 4, CF_SY=f"法定代表人张伟（{PEOPLE[3]}）拒不整改", **common),
        # quarantined (no 处罚依据): its raw row, with a number in it, goes back to the department
        person_penalty("health", "people", 5, CF_XDR_ZJHM=PEOPLE[4], CF_YJ="", CF_SY=f"另查明{PEOPLE[5]}为共同经营者",
                       **common),
    ]


@pytest.fixture
def run(fresh_pg15_url, tmp_path):
    import datetime as dt

    today = (dt.date.today() - dt.timedelta(days=5)).isoformat()
    until = (dt.date.today() + dt.timedelta(days=360)).isoformat()
    drop = tmp_path / "drop"
    folder = drop / "health"
    folder.mkdir(parents=True)
    (folder / "penalty_20261201.csv").write_bytes(
        csv_bytes(table("health", "penalty", decisions(today, until), FIELDS)))
    # a file without its header row: the first data row is taken for headers (held, nothing loaded)
    headless = table("health", "penalty", [person_penalty("health", "headless", n, CF_XDR_ZJHM=PEOPLE[5 + n],
                                                          CF_JDRQ=today, CF_YXQ=until) for n in (1, 2)], FIELDS)[1:]
    (folder / "penalty_20261202.csv").write_bytes(csv_bytes(headless))
    env = {"WAREHOUSE_URL": fresh_pg15_url, "CREDITWH_VAR_DIR": str(tmp_path / "var"), "CREDITWH_DROP_DIR": str(drop)}
    assert creditwh("init", env=env).returncode == 0
    ingest = creditwh("ingest", "health", env=env)
    with PlatformSimulator("provincial", tmp_path / "provincial.sqlite") as provincial, \
            PlatformSimulator("national", tmp_path / "national.sqlite") as national:
        pushed = creditwh("push", "publicity", env={**env, **provincial.connection_env(), **national.connection_env()})
        stores = [provincial.store_path, national.store_path]
    status = creditwh("status", env=env)
    return {"url": fresh_pg15_url, "var": tmp_path / "var", "ingest": ingest, "push": pushed, "status": status,
            "stores": stores}


def _scan(where: str, texts: list[str]) -> list[str]:
    """Every planted number in any spelling, and any other identity number found, in these texts."""
    found = []
    for text in texts:
        for number in [*PEOPLE, PASSPORT]:
            found += [f"{where}: {s}" for s in spellings(number) if s in text]
        found += [f"{where}: {kind.code} {text[start:end]}" for kind, start, end in find_numbers(text)]
    return found


def test_no_full_identity_number_leaves_the_restricted_tables(run, admin_url_for):
    engine = sa.create_engine(run["url"])
    reader_name = f"cwtest_bi_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(run["url"], isolation_level="AUTOCOMMIT")
    leaks: list[str] = []
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE ROLE "{reader_name}" LOGIN IN ROLE bi_reader'))
        reader = sa.create_engine(make_url(run["url"]).set(username=reader_name, password=None))
        with reader.connect() as conn:
            views = list(conn.scalars(sa.text(
                "SELECT table_name FROM information_schema.views WHERE table_schema = 'mart' ORDER BY 1")))
            assert len(views) >= 8
            for view in views:
                rows = conn.execute(sa.text(f"SELECT * FROM mart.{view}")).all()
                leaks += _scan(f"mart.{view}", ["\t".join("" if v is None else str(v) for v in row) for row in rows])
            people = conn.execute(sa.text(
                "SELECT id_number, violation_facts, penalty_content FROM mart.v_publicity_penalty")).all()
        reader.dispose()
        with engine.connect() as conn:
            payloads = [json.dumps(p, ensure_ascii=False) for p in conn.scalars(sa.text(
                "SELECT payload FROM outbox.publicity_item"))]
            reasons = [r or "" for r in conn.scalars(sa.text("SELECT status_reason FROM audit.batch"))]
            messages = [f"{a} {b}" for a, b in conn.execute(sa.text(
                "SELECT message_zh, message_en FROM audit.quarantine"))]
            facts = conn.scalar(sa.text("SELECT count(*) FROM dw.fact_credit_record"))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{reader_name}"'))
        admin.dispose()
        engine.dispose()
    assert facts == 4 and len(payloads) == 8  # four decisions published, to two platforms
    assert "null" not in payloads  # every item was sent, so each keeps the payload it was sent with
    leaks += _scan("outbox", payloads) + _scan("audit.batch reasons", reasons) + _scan("quarantine", messages)
    stored = []
    for store in run["stores"]:
        with sqlite3.connect(store) as db:
            stored += [p for (p,) in db.execute("SELECT payload FROM publicity_items")]
    assert len(stored) == 8, run["push"].stdout + run["push"].stderr  # the platforms accepted them all
    leaks += _scan("platforms", stored)
    workbooks = sorted(Path(run["var"] / "feedback").rglob("*.xlsx"))
    assert len(workbooks) == 2  # the quarantined row and the held header-less file go back to the department
    for workbook in workbooks:
        cells = [str(c.value) for sheet in load_workbook(workbook) for row in sheet.iter_rows() for c in row
                 if c.value is not None]
        leaks += _scan(workbook.name, cells)
    for name in ("ingest", "push", "status"):
        leaks += _scan(f"creditwh {name}", [run[name].stdout, run[name].stderr])
    leaks += _scan("log file", [(run["var"] / "logs" / "creditwh.log").read_text(encoding="utf-8")])
    assert leaks == []
    # and what is shown is still useful: masked, not blank
    assert {p.id_number for p in people} >= {"4105**********" + PEOPLE[0][-4:], "E******78"}
    assert any("身份证号4105**********" in (p.violation_facts or "") for p in people)


def test_a_file_without_its_header_row_is_held_with_a_masked_reason(run):
    held = [line for line in run["ingest"].stdout.splitlines() if line.strip().startswith("held:")]
    assert len(held) == 1 and "health/penalty" in held[0]
    assert "看起来是数据而不是表头" in held[0] and "looks like data" in held[0]
    assert "4105**********" in held[0]  # the values quoted are masked, not dropped
    assert not _scan("held reason", held)
