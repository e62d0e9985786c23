"""Generated SQL: quoting literals, building JSON objects, and running it.

The validation and load steps build statements from the catalog with values inlined as literals,
so they run on the raw driver cursor without parameters (psycopg2 then leaves '%' and ':' alone).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from psycopg2.extensions import TRANSACTION_STATUS_INERROR
from sqlalchemy.engine import Connection

# jsonb_build_object takes at most 100 arguments: 50 key/value pairs, kept well under.
JSONB_PAIRS_PER_CALL = 40


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def jsonb_object(pairs: list[str]) -> str:
    """jsonb_build_object over any number of "key, value" pairs, concatenated in chunks."""
    if not pairs:
        return "'{}'::jsonb"
    chunks = [pairs[i:i + JSONB_PAIRS_PER_CALL] for i in range(0, len(pairs), JSONB_PAIRS_PER_CALL)]
    return " || ".join(f"jsonb_build_object({', '.join(chunk)})" for chunk in chunks)


def execute_script(conn: Connection, sql: str) -> int:
    """Run generated SQL (one or more statements) on the raw driver cursor; returns the last rowcount."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.rowcount
    finally:
        cursor.close()


# Memory for the sorts and hashes of one batch statement: a batch's rows are wide (every field as text),
# and at PostgreSQL's default of 4MB its hash joins spill to disk in thousands of pieces.
BATCH_WORK_MEM = "64MB"
# The per-batch ANALYZEs only need row counts and rough distributions for the planner to choose hash
# joins over nested loops. At the default target (100) ANALYZE samples up to 30,000 pages, and a
# staging table holds many pages of earlier batches' deleted rows until it is vacuumed: 344 ms for one
# ANALYZE of a 33,000-page table, 13 ms at 10.
BATCH_STATISTICS_TARGET = 10


def use_batch_settings(conn: Connection) -> None:
    """Settings for the current transaction's set-based work on one batch: memory, statistics sample."""
    execute_script(conn, f"SET LOCAL work_mem = '{BATCH_WORK_MEM}'; "
                         f"SET LOCAL default_statistics_target = {BATCH_STATISTICS_TARGET}")


@contextlib.contextmanager
def fact_change_reason(conn: Connection, reason: str) -> Iterator[None]:
    """The facts this block's statements update keep their prior versions in history under `reason` (the trigger
    dw.keep_fact_versions writes them; a change no writer explains is recorded as unstated). The reason in force
    before the block is restored after it, however it ends, so a later statement of the same transaction is not
    explained by this block's reason; a transaction the error aborted is left to its rollback, which undoes the
    setting (to the savepoint, or whole)."""
    if conn.connection.driver_connection.autocommit:  # the setting would last one statement: no reason at all
        raise RuntimeError("fact_change_reason needs a transaction, not an autocommit connection")
    previous = conn.exec_driver_sql("SELECT current_setting('creditwh.fact_change_reason', true)").scalar() or ""
    execute_script(conn, f"SELECT set_config('creditwh.fact_change_reason', {literal(reason)}, true)")
    try:
        yield
    finally:
        if conn.connection.driver_connection.info.transaction_status != TRANSACTION_STATUS_INERROR:
            execute_script(conn, f"SELECT set_config('creditwh.fact_change_reason', {literal(previous)}, true)")

