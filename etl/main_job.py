"""The main job behind `make run`: set up the warehouse, produce department data, report.

Later stages (ingest through Airflow, publish, indicators) extend this job; it stays the one
command a newcomer runs to see the whole system work on their machine.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable

from etl import config
from etl.catalog import catalog
from etl.cli import describe_warehouse
from etl.generate import generate
from etl.migrate import migrate
from etl.reference import seed_reference_data
from etl.warehouse import get_engine, redact


def run_main_job(records: int, seed: int, as_of: dt.date, echo: Callable[[str], None] = print) -> None:
    started = time.monotonic()
    engine = get_engine()
    echo(f"== warehouse {redact(engine.url.render_as_string(hide_password=False))}")
    applied = migrate(engine)
    counts = seed_reference_data(engine, catalog())
    echo(f"   migrations applied now: {len(applied)}; reference data: {counts.departments} departments, "
         f"{counts.record_types} record types, {counts.dates} calendar days")

    data_dir = config.var_dir() / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    echo(f"== department data ({records} records, seed {seed}, as of {as_of}) -> {data_dir}")
    summary = generate(data_dir, records=records, seed=seed, defect_rate=0.05, as_of=as_of)
    echo(summary.describe())

    echo("== warehouse contents")
    with engine.connect() as conn:
        echo(describe_warehouse(conn))
    echo(f"== done in {time.monotonic() - started:.1f} s. Next: `creditwh status`, the sources under "
         f"{data_dir}, the seeded defects in {data_dir / 'manifest.json'}.")
