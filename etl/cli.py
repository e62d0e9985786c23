"""`creditwh` (also `python -m etl`): the command line of the credit warehouse."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa

from etl import config
from etl.errors import UserError

log = logging.getLogger("creditwh")
CHINA = ZoneInfo("Asia/Shanghai")


def _setup_logging(verbose: bool) -> Path:
    log_dir = config.var_dir() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / "creditwh.log"
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    to_file = logging.FileHandler(log_file, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    to_file.setLevel(logging.DEBUG)
    to_screen = logging.StreamHandler(sys.stderr)
    to_screen.setFormatter(logging.Formatter("%(message)s"))
    to_screen.setLevel(logging.DEBUG if verbose else logging.WARNING)
    root.handlers[:] = [to_file, to_screen]
    return log_file


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show progress messages.")
def cli(verbose: bool) -> None:
    """Credit warehouse (信用数据仓库): ingest, validate, load and publish public credit information."""
    _setup_logging(verbose)


@cli.command()
def init() -> None:
    """Create or upgrade the warehouse and seed departments, record types and dates."""
    from etl.catalog import catalog
    from etl.migrate import migrate
    from etl.reference import seed_reference_data
    from etl.warehouse import get_engine, redact

    engine = get_engine()
    applied = migrate(engine)
    counts = seed_reference_data(engine, catalog())
    click.echo(f"warehouse: {redact(engine.url.render_as_string(hide_password=False))}")
    click.echo(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
    click.echo(f"reference data: {counts.departments} departments, {counts.record_types} record types, "
               f"{counts.dates} calendar days")


def _today_in_china() -> dt.date:
    return dt.datetime.now(CHINA).date()


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to write the department sources into.")
@click.option("--records", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Total number of records across all departments.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed; same seed, same bytes.")
@click.option("--defect-rate", type=click.FloatRange(0, 0.5), default=0.05, show_default=True,
              help="Share of rows given one seeded defect (recorded in manifest.json).")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Reference date for decision dates (default: today in Asia/Shanghai).")
@click.option("--sql-url", default=None,
              help="Write SQL front databases to this server; the URL must contain {department}.")
@click.option("--progress/--no-progress", default=False, help="Show a progress bar.")
def generate(out_dir: Path, records: int, seed: int, defect_rate: float, as_of: dt.datetime | None,
             sql_url: str | None, progress: bool) -> None:
    """Write realistic source data for all departments (files, API pages, SQL front databases)."""
    from etl.generate import generate as generate_data

    summary = generate_data(out_dir, records=records, seed=seed, defect_rate=defect_rate,
                            as_of=as_of.date() if as_of else _today_in_china(), sql_url=sql_url,
                            progress=progress)
    click.echo(summary.describe())


@cli.command()
def status() -> None:
    """Show what the warehouse holds: migrations, dimensions, facts, batches."""
    from etl.warehouse import get_engine

    engine = get_engine()
    with engine.connect() as conn:
        click.echo(describe_warehouse(conn))


def describe_warehouse(conn: sa.Connection) -> str:
    """A short plain-text inventory of the warehouse, for people."""
    migrations = conn.execute(sa.text(
        "SELECT count(*) AS n, max(name) AS last FROM audit.schema_migration")).one()
    counts = conn.execute(sa.text("""
        SELECT (SELECT count(*) FROM dw.dim_department WHERE is_active) AS departments,
               (SELECT count(*) FROM dw.dim_record_type) AS record_types,
               (SELECT count(*) FROM dw.dim_date) AS dates,
               (SELECT min(date) FROM dw.dim_date) AS first_date,
               (SELECT max(date) FROM dw.dim_date) AS last_date,
               (SELECT count(*) FROM dw.dim_date WHERE is_workday) AS workdays,
               (SELECT count(*) FROM dw.dim_subject WHERE is_current) AS subjects,
               (SELECT count(*) FROM dw.fact_credit_record) AS facts,
               (SELECT count(*) FROM audit.batch) AS batches,
               (SELECT count(*) FROM audit.quarantine) AS quarantined
    """)).one()
    lines = [
        f"migrations:    {migrations.n} applied (latest {migrations.last})",
        f"departments:   {counts.departments}",
        f"record types:  {counts.record_types}",
        f"calendar:      {counts.dates} days, {counts.first_date} to {counts.last_date} "
        f"({counts.workdays} working days)",
        f"subjects:      {counts.subjects} current",
        f"credit facts:  {counts.facts}",
        f"batches:       {counts.batches} ({counts.quarantined} quarantined row findings)",
    ]
    return "\n".join(lines)


@cli.group()
def db() -> None:
    """Control the embedded PostgreSQL (used when WAREHOUSE_URL is not set)."""


@db.command("start")
def db_start() -> None:
    """Start the embedded server (initialising var/pgdata on first use)."""
    from etl.warehouse import embedded_server

    server = embedded_server()
    server.start()
    click.echo(f"embedded PostgreSQL running: {server.url()}")


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded server cleanly."""
    from etl.warehouse import embedded_server

    click.echo("stopped" if embedded_server().stop() else "not running")


@db.command("status")
def db_status() -> None:
    """Say whether the embedded server runs, and where."""
    from etl.warehouse import embedded_server

    server = embedded_server()
    port = server.running_port()
    click.echo(f"running on 127.0.0.1:{port} ({server.url()})" if port else f"not running (data in {server.pgdata})")


@cli.command()
@click.option("--records", type=click.IntRange(min=1), default=3000, show_default=True)
@click.option("--seed", type=int, default=20261124, show_default=True)
def run(records: int, seed: int) -> None:
    """The main job: initialise the warehouse, generate department data, and show what is there."""
    from etl.main_job import run_main_job

    run_main_job(records=records, seed=seed, as_of=_today_in_china(), echo=click.echo)


def main() -> None:
    """Entry point: errors people can fix are one line, anything else points at the log."""
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback on screen
        log.exception("unexpected failure")
        click.echo(f"error: unexpected {type(exc).__name__}: {exc} "
                   f"(details in {config.var_dir() / 'logs' / 'creditwh.log'})", err=True)
        sys.exit(1)
