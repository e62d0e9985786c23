"""Shared fixtures: real PostgreSQL servers and throw-away warehouse databases.

Two servers back the integration tests: an embedded PostgreSQL (always; started in a temporary
directory for the session) and the PostgreSQL 15 service on 127.0.0.1:5432 (when reachable;
with `CI` set, unreachable is a failure). Every test database has a unique name and is dropped.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from etl.catalog import catalog
from etl.migrate import migrate
from etl.reference import seed_reference_data
from etl.warehouse import EmbeddedServer

# Test files are written whole before anything ingests them, so they need not settle (module-scoped fixtures
# ingest too, before any per-test setting applies); the tests of settling set the period themselves.
os.environ["CREDITWH_FILE_SETTLE_SECONDS"] = "0"

PG15_URL = os.environ.get("TEST_PG15_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
IN_CI = bool(os.environ.get("CI"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _isolated_var_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands under test never touch the developer's own var/ or warehouse."""
    monkeypatch.setenv("CREDITWH_VAR_DIR", str(tmp_path_factory.mktemp("var")))
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)


@pytest.fixture(scope="session")
def embedded_server() -> Iterator[EmbeddedServer]:
    # Outside pytest's numbered temp dirs: a concurrent pytest session may rotate those away mid-run.
    home = Path(tempfile.mkdtemp(prefix="creditwh-test-pg-"))
    server = EmbeddedServer(pgdata=home / "pgdata", port=_free_port())
    server.start()
    yield server
    server.stop()
    shutil.rmtree(home, ignore_errors=True)


def _reachable(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            return None
    except sa.exc.OperationalError as exc:
        return str(exc.orig).strip().splitlines()[0]
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg15_admin_url() -> str:
    problem = _reachable(PG15_URL)
    if problem:
        message = f"PostgreSQL 15 service at {PG15_URL} unreachable: {problem}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return PG15_URL


SERVERS = ["embedded", "pg15"]


@pytest.fixture(scope="session")
def admin_url_for(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Admin URL (database `postgres`) of a server by name; starts or checks it on first use."""

    def admin_url(server: str) -> str:
        if server == "embedded":
            return request.getfixturevalue("embedded_server").url("postgres")
        return request.getfixturevalue("pg15_admin_url")

    return admin_url


class DatabaseFactory:
    """Creates uniquely named databases on a server and drops them all at teardown."""

    def __init__(self, admin_url: str) -> None:
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.created: list[tuple[str, Engine]] = []

    def create(self) -> Engine:
        name = f"cwtest_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine = sa.create_engine(make_url(str(self.admin.url.render_as_string(hide_password=False)))
                                  .set(database=name))
        self.created.append((name, engine))
        return engine

    def drop_all(self) -> None:
        for name, engine in self.created:
            engine.dispose()
            with self.admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(params=SERVERS)
def empty_database(request: pytest.FixtureRequest, admin_url_for) -> Iterator[Engine]:
    """A brand-new empty database on each server, dropped after the test."""
    factory = DatabaseFactory(admin_url_for(request.param))
    try:
        yield factory.create()
    finally:
        factory.drop_all()


@pytest.fixture(scope="session", params=SERVERS)
def warehouse(request: pytest.FixtureRequest, admin_url_for) -> Iterator[Engine]:
    """A migrated and seeded warehouse on each server, shared by read-only tests of the session."""
    factory = DatabaseFactory(admin_url_for(request.param))
    try:
        engine = factory.create()
        migrate(engine)
        seed_reference_data(engine, catalog())
        yield engine
    finally:
        factory.drop_all()
