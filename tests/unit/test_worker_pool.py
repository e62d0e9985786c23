"""`ingest --all --workers N` runs feeds in worker processes, which run with the caller's settings object."""

import os
import signal
import subprocess
import sys
import time

from etl import config
from etl.ingest import worker_pool


def _settings_in_worker() -> tuple[float, dict[str, str]]:
    chosen = config.settings()
    return chosen.file_settle_seconds, dict(chosen.connections)


def test_workers_run_with_the_callers_settings_not_the_environments(monkeypatch):
    monkeypatch.setenv("CREDITWH_GX", "off")
    monkeypatch.setenv("CREDITWH_FILE_SETTLE_SECONDS", "7")
    # A command that adds connections of its own (sim ingest) puts new settings in use; the
    # environment, which the workers also see, is never written.
    chosen = config.settings().with_connections({"AIRFLOW_CONN_DEPT_API_X": "http://h:1"})
    with config.using(chosen), worker_pool(1) as pool:
        assert pool.submit(_settings_in_worker).result() == (7.0, {**chosen.connections})
        assert pool.submit(os.getenv, "AIRFLOW_CONN_DEPT_API_X").result() is None
    assert "AIRFLOW_CONN_DEPT_API_X" not in os.environ
    assert config.settings() != chosen


def test_workers_exit_when_the_coordinator_is_killed(tmp_path):
    # Killed (by an operator, the OOM killer), the command must not leave workers waiting for tasks forever:
    # they would keep the caller's output pipes open, and a scheduler reading them would wait with them.
    script = (
        "import os, signal\n"
        "from etl.ingest import worker_pool\n"
        "if __name__ == '__main__':\n"
        "    with worker_pool(1) as pool:\n"
        "        print(pool.submit(os.getpid).result(), flush=True)\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    output = tmp_path / "pids.txt"
    with output.open("w") as out:
        killed = subprocess.run([sys.executable, "-c", script], stdout=out, stderr=subprocess.DEVNULL, timeout=120,
                                env={**os.environ, "CREDITWH_GX": "off"})
    assert killed.returncode == -signal.SIGKILL
    worker = int(output.read_text().split()[0])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _alive(worker):
        time.sleep(0.1)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has exited; only its parent has yet to reap it
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
