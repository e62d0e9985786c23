"""The shared DAG helpers: the failure notifier never raises, and posts only when its webhook is configured;
a feed's schedule decides whether a scheduled run takes it."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.unit


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "auth": self.headers.get("Authorization"),
                             "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], received
    server.shutdown()
    server.server_close()


def _context():
    ti = SimpleNamespace(dag_id="ingest_tax", task_id="api_feed.extract_feed", map_index=0, run_id="manual__1",
                         try_number=3)
    return {"ti": ti, "exception": RuntimeError("tax/penalty: HTTP 503 after 5 attempts")}


def test_failure_is_posted_to_the_alert_webhook(webhook, monkeypatch):
    import _common

    port, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_CREDITWH_ALERTS", f"http://:hook-token@127.0.0.1:{port}/hooks/credit")
    _common.notify_failure(_context())
    [post] = received
    assert post["path"] == "/hooks/credit" and post["auth"] == "Bearer hook-token"
    text = post["body"]["text"]
    assert "ingest_tax.api_feed.extract_feed[0]" in text and "try 3" in text and "HTTP 503" in text


def test_wecom_format_from_the_connection_extra(webhook, monkeypatch):
    import _common

    port, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_CREDITWH_ALERTS", json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": port, "extra": {"endpoint": "cgi-bin/webhook/send",
                                                                           "format": "wecom"}}))
    _common.notify_failure(_context())
    [post] = received
    assert post["path"] == "/cgi-bin/webhook/send"
    assert post["body"]["msgtype"] == "text" and "ingest_tax" in post["body"]["text"]["content"]


def test_without_a_connection_the_failure_is_only_logged(monkeypatch, caplog):
    import _common

    monkeypatch.delenv("AIRFLOW_CONN_CREDITWH_ALERTS", raising=False)
    with caplog.at_level("INFO", logger="creditwh.alerts"):
        _common.notify_failure(_context())
    assert "ingest_tax.api_feed.extract_feed[0]" in caplog.text


def test_missed_deadline_is_posted_like_a_failure(webhook, monkeypatch):
    import _common

    port, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_CREDITWH_ALERTS", f"http://127.0.0.1:{port}/hooks/credit")
    # What the scheduler passes a DeadlineAlert callback: the run as the REST API shows it, and the deadline.
    _common.notify_deadline_missed(context={"dag_run": {"dag_id": "publish_publicity", "dag_run_id": "scheduled__x"},
                                            "deadline": {"id": "1", "deadline_time": "2026-03-02T22:00:00Z"}})
    _common.notify_deadline_missed()  # nothing to say but that it was missed: still no exception
    assert "publish_publicity" in received[0]["body"]["text"] and "2026-03-02T22:00:00Z" in received[0]["body"]["text"]
    assert len(received) == 2


@pytest.mark.parametrize("context", [{}, {"ti": object()}, None])
def test_the_notifier_never_raises(context, monkeypatch):
    import _common

    # Nothing listens on port 9 (discard): the post fails, the notifier swallows it.
    monkeypatch.setenv("AIRFLOW_CONN_CREDITWH_ALERTS", "http://127.0.0.1:9/alerts")
    _common.notify_failure(context)
    _common.notify_failure(_context())


def test_feed_due_at_its_own_cron_minute_in_china():
    from etl import jobs

    china = dt.timezone(dt.timedelta(hours=8))
    # market_regulation/penalty: "0 */4 * * *"; registration: "0 1 * * *" (Asia/Shanghai).
    assert jobs.feed_is_due("market_regulation", "penalty", dt.datetime(2026, 3, 1, 4, 0, tzinfo=china))
    assert jobs.feed_is_due("market_regulation", "registration", dt.datetime(2026, 2, 28, 17, 0, tzinfo=dt.UTC))
    assert not jobs.feed_is_due("market_regulation", "registration", dt.datetime(2026, 3, 1, 1, 0, tzinfo=dt.UTC))
    assert not jobs.feed_is_due("market_regulation", "penalty", dt.datetime(2026, 3, 1, 5, 0, tzinfo=china))
