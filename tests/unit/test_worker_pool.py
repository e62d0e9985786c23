"""`ingest --all --workers N` forks its workers from a fork server, which keeps the environment it started with."""

import os

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
