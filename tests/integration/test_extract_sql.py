"""The SQL connector on real front databases: the generator's SQLite files and MariaDB at 127.0.0.1:3306."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl.catalog import catalog
from etl.extract.base import FeedContext
from etl.extract.errors import SourceError
from etl.extract.sql import SqlConnector
from simulators.generate import generate

pytestmark = pytest.mark.integration

CHINESE = re.compile(r"[\u4e00-\u9fff]")

AS_OF = dt.date(2024, 6, 28)
MARIADB_URL = os.environ.get("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/?charset=utf8mb4")
IN_CI = bool(os.environ.get("CI"))
COLUMNS = ["id", "updated_at", "xk_xdr_mc", "xk_wsh"]


def context(work_dir: Path, department: str = "housing", feed: str = "license", watermark: str | None = None,
            table: str | None = None) -> FeedContext:
    dept = catalog().department_by_code[department]
    chosen = next(f for f in dept.feeds if f.code == feed)
    if table is not None:
        chosen = chosen.model_copy(update={"sql": chosen.sql.model_copy(update={"table": table})})
    return FeedContext(department=dept, feed=chosen, watermark=watermark, work_dir=work_dir)


def read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def use_sqlite(monkeypatch: pytest.MonkeyPatch, path: Path, conn_id: str = "dept_sql_housing") -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "sqlite", "host": str(path)}))


# -- SQLite ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("departments")
    generate(out, records=2000, seed=9, defect_rate=0.0, as_of=AS_OF)
    return out


def test_generated_front_database_is_pulled_whole_then_nothing_new(generated, monkeypatch, tmp_path):
    path = generated / "sql" / "market_regulation.sqlite"
    use_sqlite(monkeypatch, path, "dept_sql_market_regulation")
    with sqlite3.connect(path) as db:
        cursor = db.execute("SELECT * FROM t_registration ORDER BY updated_at, id")
        expected = [[d[0] for d in cursor.description]] + [["" if v is None else str(v) for v in row]
                                                            for row in cursor]
    progress: list[int] = []
    connector = SqlConnector(yield_per=50, progress=progress.append)
    [source] = connector.extract(context(tmp_path, "market_regulation", "registration"))
    assert read_csv(source.path) == expected
    assert expected[0][:2] == ["id", "updated_at"] and all(c == c.lower() for c in expected[0])
    assert source.format == "csv" and source.encoding == "utf-8" and source.watermark_kind == "updated_at"
    assert source.rows_hint == len(expected) - 1 and source.path.parent == tmp_path
    assert source.watermark_to == f"{expected[-1][1]}|{expected[-1][0]}"
    assert progress == list(range(50, len(expected) - 1, 50)) + [len(expected) - 1]  # streamed in chunks
    assert connector.extract(context(tmp_path / "again", "market_regulation", "registration",
                                     source.watermark_to)) == []
    assert not (tmp_path / "again").exists() or not list((tmp_path / "again").iterdir())


@pytest.fixture
def tie_db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "front.sqlite"
    with sqlite3.connect(path) as db:
        db.execute('CREATE TABLE "t_license" (id INTEGER PRIMARY KEY, updated_at TEXT, xk_xdr_mc TEXT, xk_wsh TEXT)')
        db.executemany("INSERT INTO t_license VALUES (?, ?, ?, ?)", [
            (1, "2024-06-01T08:00:00Z", "甲公司", "示住建许〔2024〕1号"),
            (2, "2024-06-02T08:00:00Z", "乙公司", "示住建许〔2024〕2号"),
            (3, "2024-06-02T08:00:00Z", "丙公司", "示住建许〔2024〕3号"),
            (4, "2024-06-02T08:00:00Z", "丁公司", None),
            (5, "2024-06-03T08:00:00Z", "戊公司, \"引号\"\n换行", "示住建许〔2024〕5号"),
            (6, "2024-06-03T08:00:00Z", "己公司", "示住建许〔2024〕6号"),
        ])
    use_sqlite(monkeypatch, path)
    return path


def test_watermark_ties_on_updated_at_are_neither_lost_nor_repeated(tie_db, tmp_path):
    connector = SqlConnector(yield_per=2)
    [source] = connector.extract(context(tmp_path / "1", watermark="2024-06-02T08:00:00Z|2"))
    rows = read_csv(source.path)
    assert rows[0] == COLUMNS
    assert [r[0] for r in rows[1:]] == ["3", "4", "5", "6"]
    assert rows[2][3] == "" and rows[3][2] == "戊公司, \"引号\"\n换行"
    assert source.watermark_to == "2024-06-03T08:00:00Z|6"
    assert source.source_name == "sql t_license updated_at 2024-06-02T08:00:00Z→2024-06-03T08:00:00Z (4 rows)"
    with sqlite3.connect(tie_db) as db:  # a late row with the same updated_at as the watermark, and a newer one
        db.executemany("INSERT INTO t_license VALUES (?, ?, ?, ?)", [
            (7, "2024-06-03T08:00:00Z", "庚公司", "7号"), (8, "2024-06-04T08:00:00Z", "辛公司", "8号")])
    [second] = connector.extract(context(tmp_path / "2", watermark=source.watermark_to))
    assert [r[0] for r in read_csv(second.path)[1:]] == ["7", "8"]
    assert second.watermark_to == "2024-06-04T08:00:00Z|8"
    assert connector.extract(context(tmp_path / "3", watermark=second.watermark_to)) == []


def test_rows_without_updated_at_come_on_the_first_pull_and_never_hold_the_watermark(tie_db, tmp_path):
    with sqlite3.connect(tie_db) as db:
        db.execute("INSERT INTO t_license VALUES (9, NULL, '无时间公司', NULL)")
    [source] = SqlConnector(yield_per=4).extract(context(tmp_path))
    assert [r[0] for r in read_csv(source.path)[1:]] == ["9", "1", "2", "3", "4", "5", "6"]
    assert source.watermark_to == "2024-06-03T08:00:00Z|6"


def test_missing_file_table_or_column_is_a_source_error_without_a_file(tie_db, monkeypatch, tmp_path):
    connector = SqlConnector()
    with pytest.raises(SourceError, match="has no table t_nothing"):
        connector.extract(context(tmp_path, table="t_nothing"))
    with pytest.raises(SourceError, match="not '<updated_at>|<key>'"):
        connector.extract(context(tmp_path, watermark="2024-06-01"))
    missing = tmp_path / "gone" / "front.sqlite"
    use_sqlite(monkeypatch, missing)
    with pytest.raises(SourceError, match="does not exist"):
        connector.extract(context(tmp_path))
    assert not missing.exists()  # read-only: never creates an empty database
    assert not list(tmp_path.glob("sql_*"))


# -- MariaDB --------------------------------------------------------------------------------------------


class MariaDb:
    def __init__(self, admin: sa.Engine, name: str) -> None:
        self.admin = admin
        self.name = name
        self.engine = sa.create_engine(admin.url.set(database=name))

    def env(self, **overrides) -> str:
        url = self.admin.url
        entry = {"conn_type": "mysql", "host": url.host, "port": url.port or 3306, "login": url.username,
                 "password": url.password, "schema": self.name} | overrides
        return json.dumps(entry)


@pytest.fixture
def mariadb(monkeypatch) -> Iterator[MariaDb]:
    admin = sa.create_engine(MARIADB_URL, connect_args={"connect_timeout": 3}, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"MariaDB at {admin.url.render_as_string()} unreachable: {str(exc.orig).splitlines()[0]}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    name = f"cwtest_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    db = MariaDb(admin, name)
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_SQL_HOUSING", db.env())
    try:
        yield db
    finally:
        db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


def test_mariadb_text_timestamps_utf8mb4_and_ties(mariadb, tmp_path):
    with mariadb.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t_license (id INT PRIMARY KEY, updated_at VARCHAR(32), "
                             "xk_xdr_mc TEXT, xk_wsh TEXT)"))
        conn.execute(sa.text("INSERT INTO t_license VALUES (:id, :u, :m, :w)"), [
            {"id": 1, "u": "2024-06-01T08:00:00Z", "m": "𠀾记餐饮（个体）😀", "w": "示住建许〔2024〕1号"},
            {"id": 2, "u": "2024-06-02T08:00:00Z", "m": "乙公司", "w": None},
            {"id": 3, "u": "2024-06-02T08:00:00Z", "m": "丙公司", "w": "3号"},
        ])
    connector = SqlConnector(yield_per=2)
    [first] = connector.extract(context(tmp_path / "1"))
    assert read_csv(first.path) == [COLUMNS,
                                    ["1", "2024-06-01T08:00:00Z", "𠀾记餐饮（个体）😀", "示住建许〔2024〕1号"],
                                    ["2", "2024-06-02T08:00:00Z", "乙公司", ""],
                                    ["3", "2024-06-02T08:00:00Z", "丙公司", "3号"]]
    assert first.watermark_to == "2024-06-02T08:00:00Z|3"
    with mariadb.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO t_license VALUES (4, '2024-06-02T08:00:00Z', '丁公司', '4号')"))
    [second] = connector.extract(context(tmp_path / "2", watermark="2024-06-02T08:00:00Z|2"))
    assert [r[0] for r in read_csv(second.path)[1:]] == ["3", "4"]


def test_mariadb_datetime_column_and_url_in_extra(mariadb, monkeypatch, tmp_path):
    with mariadb.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE `t_license` (`id` BIGINT PRIMARY KEY, `updated_at` DATETIME(0) NOT NULL, "
                             "`xk_xdr_mc` VARCHAR(200))"))
        conn.execute(sa.text("INSERT INTO t_license VALUES (1, '2024-06-01 08:00:00', '甲'), "
                             "(2, '2024-06-02 08:00:00', '乙'), (3, '2024-06-02 08:00:00', '丙')"))
    url = mariadb.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_SQL_HOUSING", json.dumps({"conn_type": "generic", "extra": {"url": url}}))
    [source] = SqlConnector().extract(context(tmp_path / "1", watermark="2024-06-02 08:00:00|2"))
    assert read_csv(source.path) == [["id", "updated_at", "xk_xdr_mc"], ["3", "2024-06-02 08:00:00", "丙"]]
    assert source.watermark_to == "2024-06-02 08:00:00|3"
    assert SqlConnector().extract(context(tmp_path / "2", watermark=source.watermark_to)) == []


def test_mariadb_wrong_password_is_a_source_error_without_the_password(mariadb, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_SQL_HOUSING", mariadb.env(login="cw_nobody", password="hunter2-secret"))
    with pytest.raises(SourceError) as caught:
        SqlConnector().extract(context(tmp_path))
    message = str(caught.value)
    assert message.startswith("department housing feed license: ") and CHINESE.search(message)
    assert "cannot reach the front database mysql+pymysql://" in message
    assert "Access denied" in message and "hunter2-secret" not in message and "\n" not in message
    assert not list(tmp_path.iterdir())


def test_mariadb_connection_killed_mid_stream_lands_nothing(mariadb, tmp_path):
    rows = 20_000
    with mariadb.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t_license (id INT PRIMARY KEY, updated_at VARCHAR(32), xk_xdr_mc TEXT)"))
        conn.execute(sa.text(f"INSERT INTO t_license SELECT seq, '2024-06-01T08:00:00Z', REPEAT('数据', 300) "
                             f"FROM seq_1_to_{rows}"))
    killed: list[int] = []

    def kill_the_stream(rows_so_far: int) -> None:
        if killed:
            return
        with mariadb.admin.connect() as conn:
            [victim] = conn.execute(sa.text(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = :db AND ID <> CONNECTION_ID() "
                "AND INFO LIKE 'SELECT%t_license%'"), {"db": mariadb.name}).scalars().all()
            conn.execute(sa.text(f"KILL CONNECTION {int(victim)}"))
        killed.append(rows_so_far)

    with pytest.raises(SourceError) as caught:
        SqlConnector(yield_per=500, progress=kill_the_stream).extract(context(tmp_path))
    assert killed == [500]
    message = str(caught.value)
    assert message.startswith("department housing feed license: ") and CHINESE.search(message)
    assert "the front database mysql+pymysql://root@" in message
    assert "failed after" in message and "nothing was landed" in message and "\n" not in message
    assert not list(tmp_path.iterdir())  # the partial CSV is gone
