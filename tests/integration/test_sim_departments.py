"""The department simulator as a client sees it: a real HTTP server on loopback over generated data."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from etl import config
from etl.connections import get_connection
from etl.errors import UserError
from simulators import DepartmentSimulator, Faults
from simulators.departments import decode_cursor, encode_cursor
from simulators.generate import generate

pytestmark = pytest.mark.integration

TOKEN = "sim-test-token-5d1e"
AS_OF = dt.date(2024, 6, 28)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("departments")
    generate(out, records=2000, seed=11, defect_rate=0.0, as_of=AS_OF)
    return out


@pytest.fixture
def sim(data_dir: Path):
    with DepartmentSimulator(data_dir, token=TOKEN) as simulator:
        yield simulator


def page_records(data_dir: Path, department: str, feed: str) -> list[dict]:
    records = []
    for page in sorted((data_dir / "api" / department / feed).glob("page-*.json")):
        records.extend(json.loads(page.read_text(encoding="utf-8"))["data"])
    return records


def get(sim: DepartmentSimulator, path: str, token: str | None = TOKEN, **params) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(sim.url + path, params=params, headers=headers, timeout=10)


def test_token_is_required_and_checked(sim):
    missing = get(sim, "/tax/api/v1/penalty", token=None)
    wrong = get(sim, "/tax/api/v1/penalty", token="not-the-token")
    right = get(sim, "/tax/api/v1/penalty")
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.json() == {"error": "missing or invalid bearer token"}
    assert missing.headers["Content-Type"].startswith("application/json")
    assert right.status_code == 200 and right.json()["data"]


def test_cursor_paging_serves_every_record_once_in_id_order(sim, data_dir):
    expected = page_records(data_dir, "court", "dishonest_debtor")
    assert len(expected) > 20
    served, cursor, pages = [], None, 0
    while True:
        params = {"page_size": 7} | ({"cursor": cursor} if cursor else {})
        body = get(sim, "/court/api/v1/dishonest-debtor", **params).json()
        served.extend(body["data"])
        cursor, pages = body["next_cursor"], pages + 1
        if not body["has_more"]:
            break
    assert served == expected  # same records, same key order, exactly once, in id order
    assert [list(r) for r in served] == [list(r) for r in expected]
    assert pages == -(-len(expected) // 7)
    assert decode_cursor(cursor) == expected[-1]["id"]
    # from the last cursor there is nothing new, and the cursor stays put
    again = get(sim, "/court/api/v1/dishonest-debtor", cursor=cursor).json()
    assert again == {"data": [], "next_cursor": cursor, "has_more": False}


def test_updated_since_paging_filters_and_orders_by_updated_at_then_id(sim, data_dir):
    expected = page_records(data_dir, "tax", "penalty")
    since = expected[len(expected) // 3]["updated_at"]
    wanted = sorted((r for r in expected if r["updated_at"] > since), key=lambda r: (r["updated_at"], r["id"]))
    assert wanted and len(wanted) < len(expected)
    served, page = [], 1
    while True:
        body = get(sim, "/tax/api/v1/penalty", updated_since=since, page=page, page_size=4).json()
        assert body["page"] == page and body["total_pages"] == -(-len(wanted) // 4)
        served.extend(body["data"])
        if not body["has_more"]:
            break
        page += 1
    assert served == wanted
    # the same moment written with an offset, and with the "+" left unencoded (it arrives as a space)
    moment = dt.datetime.fromisoformat(since).astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()
    with_offset = get(sim, "/tax/api/v1/penalty", updated_since=moment, page_size=5000).json()["data"]
    raw_plus = requests.get(f"{sim.url}/tax/api/v1/penalty?page_size=5000&updated_since={moment}",
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()["data"]
    assert with_offset == raw_plus == wanted
    everything = get(sim, "/tax/api/v1/penalty", page_size=5000).json()
    assert everything["data"] == expected and everything["has_more"] is False


def test_appended_records_follow_the_last_cursor(sim, data_dir):
    existing = page_records(data_dir, "court", "dishonest_debtor")
    last = get(sim, "/court/api/v1/dishonest-debtor", page_size=5000).json()["next_cursor"]
    added = sim.append_records("court", "dishonest_debtor",
                               [{"ZX_XDR_MC": f"新增{i}", "updated_at": "2024-06-29T01:00:00Z"} for i in range(3)])
    assert [r["id"] for r in added] == [len(existing) + 1, len(existing) + 2, len(existing) + 3]
    body = get(sim, "/court/api/v1/dishonest-debtor", cursor=last).json()
    assert body["data"] == added and body["has_more"] is False
    assert sim.record_count("court", "dishonest_debtor") == len(existing) + 3
    with pytest.raises(ValueError, match="already has a record with id 1"):
        sim.append_records("court", "dishonest_debtor", [{"id": 1}])


def test_bad_requests_are_json_errors(sim):
    assert get(sim, "/tax/api/v1/nothing-here").status_code == 404
    bad_cursor = get(sim, "/court/api/v1/dishonest-debtor", cursor="bm9wZQ")
    assert bad_cursor.status_code == 400 and "cursor" in bad_cursor.json()["error"]
    assert get(sim, "/tax/api/v1/penalty", updated_since="yesterday").status_code == 400
    assert get(sim, "/tax/api/v1/penalty", page_size="0").status_code == 400
    assert decode_cursor(encode_cursor(12345)) == 12345


def _statuses(data_dir: Path, faults: Faults, n: int) -> list[str]:
    outcomes = []
    with DepartmentSimulator(data_dir, token=TOKEN, faults=faults) as simulator:
        for _ in range(n):
            try:
                response = get(simulator, "/tax/api/v1/penalty", page_size=2)
            except requests.ConnectionError:
                outcomes.append("reset")
                continue
            kind = response.headers.get("Content-Type", "").split(";")[0]
            try:
                response.json()
                parsed = "json"
            except ValueError:
                parsed = "unparsable"
            outcomes.append(f"{response.status_code} {kind} {parsed}")
    return outcomes


def test_faults_are_realistic_and_repeat_under_a_seed(data_dir):
    faults = Faults(error_rate=0.2, html_error_rate=0.15, malformed_json_rate=0.15, reset_rate=0.15,
                    rate_limit_every=5, seed=42)
    first = _statuses(data_dir, faults, 60)
    assert first == _statuses(data_dir, faults, 60)
    assert first != _statuses(data_dir, Faults(**{**faults.__dict__, "seed": 43}), 60)
    assert all(first[i] == "429 application/json json" for i in range(4, 60, 5))
    kinds = set(first)
    assert "200 application/json json" in kinds
    assert "200 text/html unparsable" in kinds
    assert "200 application/json unparsable" in kinds
    assert "reset" in kinds
    assert kinds & {"500 application/json json", "502 application/json json", "503 application/json json"}


def test_rate_limit_answer_carries_retry_after(data_dir):
    with DepartmentSimulator(data_dir, token=TOKEN, faults=Faults(rate_limit_every=2)) as simulator:
        assert get(simulator, "/tax/api/v1/penalty").status_code == 200
        limited = get(simulator, "/tax/api/v1/penalty")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
        assert simulator.stats["rate_limited"] == 1


def test_latency_and_outage(data_dir):
    with DepartmentSimulator(data_dir, token=TOKEN, faults=Faults(latency_ms=150, outage_after=2)) as simulator:
        started = time.monotonic()
        assert get(simulator, "/tax/api/v1/penalty").status_code == 200
        assert time.monotonic() - started >= 0.14
        assert get(simulator, "/tax/api/v1/penalty").status_code == 200
        assert get(simulator, "/tax/api/v1/penalty").status_code == 503


def test_fault_rates_are_checked():
    with pytest.raises(UserError, match="add up to more than 1"):
        Faults(error_rate=0.6, html_error_rate=0.6)
    with pytest.raises(UserError, match="between 0 and 1"):
        Faults(reset_rate=-0.1)


def test_connection_env_points_the_connectors_at_the_simulator(sim, data_dir, monkeypatch):
    env = sim.connection_env("tax")
    assert set(env) == {"AIRFLOW_CONN_DEPT_API_TAX"}
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_API_TAX", env["AIRFLOW_CONN_DEPT_API_TAX"])
    conn = get_connection("dept_api_tax")
    assert conn.password == TOKEN and conn.schema == "tax" and conn.base_url() == sim.url
    housing = sim.connection_env("housing")
    assert set(housing) == {"AIRFLOW_CONN_DEPT_SQL_HOUSING"}
    entry = json.loads(housing["AIRFLOW_CONN_DEPT_SQL_HOUSING"])
    assert entry == {"conn_type": "sqlite", "host": str(data_dir.resolve() / "sql" / "housing.sqlite")}
    assert Path(entry["host"]).is_file()
    everything = sim.connection_env()
    assert "AIRFLOW_CONN_DEPT_API_COURT" in everything and "AIRFLOW_CONN_DEPT_SQL_MARKET_REGULATION" in everything
    assert sim.file_drop_dir == data_dir.resolve() / "files"
    assert (sim.file_drop_dir / "tax").is_dir()
    with pytest.raises(UserError, match="Unknown department"):
        sim.connection_env("atlantis")


def test_stop_closes_the_port_even_with_idle_keep_alive_connections(data_dir):
    simulator = DepartmentSimulator(data_dir, token=TOKEN).start()
    url = simulator.url
    with requests.Session() as session:  # keeps its connection open after the answer
        assert session.get(url + "/tax/api/v1/penalty", headers={"Authorization": f"Bearer {TOKEN}"},
                           timeout=5).status_code == 200
        started = time.monotonic()
        simulator.stop()
        assert time.monotonic() - started < 3
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/health", timeout=2)


def _start_cli(data_dir: Path, *args: str) -> subprocess.Popen:
    code = "from simulators.cli import sim; sim(prog_name='sim')"
    return subprocess.Popen([sys.executable, "-c", code, "departments", "--data", str(data_dir), "--port", "0",
                             *args], cwd=config.PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=os.environ.copy())


def _read_until(stream, marker: str, deadline: float) -> list[str]:
    lines = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"no line with {marker!r} in {lines}")


def test_cli_serves_masks_the_token_and_stops_on_sigterm(data_dir):
    process = _start_cli(data_dir, "--token", TOKEN, "--error-rate", "0", "--seed", "3")
    try:
        lines = _read_until(process.stdout, "Ctrl-C to stop", time.monotonic() + 30)
        url = next(line for line in lines if line.startswith("department simulator on ")).split()[3]
        assert requests.get(url + "/tax/api/v1/penalty", headers={"Authorization": f"Bearer {TOKEN}"},
                            timeout=5).status_code == 200
        text = "\n".join(lines)
        assert "export AIRFLOW_CONN_DEPT_API_TAX=" in text and '"password": "****"' in text
        assert TOKEN not in text
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err and TOKEN not in out + err


def test_cli_print_env_reveals_the_token_for_eval(data_dir):
    process = _start_cli(data_dir, "--token", TOKEN, "--print-env")
    try:
        line = _read_until(process.stdout, "AIRFLOW_CONN_DEPT_API_TAX", time.monotonic() + 30)[-1]
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert TOKEN in line and line.startswith("export AIRFLOW_CONN_DEPT_API_TAX='{")
    assert process.returncode == 0
