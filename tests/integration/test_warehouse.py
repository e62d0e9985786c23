"""The warehouse factory: the embedded server's life cycle, external URLs, and clear failures."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl import config
from etl.errors import UserError
from etl.migrate import migrate
from etl.warehouse import EmbeddedServer, get_engine, normalise_url, redact
from tests.conftest import _free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_home():
    # Not pytest's tmp_path: the embedded server's system user must traverse it, and a concurrent
    # pytest session may rotate numbered temp dirs away.
    home = Path(tempfile.mkdtemp(prefix="creditwh-test-home-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def server(pg_home):
    server = EmbeddedServer(pgdata=pg_home / "pgdata", port=_free_port())
    yield server
    server.stop()


def _pid(server: EmbeddedServer) -> int:
    return int((server.pgdata / "postmaster.pid").read_text().splitlines()[0])


def test_embedded_server_starts_on_demand_is_reused_and_stops_cleanly(server):
    assert server.running_port() is None
    server.start()
    first_pid = _pid(server)
    server.start()  # a later command finds it running and reuses it
    assert _pid(server) == first_pid and server.running_port() == server.port
    engine = get_engine(server.url())
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE kept (v text)"))
        conn.execute(sa.text("INSERT INTO kept VALUES ('数据保留')"))
    engine.dispose()
    assert server.stop() is True
    assert server.running_port() is None
    assert "database system is shut down" in server.log_file.read_text()
    assert server.stop() is False
    server.start()  # data survives a restart
    engine = get_engine(server.url())
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT v FROM kept")) == "数据保留"
    engine.dispose()


def test_port_taken_by_another_server_is_a_clear_error(server):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", server.port))
        blocker.listen()
        with pytest.raises(UserError, match=rf"Port {server.port} on 127.0.0.1 is already in use.*"
                                            r"CREDITWH_EMBEDDED_PORT"):
            server.start()
    assert server.running_port() is None


def test_two_embedded_servers_on_one_port_conflict_clearly(server, pg_home):
    server.start()
    other = EmbeddedServer(pgdata=pg_home / "other", port=server.port)
    with pytest.raises(UserError, match="already in use"):
        other.start()


def test_unreachable_warehouse_url_is_one_clear_sentence_without_the_password():
    url = "postgresql://etl:s3cret-pw@127.0.0.1:1/creditwh"
    with pytest.raises(UserError) as caught:
        get_engine(url)
    message = str(caught.value)
    assert "Cannot reach the warehouse at postgresql+psycopg2://etl:***@127.0.0.1:1/creditwh" in message
    assert re.search(r"[\u4e00-\u9fff]", message)
    assert "s3cret-pw" not in message and "unset WAREHOUSE_URL" in message


def test_warehouse_url_env_points_the_same_code_at_a_server(monkeypatch, pg15_admin_url):
    bare = pg15_admin_url.replace("postgresql+psycopg2://", "postgres://")
    monkeypatch.setenv("WAREHOUSE_URL", bare)
    engine = get_engine()
    assert engine.url.drivername == "postgresql+psycopg2"
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SHOW server_version_num")).startswith("15")
    assert not (config.settings().var_dir / "pgdata").exists(), "an external warehouse must not start the embedded one"


def test_url_helpers():
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalise_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert redact("postgresql+psycopg2://u:pw@h/db") == "postgresql+psycopg2://u:***@h/db"


@pytest.fixture
def interpreter_reachable_by_others():
    """Let other users traverse to this Python (e.g. a pyenv under /root); restored afterwards."""
    changed = []
    path = Path(os.path.realpath(sys.executable)).parent
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)
            changed.append((directory, mode))
    yield
    for directory, mode in changed:
        directory.chmod(mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="already running as an ordinary user: the other tests cover it")
def test_embedded_server_works_for_an_ordinary_user(interpreter_reachable_by_others):
    user = pwd.getpwnam("nobody")
    # Not under pytest's tmp dir: that one is private to root.
    home = Path(tempfile.mkdtemp(prefix="creditwh-ordinary-"))
    home.chmod(0o755)
    try:
        _run_as(user, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _run_as(user: pwd.struct_passwd, home: Path) -> None:
    os.chown(home, user.pw_uid, user.pw_gid)
    shutil.copytree(config.PROJECT_ROOT / "etl", home / "etl", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [home, *home.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    script = (
        "from etl.warehouse import EmbeddedServer, get_engine\n"
        "import sqlalchemy as sa, pathlib, sys\n"
        f"s = EmbeddedServer(pathlib.Path('{home}') / 'pgdata', {_free_port()})\n"
        "s.start()\n"
        "e = get_engine(s.url())\n"
        "with e.connect() as c: print(c.scalar(sa.text('SELECT current_user')))\n"
        "e.dispose(); print(s.stop())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=home, user=user.pw_uid, group=user.pw_gid,
                            capture_output=True, text=True, timeout=120,
                            env={"PATH": os.environ["PATH"], "HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["postgres", "True"]
    assert (home / "pgdata").stat().st_uid == user.pw_uid


def test_a_warehouse_never_initialised_asks_for_creditwh_init(empty_database, tmp_path):
    """Commands on an empty database say that `creditwh init` is needed, once, instead of an unexpected error on
    the first missing table; after init the same command works."""
    env = {**os.environ, "WAREHOUSE_URL": empty_database.url.render_as_string(hide_password=False),
           "CREDITWH_VAR_DIR": str(tmp_path)}

    def creditwh(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "etl", *args], capture_output=True, text=True, env=env,
                              timeout=120, check=False)

    report = ["report", "91110000100000000X", "--purpose", "核查", "--out", str(tmp_path / "r.pdf")]
    for command in (["status"], ["ingest", "tax"], ["expire"], report):
        result = creditwh(*command)
        assert result.returncode == 2, (command, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert "run `creditwh init`" in line and "请运行 `creditwh init`" in line.replace("请先运行", "请运行"), line
        assert "unexpected" not in line and "Traceback" not in result.stderr
    migrate(empty_database)
    result = creditwh("status")
    assert result.returncode == 0, result.stderr


def test_a_warehouse_behind_the_code_names_the_missing_staging_column(empty_database, monkeypatch):
    """After an upgrade that adds a staging column (as the quarantine flag did), a warehouse `creditwh init` has not
    yet been run for fails with the line naming the column and the fix, not with an unexpected error."""
    from etl.catalog import catalog
    from etl.cli import _warehouse_behind
    from etl.reference import prepare_warehouse
    from etl.stage.tables import missing_staging_columns

    monkeypatch.setenv("WAREHOUSE_URL", empty_database.url.render_as_string(hide_password=False))
    prepare_warehouse(empty_database, catalog())
    with empty_database.begin() as conn:
        assert missing_staging_columns(conn, catalog()) == []
        conn.execute(sa.text("ALTER TABLE staging.penalty_clean DROP COLUMN quarantined"))
    with pytest.raises(sa.exc.DBAPIError) as failure, empty_database.connect() as conn:
        conn.execute(sa.text("SELECT count(*) FROM staging.penalty_clean n WHERE NOT n.quarantined"))
    line = _warehouse_behind(failure.value)
    assert line is not None and "staging.penalty_clean.quarantined" in line and "run `creditwh init` first" in line
    prepare_warehouse(empty_database, catalog())
    with empty_database.connect() as conn:
        assert missing_staging_columns(conn, catalog()) == []
    assert _warehouse_behind(failure.value) is None  # up to date: the failure was something else
