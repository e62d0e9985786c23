"""Staging tables derived from the catalog: one per record type, a text column per standard field.

Staging holds values exactly as received (only mapped to field codes); normalisation happens in
set-based SQL during validation. Tables are UNLOGGED: they are rebuilt from the landed bytes
after a crash, so paying for WAL on them would buy nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.catalog import Catalog, RecordType
from etl.sqltext import literal


def staging_table(record_type: RecordType) -> str:
    return f"staging.{record_type.code}"


def column(field_code: str) -> str:
    return field_code.lower()


# Columns every staging table starts with, and what they mean.
KEY_COLUMNS = {
    "batch_id": ("bigint NOT NULL", "所属批次 / Batch the row came in"),
    "row_no": ("integer NOT NULL", "源数据中的行号 / Row number in the source"),
    "record_uid": ("uuid", "记录稳定标识（部门、类别、文书号的 UUIDv5）/ Stable record id (UUIDv5)"),
}


# The feed's declared extra columns of a row, as one JSON object (departments.yml `extra_columns`).
EXTRA_COLUMN = ("extra", "jsonb", "数据源声明的附加列（JSON）/ The feed's declared extra columns (JSON)")


@dataclass(frozen=True)
class TableSpec:
    """A staging table as the catalog defines it: name, what a row is, key columns (created with the table) and
    the other columns (added when missing, so a field added to the catalog becomes a column)."""

    name: str
    grain: str
    key_columns: dict[str, tuple[str, str]]
    columns: list[tuple[str, str, str]]


def _ensure_table(conn: Connection, spec: TableSpec) -> None:
    """Create the table if missing, add missing columns, and (re)state every comment."""
    table = spec.name
    definitions = ", ".join(f"{name} {sql_type}" for name, (sql_type, _) in spec.key_columns.items())
    conn.execute(sa.text(f"CREATE UNLOGGED TABLE IF NOT EXISTS {table} ({definitions}, "
                         f"PRIMARY KEY (batch_id, row_no))"))
    conn.execute(sa.text(f"COMMENT ON TABLE {table} IS {literal(spec.grain)}"))
    for name, (_, comment) in spec.key_columns.items():
        conn.execute(sa.text(f"COMMENT ON COLUMN {table}.{name} IS {literal(comment)}"))
    for name, sql_type, comment in spec.columns:
        conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} {sql_type}"))
        conn.execute(sa.text(f"COMMENT ON COLUMN {table}.{name} IS {literal(comment)}"))


def _staging_specs(catalog: Catalog) -> list[TableSpec]:
    return [TableSpec(staging_table(rt),
                      f"暂存：{rt.name_zh}，每个批次的每个源行一行 / "
                      f"Staging for {rt.name_en.lower()}: one row per source row of a batch, values as received",
                      KEY_COLUMNS,
                      [EXTRA_COLUMN, *((column(f.code), "text",
                                        f"{f.name_zh}（{f.code}，原值）/ {f.name_en} ({f.code}, as received)")
                                       for f in rt.fields)])
            for rt in catalog.record_types]


def ensure_staging_tables(conn: Connection, catalog: Catalog) -> None:
    """Create missing staging tables and columns (a field added to the catalog becomes a column)."""
    for spec in _staging_specs(catalog):
        _ensure_table(conn, spec)


# Set by validation from audit.quarantine (etl.quarantine.flag_quarantined_rows); what the load and GX leave out.
QUARANTINED_COLUMN = ("quarantined", "boolean NOT NULL DEFAULT false",
                      "该行有隔离记录（audit.quarantine），不入库 / "
                      "The row has findings in audit.quarantine: not loaded")


def clean_table(record_type: RecordType) -> str:
    return f"staging.{record_type.code}_clean"


# Columns every clean table starts with: the staging keys and the first row of a repeated document number.
CLEAN_KEY_COLUMNS = {**KEY_COLUMNS, "first_row_no": (
    "integer NOT NULL", "同一文书号在本批次首次出现的行号 / First row of the batch with the same document number")}


def _clean_specs(catalog: Catalog) -> list[TableSpec]:
    from etl.validate.rules import clean_columns, code_reading

    specs = []
    for rt in catalog.record_types:
        columns = [EXTRA_COLUMN, QUARANTINED_COLUMN]
        for clean in clean_columns(rt, code_reading(rt, catalog=catalog)):
            field = rt.field_by_code.get(clean.name.upper())
            if field:
                comment = f"{field.name_zh}（{field.code}，规范化）/ {field.name_en} ({field.code}, normalised)"
            elif clean.name.endswith("__ambiguous"):
                comment = (f"{clean.name.removesuffix('__ambiguous').upper()} 中代码表认为有歧义的写法 / "
                           f"the spelling a code table calls ambiguous")
            else:
                comment = f"{clean.name.removesuffix('__bad').upper()} 有值但无法解析 / value given but unreadable"
            columns.append((clean.name, clean.sql_type, comment))
        specs.append(TableSpec(clean_table(rt),
                               f"暂存（已规范化）：{rt.name_zh}，每个批次的每个源行一行 / "
                               f"Normalised staging for {rt.name_en.lower()}: one row per source row of a batch, typed",
                               CLEAN_KEY_COLUMNS, columns))
    return specs


def ensure_clean_tables(conn: Connection, catalog: Catalog) -> None:
    """staging.<type>_clean: the batch normalised and typed, read by GX, the quarantine rules and the load."""
    for spec in _clean_specs(catalog):
        _ensure_table(conn, spec)


def missing_staging_columns(conn: Connection, catalog: Catalog) -> list[str]:
    """`table.column` of every staging column the catalog and this code define and the warehouse lacks (a catalog
    or code upgrade that `creditwh init` has not yet been run for)."""
    present = {(f"{r.table_schema}.{r.table_name}", r.column_name) for r in conn.execute(sa.text(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE table_schema = 'staging'"))}
    return [f"{spec.name}.{name}" for spec in [*_staging_specs(catalog), *_clean_specs(catalog)]
            for name in [*spec.key_columns, *(c[0] for c in spec.columns)] if (spec.name, name) not in present]
