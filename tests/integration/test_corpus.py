"""The bad-input corpus: every hostile file and API answer in tests/corpus/ ends exactly as cases.yml says.

Each case goes through the real ingest path (`ingest_feed`: extract, land, stage, validate, load,
feedback workbook; Great Expectations where the case asks) into one warehouse on the PostgreSQL 15
service. Files
are dropped into a fresh drop folder of their department; API answers come from a scripted HTTP
server on loopback. Besides the expected outcome, every case checks what must hold for any input:
no traceback text in any reason or message, reasons and messages in Chinese and English, every row
accounted for (rows_in = loaded + unchanged + quarantined, each source row either a fact or a
quarantine entry), nothing written by a batch that was held, failed or never landed, and a feedback
workbook without formulas. How to add a case: tests/corpus/README.md.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from openpyxl import load_workbook
from sqlalchemy.engine import Engine

from etl import ingest
from etl.catalog import Feed, catalog
from etl.extract.api import ApiConnector
from etl.ingest import BatchOutcome, ingest_feed
from etl.migrate import migrate
from etl.reference import seed_reference_data
from tests.conftest import DatabaseFactory
from tests.corpus.build import build_files, recipe

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CASES: list[dict] = yaml.safe_load((CORPUS / "cases.yml").read_text(encoding="utf-8"))["cases"]

OUTCOME_KEYS = {
    "loaded": {"rows_in", "rows_loaded", "rows_unchanged", "rows_quarantined", "quarantined"},
    "quarantined": {"rows_in", "rows_loaded", "rows_unchanged", "quarantined"},
    "held": {"reason_contains", "quarantined"},
    "failed": {"reason_contains"},
    "source_error": {"message_contains"},
}
COMMON_KEYS = {"outcome", "facts", "feedback_no_formulas", "feedback_contains", "requests"}
CASE_KEYS = {"id", "about", "transport", "department", "feed", "file", "recipe", "responses", "gx", "expect",
             "xfail"}

TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]*\", line \d+|\b[A-Z]\w*(?:Error|Exception): "
                       r"|psycopg2\.|sqlalchemy\.|\bline \d+, in ")
CHINESE = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_WORD = re.compile(r"(?<![A-Za-z])[a-z]{2,}(?![A-Za-z])")  # lower-case words: not codes like CF_JDRQ
FORMULA_START = ("=", "+", "-", "@")


def _check_case_spec(case: dict) -> None:
    """A typo in cases.yml must fail loudly, not check less."""
    assert set(case) <= CASE_KEYS, f"{case['id']}: unknown keys {set(case) - CASE_KEYS}"
    expect = case["expect"]
    allowed = OUTCOME_KEYS[expect["outcome"]] | COMMON_KEYS
    assert set(expect) <= allowed, f"{case['id']}: unknown expect keys {set(expect) - allowed}"
    assert case["transport"] in ("file", "api")
    assert ("file" in case) + ("recipe" in case) + ("responses" in case) == 1, case["id"]


def _param(case: dict):
    _check_case_spec(case)
    marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if case.get("xfail") else []
    return pytest.param(case, id=case["id"], marks=marks)


def test_case_ids_are_unique_and_the_corpus_is_big_enough():
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 40
    files = {c["file"] for c in CASES if "file" in c} | {r["file"] for c in CASES for r in c.get("responses", [])
                                                          if "file" in r}
    on_disk = {p.relative_to(CORPUS / "files").as_posix() for p in (CORPUS / "files").rglob("*") if p.is_file()}
    assert files == on_disk, "every corpus file has a case and every case's file exists"


def test_committed_files_are_what_build_makes():
    stale = sorted(name for name, data in build_files().items() if (CORPUS / "files" / name).read_bytes() != data)
    assert not stale, f"run `python -m tests.corpus.build` to rebuild {stale}"


# -- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_warehouse(admin_url_for) -> Iterator[Engine]:
    """One migrated warehouse on the PostgreSQL 15 service for the whole corpus."""
    factory = DatabaseFactory(admin_url_for("pg15"))
    try:
        engine = factory.create()
        migrate(engine)
        seed_reference_data(engine, catalog())
        yield engine
    finally:
        factory.drop_all()


class ScriptedApi:
    """A department API on loopback that answers each request with the next scripted response (the last
    one repeats), whatever the path and query."""

    def __init__(self) -> None:
        self.script: list[dict] = []
        self.requests: list[str] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                with api._lock:
                    api.requests.append(self.path)
                    response = api.script[min(len(api.requests), len(api.script)) - 1]
                body = (CORPUS / "files" / response["file"]).read_bytes() if "file" in response else b""
                self.send_response(response.get("status", 200))
                self.send_header("Content-Type", response.get("content_type", "application/json; charset=utf-8"))
                self.send_header("Content-Length", str(len(body)))
                for name, value in response.get("headers", {}).items():
                    self.send_header(name, str(value))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def play(self, script: list[dict]) -> None:
        with self._lock:
            self.script, self.requests = script, []

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def scripted_api() -> Iterator[ScriptedApi]:
    api = ScriptedApi()
    yield api
    api.stop()


ORIGINAL_CONNECTOR_FOR = ingest.connector_for


def fast_connector(feed: Feed):
    """The production connector with test-sized back-off: the same retry paths, milliseconds instead of seconds
    (a Retry-After header is still honoured)."""
    if feed.transport == "api":
        return ApiConnector(retries=3, backoff_factor=0.01, backoff_max=0.05, backoff_jitter=0.0,
                            payload_attempts=2, payload_wait=0.01, read_timeout=5)
    return ORIGINAL_CONNECTOR_FOR(feed)


# -- running a case ----------------------------------------------------------------------------------------


def _drop_name(feed: Feed, stem: str, suffix: str) -> str:
    """A file name the feed's pattern takes, with the corpus file's extension (penalty_*.xlsx -> penalty_<stem>.xls
    for an old Excel file: the feed takes both)."""
    return feed.file.pattern.replace("*", stem).rsplit(".", 1)[0] + suffix


def _ingest_file(engine: Engine, department, feed: Feed, data: bytes, drop: Path, stem: str,
                 suffix: str | None = None) -> BatchOutcome:
    folder = drop / department.code
    folder.mkdir(parents=True)
    path = folder / _drop_name(feed, stem, suffix or "." + feed.file.pattern.rsplit(".", 1)[1])
    path.write_bytes(data)
    outcomes = ingest_feed(engine, catalog(), department, feed, file_drop_dir=drop)
    assert len(outcomes) == 1, f"one batch expected, got {outcomes}"
    assert outcomes[0].source_name == path.name
    return outcomes[0]


def run_case(case: dict, engine: Engine, tmp_path: Path, api: ScriptedApi,
             monkeypatch: pytest.MonkeyPatch) -> tuple[BatchOutcome, tuple]:
    """Ingest the case's source; returns its outcome and the feed's counts just before it (see `_counts`)."""
    cat = catalog()
    department = cat.department_by_code[case["department"]]
    feed = next(f for f in department.feeds if f.code == case["feed"])
    assert feed.transport == case["transport"], f"{case['id']}: feed {feed.code} is a {feed.transport} feed"
    if case["transport"] == "api":
        monkeypatch.setattr(ingest, "connector_for", fast_connector)
        monkeypatch.setenv(f"AIRFLOW_CONN_{feed.api.connection_id.upper()}", json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": api.server.server_address[1],
             "password": "corpus-token"}))
        api.play(case["responses"])
        before = _counts(engine, case)
        outcomes = ingest_feed(engine, cat, department, feed)
        assert len(outcomes) == 1, f"one outcome expected, got {outcomes}"
        return outcomes[0], before
    if "file" in case:
        before = _counts(engine, case)
        return _ingest_file(engine, department, feed, (CORPUS / "files" / case["file"]).read_bytes(),
                            tmp_path / "drop", case["id"], Path(case["file"]).suffix), before
    options = dict(case["recipe"])
    sources = recipe(options.pop("name"), **options)
    *history, (_, _, data) = sources
    for n, (_, _, earlier) in enumerate(history, start=1):
        earlier_outcome = _ingest_file(engine, department, feed, earlier, tmp_path / f"history{n}",
                                       f"{case['id']}_h{n}")
        assert earlier_outcome.status == "loaded", earlier_outcome
    before = _counts(engine, case)
    return _ingest_file(engine, department, feed, data, tmp_path / "drop", case["id"]), before


def _counts(engine: Engine, case: dict) -> tuple[int, int, str | None]:
    """(batches of the feed, facts of the department, the feed's watermark)."""
    with engine.connect() as conn:
        return conn.execute(sa.text("""
            SELECT (SELECT count(*) FROM audit.batch WHERE department_code = :d AND feed_code = :f),
                   (SELECT count(*) FROM dw.fact_credit_record f JOIN dw.dim_department d USING (department_key)
                     WHERE d.department_code = :d),
                   (SELECT watermark_value FROM audit.watermark WHERE department_code = :d AND feed_code = :f)
        """), {"d": case["department"], "f": case["feed"]}).one()


# -- checks ------------------------------------------------------------------------------------------------


def _no_traceback(text: str | None, what: str) -> None:
    assert not TRACEBACK.search(text or ""), f"{what} shows program internals: {text!r}"


def _english(text: str) -> bool:
    return len(ENGLISH_WORD.findall(text)) >= 3


def _bilingual(text: str | None, what: str) -> None:
    assert text and CHINESE.search(text) and _english(text), f"{what} is not in Chinese and English: {text!r}"


def _check_quarantine(engine: Engine, batch_id: int, expect: dict) -> list[tuple[int, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("""
            SELECT row_no, field, rule, message_zh, message_en FROM audit.quarantine
             WHERE batch_id = :b ORDER BY row_no, field, rule"""), {"b": batch_id}).all()
    for row in rows:
        _no_traceback(row.message_zh + row.message_en, f"quarantine message of row {row.row_no}")
        assert CHINESE.search(row.message_zh), f"row {row.row_no} {row.rule}: no Chinese in {row.message_zh!r}"
        assert _english(row.message_en), f"row {row.row_no} {row.rule}: no English in {row.message_en!r}"
    found = [(r.row_no, r.field, r.rule) for r in rows]
    if "quarantined" in expect:
        wanted = sorted((q["row"], q["field"], q["rule"]) for q in expect["quarantined"])
        assert found == wanted, f"quarantine findings {found}, expected {wanted}"
    return found


def _check_accounting(engine: Engine, batch_id: int, outcome: BatchOutcome, found: list) -> None:
    """Every source row is a fact of this batch or a quarantine entry, never both, never neither."""
    assert outcome.rows_in == outcome.rows_loaded + outcome.rows_unchanged + outcome.rows_quarantined, outcome
    with engine.connect() as conn:
        fact_rows = list(conn.scalars(sa.text(
            "SELECT source_row_no FROM dw.fact_credit_record WHERE batch_id = :b ORDER BY 1"), {"b": batch_id}))
    quarantined_rows = {row for row, _, _ in found}
    assert len(quarantined_rows) == outcome.rows_quarantined, (quarantined_rows, outcome)
    assert len(fact_rows) == outcome.rows_loaded + outcome.rows_unchanged, (fact_rows, outcome)
    assert not quarantined_rows & set(fact_rows), "a row is both loaded and quarantined"
    assert quarantined_rows | set(fact_rows) == set(range(1, outcome.rows_in + 1)), "a source row went missing"


def _check_facts(engine: Engine, batch_id: int, facts: list[dict]) -> None:
    with engine.connect() as conn:
        for fact in facts:
            value = conn.scalar(sa.text("""
                SELECT attributes ->> :field FROM dw.fact_credit_record WHERE batch_id = :b AND source_row_no = :row
            """), {"b": batch_id, "row": fact["row"], "field": fact["field"]})
            assert value == fact["value"], f"row {fact['row']} {fact['field']} stored as {value!r}"


def _check_feedback(outcome: BatchOutcome, expect: dict) -> None:
    """The department's workbook: written whenever something was rejected, text only, never a formula."""
    rejected = outcome.rows_quarantined or outcome.status in ("held", "failed")
    assert bool(outcome.feedback) == bool(rejected), f"feedback {outcome.feedback} for {outcome.status}"
    if expect.get("feedback_no_formulas") or expect.get("feedback_contains"):
        assert outcome.feedback, "a feedback workbook was expected"
    if not outcome.feedback:
        return
    workbook = load_workbook(outcome.feedback)
    texts = []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is None:
                    continue
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula: {cell.value!r}"
                if isinstance(cell.value, str):
                    texts.append(cell.value)
                    if cell.value.startswith(FORMULA_START):
                        assert cell.data_type == "s" and cell.quotePrefix, \
                            f"{sheet.title}!{cell.coordinate} would run as a formula: {cell.value[:80]!r}"
    _no_traceback("\n".join(texts), "the feedback workbook")
    for wanted in expect.get("feedback_contains", []):
        assert wanted in texts, f"no cell of the feedback workbook holds {wanted!r} as sent"


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_corpus_case(case, corpus_warehouse, scripted_api, tmp_path, monkeypatch):
    engine = corpus_warehouse
    expect = case["expect"]
    # Great Expectations costs about half a second a batch: it runs where cases.yml asks (`gx: true`).
    monkeypatch.setenv("CREDITWH_GX", "on" if case.get("gx") else "off")
    outcome, before = run_case(case, engine, tmp_path, scripted_api, monkeypatch)
    _no_traceback(outcome.reason, "the outcome's reason")
    if "requests" in expect:
        assert len(scripted_api.requests) == expect["requests"], scripted_api.requests

    if expect["outcome"] == "source_error":
        assert (outcome.status, outcome.batch_id) == ("source_error", None), outcome
        for wanted in expect["message_contains"]:
            assert wanted in outcome.reason, f"{wanted!r} not in {outcome.reason!r}"
        assert _counts(engine, case) == before, "a failed pull landed, loaded or moved the watermark"
        return

    expected_status = "loaded" if expect["outcome"] in ("loaded", "quarantined") else expect["outcome"]
    assert outcome.status == expected_status, f"{outcome.status}: {outcome.reason}"
    found = _check_quarantine(engine, outcome.batch_id, expect)
    if expected_status == "loaded":
        assert outcome.reason is None, outcome.reason
        if expect["outcome"] == "quarantined":
            assert expect["quarantined"], "a quarantined case lists its findings"
            quarantined = len({q["row"] for q in expect["quarantined"]})
        else:
            quarantined = expect.get("rows_quarantined", 0)
            if not quarantined:
                assert not found, f"nothing should be quarantined, found {found}"
        counts = (outcome.rows_in, outcome.rows_loaded, outcome.rows_unchanged, outcome.rows_quarantined)
        assert counts == (expect["rows_in"], expect["rows_loaded"], expect.get("rows_unchanged", 0), quarantined)
        _check_accounting(engine, outcome.batch_id, outcome, found)
        if case.get("gx"):
            with engine.connect() as conn:
                ran = conn.scalar(sa.text("SELECT gx_success IS NOT NULL FROM audit.batch WHERE batch_id = :b"),
                                  {"b": outcome.batch_id})
            assert ran, "Great Expectations did not run"
        _check_facts(engine, outcome.batch_id, expect.get("facts", []))
    else:
        _bilingual(outcome.reason, "the batch's reason")
        for wanted in expect["reason_contains"]:
            assert wanted in outcome.reason, f"{wanted!r} not in {outcome.reason!r}"
        assert (outcome.rows_loaded, outcome.rows_unchanged) == (0, 0), outcome
        batches, facts, watermark = _counts(engine, case)
        assert (facts, watermark) == before[1:], f"a {outcome.status} batch wrote facts or moved the watermark"
        assert batches == before[0] + 1
    _check_feedback(outcome, expect)
