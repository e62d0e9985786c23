"""The API connector against the department simulator on loopback: paging, increments, retries, failures."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from pathlib import Path

import pytest

from etl.catalog import Department, Feed, catalog
from etl.extract.api import ApiConnector
from etl.extract.base import FeedContext
from etl.extract.errors import SourceError
from simulators import DepartmentSimulator, Faults
from simulators.generate import generate

pytestmark = pytest.mark.integration

CHINESE = re.compile(r"[\u4e00-\u9fff]")

TOKEN = "api-test-token-9c2f"
AS_OF = dt.date(2024, 6, 28)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("departments")
    generate(out, records=2000, seed=5, defect_rate=0.0, as_of=AS_OF)
    return out


def start_sim(data_dir: Path, monkeypatch: pytest.MonkeyPatch, faults: Faults | None = None,
              token: str = TOKEN) -> DepartmentSimulator:
    simulator = DepartmentSimulator(data_dir, token=token, faults=faults).start()
    for name, value in simulator.connection_env().items():
        monkeypatch.setenv(name, value)
    return simulator


@pytest.fixture
def sim(data_dir, monkeypatch):
    simulator = start_sim(data_dir, monkeypatch)
    yield simulator
    simulator.stop()


@pytest.fixture
def connector():
    with ApiConnector(retries=8, backoff_factor=0.01, backoff_max=0.1, backoff_jitter=0.01, payload_attempts=4,
                      payload_wait=0.01, read_timeout=5) as api:
        yield api


def feed_of(department: str, feed: str, page_size: int | None = None) -> tuple[Department, Feed]:
    dept = catalog().department_by_code[department]
    chosen = next(f for f in dept.feeds if f.code == feed)
    if page_size is not None:
        chosen = chosen.model_copy(update={"api": chosen.api.model_copy(update={"page_size": page_size})})
    return dept, chosen


def context(work_dir: Path, department: str, feed: str, watermark: str | None = None,
            page_size: int | None = 7) -> FeedContext:
    dept, chosen = feed_of(department, feed, page_size)
    return FeedContext(department=dept, feed=chosen, watermark=watermark, work_dir=work_dir)


def page_records(data_dir: Path, department: str, feed: str) -> list[dict]:
    records = []
    for page in sorted((data_dir / "api" / department / feed).glob("page-*.json")):
        records.extend(json.loads(page.read_text(encoding="utf-8"))["data"])
    return records


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_cursor_feed_lands_every_record_once_as_json_lines(sim, connector, data_dir, tmp_path):
    expected = page_records(data_dir, "court", "dishonest_debtor")
    [source] = connector.extract(context(tmp_path, "court", "dishonest_debtor"))
    assert source.format == "jsonl" and source.encoding == "utf-8" and source.watermark_kind == "cursor"
    assert source.path.parent == tmp_path and source.path.suffix == ".jsonl" and source.rows_hint == len(expected)
    assert source.source_name == (f"api /court/api/v1/dishonest-debtor cursor id 1→{len(expected)} "
                                  f"({len(expected)} records)")
    # exact bytes: compact JSON, Chinese as is, keys in the order the API sent them
    assert lines(source.path) == [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in expected]
    assert list(tmp_path.iterdir()) == [source.path]


def test_updated_since_feed_pages_through_and_keeps_the_newest_timestamp(sim, connector, data_dir, tmp_path):
    expected = page_records(data_dir, "tax", "penalty")
    [source] = connector.extract(context(tmp_path, "tax", "penalty", page_size=3))
    got = [json.loads(line) for line in lines(source.path)]
    assert got == sorted(expected, key=lambda r: (r["updated_at"], r["id"]))
    assert source.watermark_kind == "updated_at"
    assert source.watermark_to == max(r["updated_at"] for r in expected)
    assert source.source_name.startswith("api /tax/api/v1/penalty updated_since start→")
    assert sim.stats["ok"] == -(-len(expected) // 3)


def test_cursor_increment_from_the_watermark_brings_only_new_records(sim, connector, tmp_path):
    [first] = connector.extract(context(tmp_path / "1", "court", "dishonest_debtor"))
    assert connector.extract(context(tmp_path / "2", "court", "dishonest_debtor", first.watermark_to)) == []
    assert not list((tmp_path / "2").iterdir())  # no empty file left behind
    added = sim.append_records("court", "dishonest_debtor",
                               [{"ZX_XDR_MC": f"补录{i}", "ZX_AH": f"（2024）豫0523执{900 + i}号"} for i in range(10)])
    [second] = connector.extract(context(tmp_path / "3", "court", "dishonest_debtor", first.watermark_to))
    assert [json.loads(line) for line in lines(second.path)] == added
    assert second.source_name.startswith(f"api /court/api/v1/dishonest-debtor cursor id {added[0]['id']}→")
    assert second.watermark_to != first.watermark_to
    assert connector.extract(context(tmp_path / "4", "court", "dishonest_debtor", second.watermark_to)) == []


def test_updated_since_increment_brings_only_records_updated_later(sim, connector, data_dir, tmp_path):
    [first] = connector.extract(context(tmp_path / "1", "tax", "penalty"))
    added = sim.append_records("tax", "penalty", [
        {"CF_WSH": "示税罚〔2024〕901号", "updated_at": "2024-06-29T02:00:00Z"},
        {"CF_WSH": "示税罚〔2024〕902号", "updated_at": "2024-06-29T01:00:00Z"},
    ])
    [second] = connector.extract(context(tmp_path / "2", "tax", "penalty", first.watermark_to))
    assert [json.loads(line)["CF_WSH"] for line in lines(second.path)] == ["示税罚〔2024〕902号", "示税罚〔2024〕901号"]
    assert second.watermark_to == "2024-06-29T02:00:00Z" and len(added) == 2
    assert connector.extract(context(tmp_path / "3", "tax", "penalty", second.watermark_to)) == []


def test_platform_shaped_api_pages_by_total_and_keeps_epoch_millisecond_watermarks(sim, connector, data_dir,
                                                                                   tmp_path):
    """The transport bureau answers {"total": N, "rows": [...]} paged by page/limit, with UPDATE_TIME and every
    date as epoch milliseconds; the connector follows `total`, keeps the watermark as the API wrote it and sends
    it back unchanged."""
    expected = page_records(data_dir, "transport", "penalty")
    [source] = connector.extract(context(tmp_path / "1", "transport", "penalty", page_size=4))
    got = [json.loads(line) for line in lines(source.path)]
    assert len(got) == len(expected) and "updated_at" not in got[0]
    assert all(isinstance(r["UPDATE_TIME"], int) for r in got)
    decided = {r["CF_WSH"]: r["CF_JDRQ"] for r in expected}
    china = dt.timezone(dt.timedelta(hours=8))
    for record in got:  # a decision date is midnight of that day in China, in milliseconds
        if isinstance(record["CF_JDRQ"], int):
            day = dt.datetime.fromtimestamp(record["CF_JDRQ"] / 1000, tz=china)
            assert (day.time(), day.date().isoformat()) == (dt.time(0), decided[record["CF_WSH"]])
    assert source.watermark_to == str(max(r["UPDATE_TIME"] for r in got))
    assert sim.stats["ok"] == -(-len(expected) // 4)

    added = sim.append_records("transport", "penalty", [{"CF_WSH": "示交罚〔2024〕901号",
                                                          "updated_at": "2024-06-29T02:00:00Z"}])
    [second] = connector.extract(context(tmp_path / "2", "transport", "penalty", source.watermark_to))
    assert [json.loads(line)["CF_WSH"] for line in lines(second.path)] == ["示交罚〔2024〕901号"] and added
    assert second.watermark_to == str(int(dt.datetime(2024, 6, 29, 2, tzinfo=dt.UTC).timestamp() * 1000))
    assert connector.extract(context(tmp_path / "3", "transport", "penalty", second.watermark_to)) == []


def test_retries_ride_through_errors_resets_bad_bodies_and_rate_limits(data_dir, monkeypatch, connector, tmp_path):
    faults = Faults(error_rate=0.3, reset_rate=0.1, malformed_json_rate=0.05, rate_limit_every=9, seed=7)
    simulator = start_sim(data_dir, monkeypatch, faults)
    try:
        started = time.monotonic()
        [source] = connector.extract(context(tmp_path, "court", "dishonest_debtor", page_size=6))
        elapsed = time.monotonic() - started
    finally:
        simulator.stop()
    expected = page_records(data_dir, "court", "dishonest_debtor")
    assert [json.loads(line) for line in lines(source.path)] == expected
    assert simulator.stats["server_error"] >= 3 and simulator.stats["rate_limited"] >= 1
    assert simulator.stats["reset"] >= 1 and simulator.stats["malformed_json"] >= 1
    # each 429 said Retry-After: 1, and the client waited for it (back-off alone is a few ms here)
    assert elapsed >= 0.95 * simulator.stats["rate_limited"]


def test_persistent_html_is_a_source_error_and_leaves_no_file(data_dir, monkeypatch, connector, tmp_path):
    simulator = start_sim(data_dir, monkeypatch, Faults(html_error_rate=1.0))
    try:
        with pytest.raises(SourceError) as caught:
            connector.extract(context(tmp_path, "tax", "penalty"))
    finally:
        simulator.stop()
    message = str(caught.value)
    assert message.startswith("department tax feed penalty: ") and CHINESE.search(message)
    assert message.endswith("/ the API returned HTML instead of JSON at page 1 (after 4 attempts).")
    assert simulator.stats["html"] == 4
    assert list(tmp_path.iterdir()) == []


def test_outage_mid_pull_removes_the_partial_file(data_dir, monkeypatch, tmp_path):
    simulator = start_sim(data_dir, monkeypatch, Faults(outage_after=3))
    try:
        with ApiConnector(retries=2, backoff_factor=0.01, backoff_max=0.05) as api, \
                pytest.raises(SourceError) as caught:
            api.extract(context(tmp_path, "court", "dishonest_debtor", page_size=5))
    finally:
        simulator.stop()
    message = str(caught.value)
    assert message.startswith("department court feed dishonest_debtor: ") and CHINESE.search(message)
    assert message.endswith("/ the API still answered HTTP 503 at page 4 after 2 retries.")
    assert list(tmp_path.iterdir()) == []


def test_wrong_token_is_refused_without_showing_it(data_dir, monkeypatch, connector, tmp_path, caplog):
    simulator = start_sim(data_dir, monkeypatch, token="the-real-token")
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_API_TAX", json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": simulator.port, "password": "s3cret-wrong",
         "schema": "tax"}))
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(SourceError) as caught:
            connector.extract(context(tmp_path, "tax", "penalty"))
    finally:
        simulator.stop()
    message = str(caught.value)
    assert "HTTP 401" in message and "dept_api_tax" in message
    assert "s3cret-wrong" not in message and "s3cret-wrong" not in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_token_never_reaches_the_log(sim, connector, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    connector.extract(context(tmp_path, "tax", "penalty"))
    assert "GET /tax/api/v1/penalty" in caplog.text  # urllib3 does log requests at DEBUG ...
    assert TOKEN not in caplog.text  # ... but never the Authorization header


def test_unreachable_api_is_a_source_error(monkeypatch, tmp_path):
    simulator_port = _closed_port()
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_API_TAX", json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": simulator_port, "password": "x", "schema": "tax"}))
    with ApiConnector(retries=1, backoff_factor=0.01) as api, pytest.raises(SourceError) as caught:
        api.extract(context(tmp_path, "tax", "penalty"))
    message = str(caught.value)
    assert message.startswith("department tax feed penalty: ") and CHINESE.search(message)
    assert f"cannot get page 1 from http://127.0.0.1:{simulator_port}" in message
    assert message.endswith("(Connection refused) after 1 retry.") and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_slow_api_times_out_after_retries(data_dir, monkeypatch, tmp_path):
    simulator = start_sim(data_dir, monkeypatch, Faults(latency_ms=600))
    url = simulator.url
    try:
        with ApiConnector(retries=1, backoff_factor=0.01, read_timeout=0.2) as api, \
                pytest.raises(SourceError) as caught:
            api.extract(context(tmp_path, "tax", "penalty"))
    finally:
        simulator.stop()
    message = str(caught.value)
    assert message.startswith("department tax feed penalty: ") and CHINESE.search(message)
    assert message.endswith(f"/ the API at {url} did not answer page 1 in time, even after 1 retry.")
    assert list(tmp_path.iterdir()) == []
