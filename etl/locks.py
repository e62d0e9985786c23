"""One run of a feed at a time: two `creditwh ingest` of one department, or an Airflow task and a command-line
run of one feed, take turns instead of staging the same batch twice.

A PostgreSQL session-level advisory lock per (department, feed), held on a connection of its own for as long
as the step runs: it is released when the step ends, and by the server when the process dies (a killed run
never leaves a feed locked). The lock is re-entrant within a process: a feed's ingest holds it while its
batches go through steps that take it too.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import zlib
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# The first of the two int4 keys of pg_advisory_lock: this project's feed locks ("feed" as bytes).
FEED_LOCK_SPACE = 0x66656564

_held = threading.local()


def _key(department_code: str, feed_code: str) -> int:
    """A stable signed 32-bit key for the feed (the second key of the advisory lock)."""
    value = zlib.crc32(f"{department_code}/{feed_code}".encode())
    return value - (1 << 32) if value >= 1 << 31 else value


@contextlib.contextmanager
def feed_lock(engine: Engine, department_code: str, feed_code: str) -> Iterator[None]:
    """Hold the feed's lock for the block, waiting (and saying so) while another run holds it."""
    held: set[tuple[str, str]] = getattr(_held, "feeds", None) or set()
    _held.feeds = held
    feed = (department_code, feed_code)
    if feed in held:
        yield
        return
    key = {"space": FEED_LOCK_SPACE, "key": _key(department_code, feed_code)}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if not conn.scalar(sa.text("SELECT pg_try_advisory_lock(:space, :key)"), key):
            log.warning("%s/%s：另一次运行正在处理该数据源，等待其结束 / another run is taking this feed; "
                        "waiting for it to finish", department_code, feed_code)
            conn.execute(sa.text("SELECT pg_advisory_lock(:space, :key)"), key)
        held.add(feed)
        try:
            yield
        finally:
            held.discard(feed)
            conn.execute(sa.text("SELECT pg_advisory_unlock(:space, :key)"), key)
