"""`ingest --all --workers N` forks its workers from a fork server, which keeps the environment it started with."""

import os
import signal
import subprocess
import sys
import time

from etl.ingest import _in_caller_environment, worker_pool

MARK = "CREDITWH_TEST_WORKER_MARK"


def test_workers_take_the_callers_environment_not_the_fork_servers(monkeypatch):
    monkeypatch.setenv("CREDITWH_GX", "off")  # nothing heavy to preload
    monkeypatch.setenv(MARK, "when the server started")
    with worker_pool(1) as pool:
        pool.submit(os.getpid).result()  # the fork server is running now
    monkeypatch.setenv(MARK, "now")
    with worker_pool(1) as pool:
        # A plain task sees the server's environment: the hazard is real...
        assert pool.submit(os.getenv, MARK).result() != "now"
        # ...and the pipeline's tasks run with the caller's.
        assert pool.submit(_in_caller_environment, dict(os.environ), os.getenv, MARK).result() == "now"
        monkeypatch.delenv(MARK)
        assert pool.submit(_in_caller_environment, dict(os.environ), os.getenv, MARK).result() is None


def test_workers_and_their_fork_server_exit_when_the_coordinator_is_killed(tmp_path):
    # Killed (by an operator, the OOM killer), the command must not leave workers waiting for tasks forever:
    # they would keep the caller's output pipes open, and a scheduler reading them would wait with them.
    script = (
        "import os, signal\n"
        "from etl.ingest import worker_pool\n"
        "if __name__ == '__main__':\n"
        "    with worker_pool(1) as pool:\n"
        "        print(pool.submit(os.getpid).result(), pool.submit(os.getppid).result(), flush=True)\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    output = tmp_path / "pids.txt"
    with output.open("w") as out:
        killed = subprocess.run([sys.executable, "-c", script], stdout=out, stderr=subprocess.DEVNULL, timeout=120,
                                env={**os.environ, "CREDITWH_GX": "off"})
    assert killed.returncode == -signal.SIGKILL
    worker, fork_server = (int(pid) for pid in output.read_text().split())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (_alive(worker) or _alive(fork_server)):
        time.sleep(0.1)
    assert not _alive(worker) and not _alive(fork_server)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has exited; only its parent has yet to reap it
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
