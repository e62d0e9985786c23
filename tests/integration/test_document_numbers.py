"""One decision is one record: a document number sent again with full-width digits, other brackets, spaces or
lower-case letters finds its record and changes nothing; a warehouse loaded before that rule is brought in line
without publishing anything again, and the duplicates it had are merged and withdrawn upstream."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.catalog import catalog
from etl.ingest import ingest_feed
from etl.keys import RECORD_NAMESPACE, normalise_document_number, record_uid
from etl.migrate import migrate
from etl.reference import seed_reference_data
from tests.corpus.build import csv_bytes, penalty, table

pytestmark = pytest.mark.integration

DECIDED = (dt.date.today() - dt.timedelta(days=30)).isoformat()
UNTIL = (dt.date.today() + dt.timedelta(days=300)).isoformat()


SPELLINGS = st.from_regex(r"[ 　]?[县縣][林卫]罚[〔\[（(【﹝〖{［][2２][0０][2２][6６][〕\]）)】﹞〗}］]"
                          r"[EeＥｅ]?[0-9０-９]{1,4}号[ \t]?", fullmatch=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(st.none(), st.text(max_size=30), SPELLINGS), min_size=1, max_size=20),
       brackets=st.sampled_from(["〔〕", "（）"]))
def test_sql_writes_document_numbers_exactly_as_python(warehouse, values, brackets):
    with warehouse.connect() as conn:
        got = list(conn.scalars(sa.text(
            "SELECT dw.canonical_document_number(v, :b) FROM unnest(CAST(:v AS text[])) WITH ORDINALITY AS t (v, i) "
            "ORDER BY i"), {"v": [v.replace("\x00", "") if v else v for v in values], "b": brackets}))
    assert got == [normalise_document_number(v.replace("\x00", "") if v else v, brackets) for v in values]


@pytest.fixture
def engine(empty_database):
    migrate(empty_database)
    seed_reference_data(empty_database, catalog())
    return empty_database


def deliver(engine, tmp_path, name: str, numbers: list[str]) -> list:
    """Forestry penalties under these document numbers, dropped as the department's GB18030 CSV and ingested;
    row n has the same content (but its number) in every delivery."""
    rows = [penalty("forestry", "decisions", n, CF_WSH=number, CF_JDRQ=DECIDED, CF_YXQ=UNTIL)
            for n, number in enumerate(numbers, start=1)]
    folder = tmp_path / "drop" / "forestry"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"penalty_{name}.csv").write_bytes(csv_bytes(table("forestry", "penalty", rows), "gb18030"))
    department = catalog().department_by_code["forestry"]
    feed = next(f for f in department.feeds if f.code == "penalty")
    return [o for o in ingest_feed(engine, catalog(), department, feed, file_drop_dir=tmp_path / "drop")
            if o.source_name == f"penalty_{name}.csv"]


def facts(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT record_key, record_uid, document_number, status, attributes ->> 'CF_WSH' AS wsh "
            "FROM dw.fact_credit_record ORDER BY record_key")).all()


def items(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.text("SELECT count(*) FROM outbox.publicity_item"))


def test_a_number_sent_again_in_another_spelling_is_the_same_record(engine, tmp_path):
    [first] = deliver(engine, tmp_path, "20260101", ["县林罚〔2026〕E701号"])
    assert (first.status, first.rows_loaded) == ("loaded", 1)
    published = items(engine)
    for n, spelling in enumerate(["县林罚〔２０２６〕Ｅ７０１号", "县林罚[2026]e701号", " 县林罚【2026】 E701号　",
                                  "县林罚（2026）E701号", "县林罚﹝2026﹞E701号"], start=2):
        [again] = deliver(engine, tmp_path, f"2026010{n}", [spelling])
        assert (again.status, again.rows_loaded, again.rows_unchanged) == ("loaded", 0, 1), spelling
    [only] = facts(engine)
    assert only.document_number == only.wsh == "县林罚〔2026〕E701号"
    assert items(engine) == published  # nothing more goes upstream
    # two spellings of one number in one file are one decision twice: the second is a duplicate
    [both] = deliver(engine, tmp_path, "20260110", ["县林罚〔2026〕E701号", "县林罚[2026]E701号"])
    assert (both.rows_unchanged, both.rows_quarantined) == (1, 1)


def _pre_022_fact(conn, model, spelling: str, later: bool) -> int:
    """A fact as the warehouse stored it before document numbers had one form: the number as sent, its id
    computed from it, and (for the resend that made a duplicate) a later change time."""
    uid = uuid.uuid5(RECORD_NAMESPACE, f"forestry|penalty|{spelling.strip(' ')}")  # the old key: as sent
    return conn.scalar(sa.text("""
        INSERT INTO dw.fact_credit_record (record_uid, subject_key, record_type_key, department_key,
                                           decision_date_key, document_number, status, publicity_start,
                                           publicity_end, fine_amount, attributes, content_hash, batch_id,
                                           source_row_no, publicity_tier, publicity_due, first_loaded_at, updated_at)
        SELECT :uid, subject_key, record_type_key, department_key, decision_date_key, :spelling, status,
               publicity_start, publicity_end, fine_amount, a.attributes,
               encode(sha256(convert_to(a.attributes::text, 'UTF8')), 'hex'), batch_id, source_row_no,
               publicity_tier, publicity_due, first_loaded_at, updated_at + make_interval(hours => :hours)
          FROM dw.fact_credit_record
         CROSS JOIN LATERAL (SELECT jsonb_set(attributes, '{CF_WSH}', to_jsonb(CAST(:spelling AS text)))
                                    AS attributes) a
         WHERE record_key = :model
        RETURNING record_key
    """), {"uid": uid, "spelling": spelling, "model": model, "hours": 1 if later else -1})


def _told_both_platforms(conn, record_key: int) -> None:
    conn.execute(sa.text("""
        INSERT INTO outbox.publicity_item (platform, record_key, record_uid, department_code, record_type_code,
                                           action, payload, content_hash, cause, idempotency_key, decision_date,
                                           status, accepted_at)
        SELECT p.platform, f.record_key, f.record_uid, 'forestry', 'penalty', 'upsert', f.attributes, f.content_hash,
               'batch:0', 'pre-022-' || p.platform || f.record_key, CAST(:decided AS date), 'accepted', now()
          FROM dw.fact_credit_record f CROSS JOIN (VALUES ('provincial'), ('national')) AS p (platform)
         WHERE f.record_key = :k
    """), {"k": record_key, "decided": DECIDED})


def test_a_warehouse_loaded_before_is_brought_in_line_once(engine, tmp_path):
    # Loaded now, in canonical form, and told to both platforms.
    deliver(engine, tmp_path, "20260201", ["县林罚〔2026〕E801号", "县林罚〔2026〕E899号"])
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE outbox.publicity_item SET status = 'accepted', accepted_at = now()"))
        canonical, other = [r.record_key for r in conn.execute(sa.text(
            "SELECT record_key FROM dw.fact_credit_record ORDER BY document_number"))]
        # What the old key made of two deliveries: the same decision again in full-width (a second fact, also
        # published), and a number sent only in square brackets.
        duplicate = _pre_022_fact(conn, canonical, "县林罚〔２０２６〕Ｅ８０１号", later=True)
        bracketed = _pre_022_fact(conn, other, "县林罚[2026]E802号", later=False)  # E899's content, another number
        _told_both_platforms(conn, duplicate)
        _told_both_platforms(conn, bracketed)
        conn.execute(sa.text("DELETE FROM audit.schema_repeatable WHERE name LIKE 'data: document numbers%'"))
        before = conn.scalar(sa.text("SELECT count(*) FROM outbox.publicity_item"))

    applied = migrate(engine)
    assert applied == ["data: document numbers in canonical form (022): 2 rewritten, 1 merged, 2 aliases"]
    assert migrate(engine) == []  # once

    with engine.connect() as conn:
        rows = {r.record_key: r for r in conn.execute(sa.text(
            "SELECT record_key, record_uid, status, document_number, attributes ->> 'CF_WSH' AS wsh "
            "FROM dw.fact_credit_record"))}
        history = dict(conn.execute(sa.text(
            "SELECT record_key, change_reason FROM dw.fact_credit_record_history")).all())
        new_items = conn.execute(sa.text(
            "SELECT record_key, platform, action FROM outbox.publicity_item ORDER BY item_id OFFSET :n"),
            {"n": before}).all()
        aliases = dict(conn.execute(sa.text("SELECT alias_uid, record_uid FROM dw.record_uid_alias")).all())
    # the resend changed last: it stays, with its number in canonical form; the first one is merged into it
    assert rows[duplicate].status == "active" and rows[duplicate].document_number == rows[duplicate].wsh \
        == "县林罚〔2026〕E801号"
    assert rows[canonical].status == "merged"
    assert rows[bracketed].status == "active" and rows[bracketed].document_number == "县林罚〔2026〕E802号"
    assert history == {canonical: "merged: same decision under another spelling of its number",
                       duplicate: "document number in its canonical form",
                       bracketed: "document number in its canonical form"}
    # the merged record is withdrawn where it was published; nothing else goes upstream again
    assert sorted(new_items) == [(canonical, "national", "withdraw"), (canonical, "provincial", "withdraw")]
    assert aliases == {rows[canonical].record_uid: rows[duplicate].record_uid,
                       record_uid("forestry", "penalty", "县林罚〔2026〕E802号"): rows[bracketed].record_uid}

    # the next delivery of either decision, in any spelling, finds its record and changes nothing
    [again] = deliver(engine, tmp_path, "20260202", ["县林罚〔2026〕E801号", "县林罚(2026)e802号"])
    assert (again.rows_loaded, again.rows_unchanged) == (0, 2)
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM outbox.publicity_item")) == before + 2
