"""Numbered SQL migrations from `warehouse_sql/`, applied in order, each in its own transaction; then the
definitions that follow the code: the personal-data masking functions compiled from the catalog, and the
repeatable definitions of `warehouse_sql/repeatable/` (one view or function per file).

Every applied numbered file is recorded with its sha256 in `audit.schema_migration`. A file changed after
it was applied is refused before anything new runs: the fix belongs in a new numbered file. A view or a
function is the other way round: one file each, `NN_<schema>.<name>.sql` (NN orders them), edited in place
and re-applied whenever its sha256 differs from the one recorded in `audit.schema_repeatable`, or the object
is missing (as jaffle-shop keeps one model per file). Each file drops and creates its object itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl import config
from etl.errors import UserError
from etl.sqltext import execute_script

FILENAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
REPEATABLE_FILENAME = re.compile(r"^\d{2}_((?:mart|dw)\.[a-z][a-z0-9_]*)\.sql$")
# The triggers a repeatable definition creates (name, table): a dropped trigger is made again, like its function.
CREATED_TRIGGER = re.compile(r"CREATE TRIGGER\s+(\w+)\s.*?\sON\s+([\w.]+)", re.IGNORECASE | re.DOTALL)
# Indexes whose expressions call the masking functions: rebuilt when the masking rules change.
MASKING_INDEXES = ("dw.dim_subject_display_code_idx", "dw.dim_subject_display_name_idx")
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
            raise UserError(f"迁移文件名 {path.name} 不合规，请命名为 NNN_lower_case_words.sql / "
                            f"Migration file {path.name} is misnamed; name it NNN_lower_case_words.sql.")
        version = int(match.group(1))
        if version in migrations:
            raise UserError(f"迁移 {migrations[version].name} 与 {path.name} 编号同为 {version:03d}，"
                            f"请为其中一个重新编号 / "
                            f"Migrations {migrations[version].name} and {path.name} share number {version:03d}; "
                            f"renumber one of them.")
        data = path.read_bytes()
        migrations[version] = Migration(version, path.name, data.decode("utf-8"), hashlib.sha256(data).hexdigest())
    return [migrations[v] for v in sorted(migrations)]


def _refuse_drift(applied: dict[int, tuple[str, str]], files: list[Migration]) -> None:
    by_version = {m.version: m for m in files}
    for version, (name, checksum) in sorted(applied.items()):
        current = by_version.get(version)
        if current is None:
            raise UserError(f"迁移 {name} 已在本数据仓库执行，但 warehouse_sql/ 中缺少该文件，请恢复该文件"
                            f"（已执行的迁移不得删除）/ "
                            f"Migration {name} was applied to this warehouse but its file is missing from "
                            f"warehouse_sql/; restore the file (applied migrations are never removed).")
        if current.checksum != checksum.strip():
            raise UserError(f"迁移 {name} 执行后被修改（数据仓库中校验和 {checksum[:12]}…，"
                            f"磁盘上 {current.checksum[:12]}…），请恢复原文件，并将改动写入新编号的迁移 / "
                            f"Migration {name} was changed after it was applied (checksum {checksum[:12]}… "
                            f"in the warehouse, {current.checksum[:12]}… on disk); restore the original "
                            f"file and put the change in a new numbered migration.")


def migrate(engine: Engine, sql_dir: Path = config.SQL_DIR) -> list[str]:
    """Apply every pending migration, then the masking rules and the repeatable views that changed; returns
    the names applied (empty when up to date)."""
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
                with _reported(conn, migration.name):
                    execute_script(conn, migration.sql)
                    conn.execute(
                        sa.text("INSERT INTO audit.schema_migration (version, name, checksum, duration_ms) "
                                "VALUES (:v, :n, :c, :d)"),
                        {"v": migration.version, "n": migration.name, "c": migration.checksum,
                         "d": int((time.monotonic() - started) * 1000)},
                    )
                applied_now.append(migration.name)
            if _has_repeatable_table(conn):
                applied_now.extend(_install_masking(conn))
                applied_now.extend(_apply_repeatable(conn, sql_dir / "repeatable"))
                applied_now.extend(_canonical_document_numbers(conn))
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": ADVISORY_LOCK_ID})
            conn.commit()
    return applied_now


def pending(engine: Engine, sql_dir: Path = config.SQL_DIR) -> list[str]:
    """The numbered migrations this code has and the warehouse has not applied (all of them for a database that
    was never initialised); read only, so a command can say `creditwh init` is needed instead of failing on a
    missing table."""
    with engine.connect() as conn:
        if not conn.scalar(sa.text("SELECT to_regclass('audit.schema_migration') IS NOT NULL")):
            applied: set[int] = set()
        else:
            applied = set(conn.scalars(sa.text("SELECT version FROM audit.schema_migration")))
    return [m.name for m in discover(sql_dir) if m.version not in applied]


@contextlib.contextmanager
def _reported(conn: sa.Connection, name: str) -> Iterator[None]:
    """One transaction; a failure is one sentence naming the file, and nothing of it stays."""
    try:
        with conn.begin():
            yield
    except (sa.exc.DBAPIError, conn.dialect.loaded_dbapi.Error) as exc:
        driver_error = getattr(exc, "orig", None) or exc
        reason = str(getattr(driver_error, "pgerror", None) or driver_error).strip().splitlines()[0]
        raise UserError(f"迁移 {name} 执行失败，已回滚（{reason}）/ Migration {name} failed and was rolled back "
                        f"({reason}); fix the file and run `creditwh init` again.") from None


def _has_repeatable_table(conn: sa.Connection) -> bool:
    exists = conn.scalar(sa.text("SELECT to_regclass('audit.schema_repeatable') IS NOT NULL"))
    conn.rollback()
    return exists


def _recorded(conn: sa.Connection, name: str) -> str | None:
    """The checksum in place for a repeatable definition (read outside any transaction of the caller's)."""
    checksum = conn.scalar(sa.text("SELECT checksum FROM audit.schema_repeatable WHERE name = :n"), {"n": name})
    conn.rollback()
    return checksum


def _exists(conn: sa.Connection, name: str, triggers: Sequence[tuple[str, str]] = ()) -> bool:
    """Whether a view or table, or a function, of that qualified name exists, and each (trigger, table) of
    `triggers` with it."""
    schema, _, bare = name.partition(".")
    found = conn.scalar(sa.text("""
        SELECT to_regclass(:name) IS NOT NULL
            OR EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                        WHERE n.nspname = :schema AND p.proname = :bare)
    """), {"name": name, "schema": schema, "bare": bare})
    for trigger, table in triggers:
        found = found and conn.scalar(sa.text(
            "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = :t AND tgrelid = to_regclass(:table))"),
            {"t": trigger, "table": table})
    conn.rollback()
    return found


def _record(conn: sa.Connection, name: str, checksum: str) -> None:
    conn.execute(sa.text("""
        INSERT INTO audit.schema_repeatable (name, checksum) VALUES (:n, :c)
        ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now(), applied_by = current_user
    """), {"n": name, "c": checksum})


def _install_masking(conn: sa.Connection) -> list[str]:
    """Compile catalog/personal_data.yml into schema pii's functions when the rules changed, and rebuild the
    indexes whose expressions mask (they would otherwise hold values masked by the old rules)."""
    from etl.personal import install_sql

    sql = install_sql()
    checksum = hashlib.sha256(sql.encode()).hexdigest()
    name = "pii (catalog/personal_data.yml)"
    if _recorded(conn, name) == checksum:
        return []
    with _reported(conn, name):
        execute_script(conn, sql)
        for index in MASKING_INDEXES:
            execute_script(conn, f"REINDEX INDEX {index}")
        _record(conn, name, checksum)
    return [name]


def _canonical_document_numbers(conn: sa.Connection) -> list[str]:
    """Bring facts loaded before migration 022 to one form of their document number (etl.load.document_numbers),
    again whenever the catalog's bracket pairs change."""
    from etl.catalog import catalog
    from etl.load.document_numbers import canonicalise, settings

    name = "data: document numbers in canonical form (022)"
    checksum = hashlib.sha256(settings(catalog()).encode()).hexdigest()
    if _recorded(conn, name) == checksum:
        return []
    with _reported(conn, name):
        counts = canonicalise(conn, catalog())
        _record(conn, name, checksum)
    return [f"{name}: {counts['rewritten']} rewritten, {counts['merged']} merged, {counts['aliases']} aliases"]


def _apply_repeatable(conn: sa.Connection, directory: Path) -> list[str]:
    """Re-apply each definition whose file changed (or whose object is gone), in file-name order; a mart view
    gets its readers' SELECT again (a dropped view loses its grants)."""
    applied = []
    for path in sorted(directory.glob("*.sql")):
        match = REPEATABLE_FILENAME.match(path.name)
        if not match:
            raise UserError(f"可重复定义的文件名 {path.name} 不合规 / repeatable file {path.name} is misnamed; name "
                            f"it NN_<schema>.<name>.sql (schema mart or dw).")
        data = path.read_bytes()
        sql = data.decode("utf-8")
        checksum = hashlib.sha256(data).hexdigest()
        name = match.group(1)
        # An object a numbered migration dropped (to change what it depends on), or a trigger someone dropped, is
        # made again.
        triggers = CREATED_TRIGGER.findall(sql)
        if _recorded(conn, path.name) == checksum and _exists(conn, name, triggers):
            continue
        with _reported(conn, path.name):
            execute_script(conn, sql)
            if name.startswith("mart.") and conn.scalar(sa.text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}):
                execute_script(conn, f"GRANT SELECT ON {name} TO bi_reader, etl_writer")
            _record(conn, path.name, checksum)
        applied.append(path.name)
    return applied
