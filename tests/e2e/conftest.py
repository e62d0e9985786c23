"""What the end-to-end tests share: running the real command, and a fresh warehouse database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from etl import config
from tests.conftest import DatabaseFactory


def creditwh(*args: str, env: dict[str, str] | None = None, timeout: int = 300,
             preexec_fn=None) -> subprocess.CompletedProcess:
    """Run `python -m etl ARGS`; WAREHOUSE_URL only when the test gives one."""
    full_env = {k: v for k, v in os.environ.items() if k != "WAREHOUSE_URL"} | (env or {})
    return subprocess.run([sys.executable, "-m", "etl", *args], capture_output=True, text=True,
                          cwd=config.PROJECT_ROOT, env=full_env, timeout=timeout, preexec_fn=preexec_fn)


@pytest.fixture
def fresh_pg15_url(pg15_admin_url):
    factory = DatabaseFactory(pg15_admin_url)
    try:
        yield factory.create().url.render_as_string(hide_password=False)
    finally:
        factory.drop_all()
