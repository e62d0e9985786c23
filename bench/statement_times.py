"""Where an ingest's SQL time goes, statement by statement: the measurement a redesign of the load starts from.

    python bench/statement_times.py --records 300000 --departments market_regulation tax

Generates the county's sources (seeded), creates a fresh database on the server WAREHOUSE_URL names (or the
embedded one), ingests the named departments in this process (one after the other, Great Expectations off:
its run is measured per batch in audit.batch.gx_ms), and prints the statements by total time: every
statement the pipeline sends through SQLAlchemy or as a generated script (etl.sqltext.execute_script),
grouped by their first words. Staging's COPY and Python work between statements are the rest of the wall time.

    python bench/statement_times.py --records 1000000 --after-the-rest --explain 200

With --after-the-rest the county's other departments are ingested first (untimed), so the named departments
load into the whole warehouse, as a nightly load does; with --explain MS every statement of theirs that
takes MS milliseconds or longer is printed with its plan as PostgreSQL ran it (auto_explain: EXPLAIN
(ANALYZE, BUFFERS) of the statements inside scripts and functions as well).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import etl.load  # noqa: E402
import etl.publicity.outbox  # noqa: E402
import etl.sqltext  # noqa: E402
import etl.validate  # noqa: E402
from etl.catalog import catalog  # noqa: E402
from etl.warehouse import get_engine  # noqa: E402
from simulators.generate import generate  # noqa: E402

LABEL_CHARS = 100


def _label(sql: str) -> str:
    return " ".join(sql.split())[:LABEL_CHARS]


class _Collector:
    """Notices kept in a list of ours; falsy, so that SQLAlchemy's psycopg2 dialect leaves them alone."""

    def __init__(self, into: list[str]) -> None:
        self.into = into

    def append(self, notice: str) -> None:
        self.into.append(notice)

    def __bool__(self) -> bool:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--departments", nargs="+", default=["market_regulation", "tax"])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--after-the-rest", action="store_true",
                        help="ingest the county's other departments first, untimed")
    parser.add_argument("--explain", type=int, metavar="MS", default=None,
                        help="print the plans (ANALYZE, BUFFERS) of statements taking MS ms or longer")
    args = parser.parse_args()
    os.environ["CREDITWH_GX"] = "off"

    times: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0])

    def count(sql: str, seconds: float) -> None:
        if not measuring:
            return
        entry = times[_label(sql)]
        entry[0] += seconds
        entry[1] += 1

    script = etl.sqltext.execute_script

    def timed_script(conn, sql, *rest, **named):  # noqa: ANN001, ANN202 - execute_script's own signature
        started = time.perf_counter()
        try:
            return script(conn, sql, *rest, **named)
        finally:
            count(sql, time.perf_counter() - started)

    for module in (etl.sqltext, etl.load, etl.publicity.outbox, etl.validate):
        if getattr(module, "execute_script", None) is script:
            module.execute_script = timed_script

    admin = get_engine()
    name = f"bench_statements_{uuid.uuid4().hex[:8]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name)
    try:
        engine = get_engine(url.render_as_string(hide_password=False))

        plans: list[str] = []
        measuring = False

        @event.listens_for(engine, "connect")
        def explain_slow_statements(dbapi_connection, record):  # noqa: ANN001, ANN202
            if args.explain is None:
                return
            # The plans come back as notices: psycopg2 appends them to any object with an append method, and
            # SQLAlchemy empties a connection's notices after each statement unless they look empty.
            dbapi_connection.notices = _Collector(plans)
            with dbapi_connection.cursor() as cursor:
                cursor.execute("LOAD 'auto_explain'")
                cursor.execute(f"SET auto_explain.log_min_duration = {int(args.explain)}; "
                               "SET auto_explain.log_analyze = on; SET auto_explain.log_buffers = on; "
                               "SET auto_explain.log_timing = on; SET auto_explain.log_nested_statements = on; "
                               "SET auto_explain.log_level = notice; SET client_min_messages = notice")
            dbapi_connection.commit()

        @event.listens_for(engine, "before_cursor_execute")
        def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
            conn.info["started"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def after(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
            if measuring:
                count(statement, time.perf_counter() - conn.info["started"])

        from etl.ingest import ingest_department
        from etl.reference import prepare_warehouse
        from simulators.departments import DepartmentSimulator

        cat = catalog()
        prepare_warehouse(engine, cat)
        times.clear()
        with tempfile.TemporaryDirectory() as scratch:
            data = Path(scratch) / "data"
            generate(data, records=args.records, seed=args.seed, defect_rate=0.05, as_of=dt.date.today())
            with DepartmentSimulator(data) as simulator:
                os.environ.update(simulator.connection_env())
                if args.after_the_rest:
                    for department in cat.departments:
                        if department.code not in args.departments:
                            ingest_department(engine, cat, department, file_drop_dir=simulator.file_drop_dir,
                                              render_docs=False)
                    with engine.connect() as conn:
                        facts = conn.scalar(sa.text("SELECT count(*) FROM dw.fact_credit_record"))
                    print(f"the rest of the county loaded first: {facts:,} facts", flush=True)
                plans.clear()
                measuring = True
                wall = time.perf_counter()
                rows = 0
                for code in args.departments:
                    outcomes = ingest_department(engine, cat, cat.department_by_code[code],
                                                 file_drop_dir=simulator.file_drop_dir, render_docs=False)
                    rows += sum(o.rows_in for o in outcomes)
                wall = time.perf_counter() - wall
                measuring = False
        engine.dispose()
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    total = sum(seconds for seconds, _ in times.values())
    print(f"{rows:,} rows of {', '.join(args.departments)} ({args.records:,}-record county): "
          f"{wall:.2f} s wall, {total:.2f} s in SQL statements")
    for label, (seconds, calls) in sorted(times.items(), key=lambda kv: -kv[1][0])[:args.top]:
        print(f"{seconds * 1000:9.0f} ms {calls:5d}x  {label}")
    for plan in plans:
        print(plan.rstrip())


if __name__ == "__main__":
    main()
