"""The main job behind `make run`: set up the warehouse, produce department data, ingest it, report.

Later stages (the same ingest through Airflow, publishing, indicators) extend this job; it stays
the one command a newcomer runs to see the whole system work on their machine.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable

from etl import config
from etl.catalog import catalog
from etl.generate import generate
from etl.reference import prepare_warehouse
from etl.warehouse import get_engine, redact


def run_main_job(records: int, seed: int, as_of: dt.date, echo: Callable[[str], None] = print) -> None:
    from etl.cli import run_ingest
    from etl.summary import describe_warehouse, identity_violations

    started = time.monotonic()
    engine = get_engine()
    echo(f"== warehouse {redact(engine.url.render_as_string(hide_password=False))}")
    cat = catalog()
    counts = prepare_warehouse(engine, cat)
    echo(f"   migrations applied now: {len(counts.migrations_applied)}; reference data: {counts.departments} "
         f"departments, {counts.record_types} record types, {counts.dates} calendar days, {counts.measures} measures")

    data_dir = config.var_dir() / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    echo(f"== department data ({records} records, seed {seed}, as of {as_of}) -> {data_dir}")
    summary = generate(data_dir, records=records, seed=seed, defect_rate=0.05, as_of=as_of)
    echo(summary.describe())

    echo("== ingest: 26 departments through the department simulator (files, APIs, SQL front databases)")
    run_ingest(engine, cat, cat.departments, simulate_dir=data_dir)

    echo("== warehouse contents")
    with engine.connect() as conn:
        echo(describe_warehouse(conn))
        broken = identity_violations(conn)
    echo("   accounting identity rows_in = loaded + unchanged + quarantined: "
         + ("holds for every batch" if not broken else f"BROKEN for batches {broken}"))
    echo(f"== done in {time.monotonic() - started:.1f} s. Next: `.venv/bin/creditwh status`, feedback workbooks "
         f"under {config.var_dir() / 'feedback'}, seeded defects in {data_dir / 'manifest.json'}.")
