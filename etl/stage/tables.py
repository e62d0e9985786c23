"""Staging tables derived from the catalog: one per record type, a text column per standard field.

Staging holds values exactly as received (only mapped to field codes); normalisation happens in
set-based SQL during validation. Tables are UNLOGGED: they are rebuilt from the landed bytes
after a crash, so paying for WAL on them would buy nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.catalog import Catalog, RecordType


def staging_table(record_type: RecordType) -> str:
    return f"staging.{record_type.code}"


def column(field_code: str) -> str:
    return field_code.lower()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ensure_staging_tables(conn: Connection, catalog: Catalog) -> None:
    """Create missing staging tables and columns (a field added to the catalog becomes a column)."""
    for rt in catalog.record_types:
        table = staging_table(rt)
        conn.execute(sa.text(f"""
            CREATE UNLOGGED TABLE IF NOT EXISTS {table} (
                batch_id   bigint  NOT NULL,
                row_no     integer NOT NULL,
                record_uid uuid,
                PRIMARY KEY (batch_id, row_no)
            )
        """))
        conn.execute(sa.text(
            f"COMMENT ON TABLE {table} IS "
            + _literal(f"暂存：{rt.name_zh}，每个批次的每个源行一行 / "
                       f"Staging for {rt.name_en.lower()}: one row per source row of a batch, values as received")))
        conn.execute(sa.text(f"COMMENT ON COLUMN {table}.batch_id IS '所属批次 / Batch the row came in'"))
        conn.execute(sa.text(f"COMMENT ON COLUMN {table}.row_no IS '源数据中的行号 / Row number in the source'"))
        conn.execute(sa.text(f"COMMENT ON COLUMN {table}.record_uid IS "
                             "'记录稳定标识（部门、类别、文书号的 UUIDv5）/ Stable record id (UUIDv5)'"))
        for field in rt.fields:
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column(field.code)} text"))
            conn.execute(sa.text(
                f"COMMENT ON COLUMN {table}.{column(field.code)} IS "
                + _literal(f"{field.name_zh}（{field.code}，原值）/ {field.name_en} ({field.code}, as received)")))


def clean_table(record_type: RecordType) -> str:
    return f"staging.{record_type.code}_clean"


def ensure_clean_tables(conn: Connection, catalog: Catalog) -> None:
    """staging.<type>_clean: the batch normalised and typed, read by GX, the quarantine rules and the load."""
    from etl.validate.rules import clean_columns

    for rt in catalog.record_types:
        table = clean_table(rt)
        conn.execute(sa.text(f"""
            CREATE UNLOGGED TABLE IF NOT EXISTS {table} (
                batch_id     bigint  NOT NULL,
                row_no       integer NOT NULL,
                record_uid   uuid,
                first_row_no integer NOT NULL,
                PRIMARY KEY (batch_id, row_no)
            )
        """))
        conn.execute(sa.text(
            f"COMMENT ON TABLE {table} IS "
            + _literal(f"暂存（已规范化）：{rt.name_zh}，每个批次的每个源行一行 / "
                       f"Normalised staging for {rt.name_en.lower()}: one row per source row of a batch, typed")))
        conn.execute(sa.text(f"COMMENT ON COLUMN {table}.batch_id IS '所属批次 / Batch the row came in'"))
        conn.execute(sa.text(f"COMMENT ON COLUMN {table}.row_no IS '源数据中的行号 / Row number in the source'"))
        conn.execute(sa.text(f"COMMENT ON COLUMN {table}.record_uid IS "
                             "'记录稳定标识（部门、类别、文书号的 UUIDv5）/ Stable record id (UUIDv5)'"))
        conn.execute(sa.text(
            f"COMMENT ON COLUMN {table}.first_row_no IS "
            "'同一文书号在本批次首次出现的行号 / First row of the batch with the same document number'"))
        for clean in clean_columns(rt):
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {clean.name} {clean.sql_type}"))
            field = rt.field_by_code.get(clean.name.upper())
            text = (f"{field.name_zh}（{field.code}，规范化）/ {field.name_en} ({field.code}, normalised)" if field
                    else f"{clean.name.removesuffix('__bad').upper()} 有值但无法解析 / value given but unreadable")
            conn.execute(sa.text(f"COMMENT ON COLUMN {table}.{clean.name} IS " + _literal(text)))
