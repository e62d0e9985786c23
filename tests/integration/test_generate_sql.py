"""The generator's SQL front databases on a real MariaDB: one database per department, same rows as SQLite.

Needs MariaDB at 127.0.0.1:3306 (user root, empty password). Skipped when it is unreachable, except
under CI (environment variable CI set), where an unreachable server is a failure.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import uuid

import pytest

from etl.catalog import catalog
from simulators.generate import generate

pytestmark = pytest.mark.integration

HOST, PORT, USER = "127.0.0.1", 3306, "root"
AS_OF = dt.date(2024, 6, 28)
RECORDS, SEED, RATE = 600, 4242, 0.1


def connect(database: str | None = None):
    import pymysql

    return pymysql.connect(host=HOST, port=PORT, user=USER, password="", database=database, charset="utf8mb4",
                           connect_timeout=5)  # fmt: skip


@pytest.fixture()
def mariadb_prefix():
    """A unique database-name prefix; every database starting with it is dropped afterwards."""
    try:
        connect().close()
    except Exception as exc:  # pymysql raises OperationalError, but any failure to connect counts
        message = f"MariaDB at {HOST}:{PORT} is unreachable ({exc})"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must provide it")
        pytest.skip(message)
    prefix = f"gen_{uuid.uuid4().hex[:8]}"
    try:
        yield prefix
    finally:
        connection = connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SHOW DATABASES LIKE %s", (prefix + "%",))
                for (name,) in cursor.fetchall():
                    cursor.execute(f"DROP DATABASE `{name}`")
        finally:
            connection.close()


def test_sql_feeds_land_in_mariadb_with_the_same_rows_as_sqlite(mariadb_prefix, tmp_path):
    url = f"mysql+pymysql://{USER}@{HOST}:{PORT}/{mariadb_prefix}_{{department}}"
    summary = generate(tmp_path / "maria", RECORDS, SEED, RATE, AS_OF, sql_url=url)
    generate(tmp_path / "lite", RECORDS, SEED, RATE, AS_OF)
    manifest = json.loads((tmp_path / "maria" / "manifest.json").read_text(encoding="utf-8"))
    assert not (tmp_path / "maria" / "sql").exists()

    sql_feeds = [(d, f) for d, f in catalog().feeds() if f.transport == "sql"]
    assert sql_feeds
    chinese_values = 0
    for dept, feed in sql_feeds:
        entry = next(e for e in manifest["feeds"] if (e["department"], e["feed"]) == (dept.code, feed.code))
        database = f"{mariadb_prefix}_{dept.code}"
        assert entry["sources"] == [f"mysql+pymysql://root@127.0.0.1:3306/{database}?charset=utf8mb4#{feed.sql.table}"]
        assert summary.rows_by_feed[f"{dept.code}/{feed.code}"] == entry["rows"]

        connection = connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA "
                               "WHERE SCHEMA_NAME = %s", (database,))  # fmt: skip
                assert cursor.fetchone()[0] == "utf8mb4"
                cursor.execute(f"SELECT COUNT(*) FROM `{feed.sql.table}`")
                assert cursor.fetchone()[0] == entry["rows"]
                cursor.execute(f"SELECT * FROM `{feed.sql.table}` ORDER BY id")
                maria_columns = [d[0] for d in cursor.description]
                maria_rows = [tuple(r) for r in cursor.fetchall()]
        finally:
            connection.close()
        with sqlite3.connect(tmp_path / "lite" / "sql" / f"{dept.code}.sqlite") as lite:
            cursor = lite.execute(f'SELECT * FROM "{feed.sql.table}" ORDER BY id')
            lite_columns = [d[0] for d in cursor.description]
            lite_rows = cursor.fetchall()
        assert maria_columns == lite_columns
        assert maria_columns[:2] == ["id", "updated_at"] and all(c == c.lower() for c in maria_columns)
        assert maria_rows == lite_rows, f"{dept.code}.{feed.sql.table} differs from the SQLite twin"
        subject_names = maria_rows[0][2], maria_rows[-1][2]
        chinese_values += sum(any("\u4e00" <= ch <= "\u9fff" for ch in name or "") for name in subject_names)
        agency = [v for v in maria_rows[0] if v == dept.name_zh]
        assert agency, f"{dept.code}: the agency name {dept.name_zh} does not round-trip"
    assert chinese_values >= len(sql_feeds)


def test_rerun_recreates_the_tables(mariadb_prefix, tmp_path):
    url = f"mysql+pymysql://{USER}@{HOST}:{PORT}/{mariadb_prefix}_{{department}}"
    generate(tmp_path / "a", RECORDS, SEED, 0.0, AS_OF, sql_url=url)
    second = generate(tmp_path / "b", RECORDS * 2, SEED, 0.0, AS_OF, sql_url=url)
    dept, feed = next((d, f) for d, f in catalog().feeds() if f.transport == "sql")
    connection = connect(f"{mariadb_prefix}_{dept.code}")
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM `{feed.sql.table}`")
            assert cursor.fetchone()[0] == second.rows_by_feed[f"{dept.code}/{feed.code}"]
    finally:
        connection.close()
