"""Numbered SQL migrations from `warehouse_sql/`, applied in order, each in its own transaction.

Every applied file is recorded with its sha256 in `audit.schema_migration`. A file changed after
it was applied is refused before anything new runs: the fix belongs in a new numbered file.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl import config
from etl.errors import UserError
from etl.sqltext import execute_script

FILENAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every process migrating this warehouse.
ADVISORY_LOCK_ID = 0x63726564  # "cred"

BOOTSTRAP_SQL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.schema_migration (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    char(64)    NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    applied_by  text        NOT NULL DEFAULT current_user,
    duration_ms integer     NOT NULL
);
COMMENT ON TABLE audit.schema_migration IS
    '数据库迁移记录：每个已执行的迁移文件一行 / Applied migrations: one row per warehouse_sql file applied';
COMMENT ON COLUMN audit.schema_migration.version IS
    '迁移编号（文件名前三位）/ Migration number (first three digits of the file name)';
COMMENT ON COLUMN audit.schema_migration.name IS '迁移文件名 / Migration file name';
COMMENT ON COLUMN audit.schema_migration.checksum IS '文件内容 SHA-256 / SHA-256 of the file as applied';
COMMENT ON COLUMN audit.schema_migration.applied_at IS '执行时间（UTC）/ When it was applied (UTC)';
COMMENT ON COLUMN audit.schema_migration.applied_by IS '执行的数据库用户 / Database role that applied it';
COMMENT ON COLUMN audit.schema_migration.duration_ms IS '执行耗时（毫秒）/ Time taken in milliseconds';
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str


def discover(sql_dir: Path = config.SQL_DIR) -> list[Migration]:
    """The migration files in version order; a misnamed or duplicate-numbered file is an error."""
    migrations: dict[int, Migration] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        match = FILENAME.match(path.name)
        if not match:
            raise UserError(f"Migration file {path.name} is misnamed; name it NNN_lower_case_words.sql.")
        version = int(match.group(1))
        if version in migrations:
            raise UserError(f"Migrations {migrations[version].name} and {path.name} share number {version:03d}; "
                            f"renumber one of them.")
        data = path.read_bytes()
        migrations[version] = Migration(version, path.name, data.decode("utf-8"), hashlib.sha256(data).hexdigest())
    return [migrations[v] for v in sorted(migrations)]


def _refuse_drift(applied: dict[int, tuple[str, str]], files: list[Migration]) -> None:
    by_version = {m.version: m for m in files}
    for version, (name, checksum) in sorted(applied.items()):
        current = by_version.get(version)
        if current is None:
            raise UserError(f"Migration {name} was applied to this warehouse but its file is missing from "
                            f"warehouse_sql/; restore the file (applied migrations are never removed).")
        if current.checksum != checksum.strip():
            raise UserError(f"Migration {name} was changed after it was applied (checksum {checksum[:12]}… "
                            f"in the warehouse, {current.checksum[:12]}… on disk); restore the original "
                            f"file and put the change in a new numbered migration.")


def migrate(engine: Engine, sql_dir: Path = config.SQL_DIR) -> list[str]:
    """Apply every pending migration; returns the names applied (empty when up to date)."""
    files = discover(sql_dir)
    applied_now: list[str] = []
    with engine.connect() as conn:
        # Two processes migrating at once would race on the same objects: serialise them.
        conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": ADVISORY_LOCK_ID})
        conn.commit()
        try:
            with conn.begin():
                execute_script(conn, BOOTSTRAP_SQL)
            rows = conn.execute(sa.text("SELECT version, name, checksum FROM audit.schema_migration")).all()
            conn.commit()
            applied = {r.version: (r.name, r.checksum) for r in rows}
            _refuse_drift(applied, files)
            for migration in files:
                if migration.version in applied:
                    continue
                started = time.monotonic()
                try:
                    with conn.begin():
                        execute_script(conn, migration.sql)
                        conn.execute(
                            sa.text("INSERT INTO audit.schema_migration (version, name, checksum, duration_ms) "
                                    "VALUES (:v, :n, :c, :d)"),
                            {"v": migration.version, "n": migration.name, "c": migration.checksum,
                             "d": int((time.monotonic() - started) * 1000)},
                        )
                except (sa.exc.DBAPIError, conn.dialect.loaded_dbapi.Error) as exc:
                    driver_error = getattr(exc, "orig", None) or exc
                    reason = str(getattr(driver_error, "pgerror", None) or driver_error).strip().splitlines()[0]
                    raise UserError(f"Migration {migration.name} failed and was rolled back ({reason}); "
                                    f"fix the file and run `creditwh init` again.") from None
                applied_now.append(migration.name)
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": ADVISORY_LOCK_ID})
            conn.commit()
    return applied_now
