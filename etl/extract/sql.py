"""SQL front database (前置库) connector: rows changed since the watermark, streamed into one UTF-8 CSV file.

The watermark is `"<updated_at>|<key>"` of the last row taken; the next pull asks for
`updated_at > ts OR (updated_at = ts AND key > id)` in `(updated_at, key)` order, so rows that share an
`updated_at` are neither lost nor taken twice. Rows are streamed with a server-side cursor
(`stream_results`, `yield_per`), never the whole table in memory. Identifiers come from the catalog
and are still quoted by SQLAlchemy (the table is reflected), never pasted into SQL text.

Connections: `sqlite` (host = the database file, opened read-only), `mysql`/`mariadb` (PyMySQL,
utf8mb4), `postgres`/`postgresql` (psycopg2), or an SQLAlchemy URL in the connection's extra `url`.
Passwords never appear in logs or messages.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from etl.connections import Connection, get_connection
from etl.errors import UserError
from etl.extract.base import ExtractedSource, FeedContext
from etl.extract.errors import SourceError
from etl.faults import crash_point

log = logging.getLogger(__name__)

WATERMARK_SEPARATOR = "|"


def connection_url(conn: Connection) -> URL:
    """The SQLAlchemy URL for a front-database connection."""
    if conn.extra.get("url"):
        try:
            url = make_url(str(conn.extra["url"]))
        except sa.exc.ArgumentError:
            raise UserError(f"连接 {conn.conn_id!r} 的 extra url 不是有效的 SQLAlchemy URL / "
                            f"Connection {conn.conn_id!r}: extra url is not an SQLAlchemy URL.") from None
        if url.get_backend_name() in ("mysql", "mariadb") and "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        return url
    kind = conn.conn_type.lower()
    if kind in ("sqlite", "sqlite3"):
        if not conn.host:
            raise UserError(f"连接 {conn.conn_id!r}（sqlite）须将 host 设为数据库文件的路径 / "
                            f"Connection {conn.conn_id!r} (sqlite) needs host = the path of the database file.")
        path = Path(conn.host).expanduser().resolve()
        return URL.create("sqlite", database=f"{path.as_uri()}?mode=ro", query={"uri": "true"})
    if not conn.host:
        raise UserError(f"连接 {conn.conn_id!r} 未配置主机，请设置前置库的主机地址 / "
                        f"Connection {conn.conn_id!r} has no host; set the front database's host.")
    if kind in ("mysql", "mariadb"):
        return URL.create("mysql+pymysql", username=conn.login, password=conn.password, host=conn.host,
                          port=conn.port, database=conn.schema, query={"charset": "utf8mb4"})
    if kind in ("postgres", "postgresql"):
        return URL.create("postgresql+psycopg2", username=conn.login, password=conn.password, host=conn.host,
                          port=conn.port, database=conn.schema)
    raise UserError(f"连接 {conn.conn_id!r} 的类型为 {conn.conn_type!r}，前置库连接须为 sqlite、mysql、mariadb、"
                    f"postgres 或 postgresql，或在 extra 中给出 SQLAlchemy url / "
                    f"Connection {conn.conn_id!r} has type {conn.conn_type!r}; a front database connection must "
                    f"be sqlite, mysql, mariadb, postgres or postgresql, or give an SQLAlchemy url in extra.")


def _describe(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        return unquote(database.removeprefix("file://").removesuffix("?mode=ro"))
    return url.render_as_string(hide_password=True)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip() or type(orig).__name__
    return text.splitlines()[0][:300]


class SqlConnector:
    """Pulls SQL feeds incrementally; `progress(rows_so_far)` is called after each streamed chunk."""

    def __init__(self, *, yield_per: int = 5000, connect_timeout: int = 10,
                 connections: Callable[[str], Connection] = get_connection,
                 progress: Callable[[int], None] | None = None) -> None:
        if yield_per < 1:
            raise ValueError("yield_per must be positive")
        self.yield_per = yield_per
        self.connect_timeout = connect_timeout
        self._connections = connections
        self.progress = progress

    def _engine(self, url: URL) -> sa.Engine:
        connect_args: dict[str, Any] = {}
        backend = url.get_backend_name()
        if backend in ("mysql", "mariadb", "postgresql"):
            connect_args["connect_timeout"] = self.connect_timeout
        return sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)

    def extract(self, context: FeedContext) -> list[ExtractedSource]:
        department, feed = context.department, context.feed
        if feed.sql is None:
            raise UserError(f"部门 {department.code} 的数据源 {feed.code} 不是 SQL 类 / "
                            f"Department {department.code} feed {feed.code} is not an SQL feed.")
        where = f"department {department.code} feed {feed.code}"
        settings = feed.sql
        url = connection_url(self._connections(settings.connection_id))
        if url.get_backend_name() == "sqlite":
            path = Path(_describe(url))
            if not path.is_file():
                raise SourceError(f"{where}: 前置库文件 {path} 不存在 / the front database file {path} does not exist.")
        engine = self._engine(url)
        work_dir = Path(context.work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        fd, part_name = tempfile.mkstemp(prefix=f"sql_{department.code}_{feed.code}_", suffix=".csv.part",
                                         dir=work_dir)
        part = Path(part_name)
        rows = 0
        streaming = False
        last: tuple[Any, Any] | None = None
        raw_cursor = None
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out, engine.connect() as conn:
                table = self._table(conn, settings.table, where, url)
                for column in (settings.key_column, settings.updated_at_column):
                    if column not in table.c:
                        raise SourceError(f"{where}: {_describe(url)} 中的表 {settings.table} 没有列 {column!r}，"
                                          f"请修改目录或前置库 / "
                                          f"table {settings.table} in {_describe(url)} has no column "
                                          f"{column!r}; fix the catalog or the front database.")
                key, updated = table.c[settings.key_column], table.c[settings.updated_at_column]
                statement = sa.select(table).order_by(updated, key)
                if context.watermark:
                    ts, ident = _parse_watermark(context.watermark, updated, key, where)
                    statement = statement.where(sa.or_(updated > ts, sa.and_(updated == ts, key > ident)))
                streaming = True
                result = conn.execution_options(stream_results=True, yield_per=self.yield_per).execute(statement)
                raw_cursor = getattr(result, "cursor", None)
                names = list(result.keys())
                key_index, updated_index = names.index(key.name), names.index(updated.name)
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(names)
                for chunk in result.partitions():
                    # Most values are text: written as they are, without a call per cell.
                    writer.writerows([v if type(v) is str else _text(v) for v in row] for row in chunk)
                    rows += len(chunk)
                    crash_point("extract.chunk")
                    # the watermark is the last row with an updated_at (NULLs sort first or last by dialect)
                    tracked = next((r for r in reversed(chunk) if r[updated_index] is not None), None)
                    if tracked is not None:
                        last = (tracked[updated_index], tracked[key_index])
                    if self.progress is not None:
                        self.progress(rows)
        except SourceError:
            part.unlink(missing_ok=True)
            raise
        except sa.exc.DBAPIError as exc:
            part.unlink(missing_ok=True)
            _defuse_dead_stream(raw_cursor)
            described, detail = _describe(url), _first_line(exc)
            if streaming:
                raise SourceError(f"{where}: 前置库 {described} 在读取 {settings.table} 的 {rows} 行后出错"
                                  f"（{detail}），未落地任何数据 / "
                                  f"the front database {described} failed after {rows} rows of "
                                  f"{settings.table} ({detail}); nothing was landed.") from None
            raise SourceError(f"{where}: 无法连接前置库 {described}（{detail}）/ "
                              f"cannot reach the front database {described} ({detail}).") from None
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        finally:
            engine.dispose()
        if rows == 0:
            part.unlink(missing_ok=True)
            log.info("%s: nothing new in %s", where, settings.table)
            return []
        final = part.with_name(part.name.removesuffix(".part"))
        part.replace(final)
        if last is None:  # only rows without updated_at: nothing to move the watermark to
            log.warning("%s: no row of %s has %s; the watermark stays where it was", where, settings.table,
                        settings.updated_at_column)
            watermark_to = context.watermark
            last = (None, None)
        else:
            watermark_to = f"{_text(last[0])}{WATERMARK_SEPARATOR}{_text(last[1])}"
        start = context.watermark.rpartition(WATERMARK_SEPARATOR)[0] if context.watermark else "start"
        name = f"sql {settings.table} updated_at {start}→{_text(last[0])} ({rows} rows)"
        log.info("%s: %s", where, name)
        return [ExtractedSource(source_name=name, path=final, format="csv", encoding="utf-8",
                                watermark_kind="updated_at", watermark_to=watermark_to, rows_hint=rows)]

    @staticmethod
    def _table(conn: sa.Connection, name: str, where: str, url: URL) -> sa.Table:
        try:
            return sa.Table(name, sa.MetaData(), autoload_with=conn)
        except sa.exc.NoSuchTableError:
            raise SourceError(f"{where}: 前置库 {_describe(url)} 中没有表 {name} / "
                              f"the front database {_describe(url)} has no table {name}.") from None


def _defuse_dead_stream(cursor: Any) -> None:
    """Stop PyMySQL from reading a dead connection when the streaming cursor is garbage-collected.

    After the connection is lost mid-stream, PyMySQL's unbuffered result still believes rows are pending, and
    its `__del__` hooks try to drain them from a closed socket, printing "Exception ignored ... 'NoneType'
    object has no attribute 'read'" (PyMySQL PR #810, unmerged). The connection is gone either way, so mark
    the result finished. Other drivers are left alone.
    """
    result = getattr(cursor, "_result", None)
    if cursor is None or type(cursor).__module__.split(".")[0] != "pymysql" or result is None:
        return
    if getattr(result, "unbuffered_active", False):
        result.unbuffered_active = False
        cursor.connection = None


def _python_type(column: sa.Column) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _parse_watermark(watermark: str, updated: sa.Column, key: sa.Column, where: str) -> tuple[Any, Any]:
    ts, separator, ident = watermark.rpartition(WATERMARK_SEPARATOR)
    if not separator:
        raise SourceError(f"{where}: 已保存的水位 {watermark!r} 不是 '<updated_at>|<key>' 格式，"
                          f"请重置该数据源的水位 / "
                          f"the stored watermark {watermark!r} is not '<updated_at>|<key>'; "
                          f"reset the feed's watermark.")
    try:
        ts_value: Any = ts
        if _python_type(updated) is dt.datetime:
            ts_value = dt.datetime.fromisoformat(ts)
        elif _python_type(updated) is dt.date:
            ts_value = dt.date.fromisoformat(ts)
        ident_value: Any = int(ident) if _python_type(key) is int else ident
    except ValueError:
        raise SourceError(f"{where}: 已保存的水位 {watermark!r} 与列 {updated.name}/{key.name} 不符，"
                          f"请重置该数据源的水位 / "
                          f"the stored watermark {watermark!r} does not fit the columns "
                          f"{updated.name}/{key.name}; reset the feed's watermark.") from None
    return ts_value, ident_value
