"""`creditwh` (also `python -m etl`): the command line of the credit warehouse."""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import sys
from pathlib import Path

import click

from etl import config
from etl.errors import UserError, one_printable_line
from etl.status import NEEDS_A_PERSON, PROBLEMS, BatchStatus

log = logging.getLogger("creditwh")


class _ScreenFormatter(logging.Formatter):
    """One line per message on the screen: tracebacks go to the log file only."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage().splitlines()[0] if record.getMessage() else ""


def _setup_logging(verbose: bool) -> Path:
    from etl.personal import mask_log_handlers

    log_dir = config.settings().var_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / "creditwh.log"
    # A log file the disk cannot hold must not print tracebacks of its own (the logging docs' production setting).
    logging.raiseExceptions = False
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    to_file = logging.FileHandler(log_file, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    to_file.setLevel(logging.DEBUG)
    to_screen = logging.StreamHandler(sys.stderr)
    to_screen.setFormatter(_ScreenFormatter())
    to_screen.setLevel(logging.DEBUG if verbose else logging.WARNING)
    root.handlers[:] = [to_file, to_screen]
    mask_log_handlers(root)  # identity numbers never reach the log file or the screen
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
    from etl.reference import prepare_warehouse
    from etl.warehouse import get_engine, redact

    engine = get_engine()
    counts = prepare_warehouse(engine, catalog())
    applied = counts.migrations_applied
    click.echo(f"warehouse: {redact(engine.url.render_as_string(hide_password=False))}")
    click.echo(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
    click.echo(f"reference data: {counts.departments} departments, {counts.record_types} record types, "
               f"{counts.dates} calendar days, {counts.measures} reward and punishment measures")


@cli.command()
@click.option("--due", is_flag=True, help="Only the 双公示 early warning: records due upstream soon, not yet accepted.")
@click.option("--within", type=click.IntRange(0, 30), default=2, show_default=True,
              help="Working days ahead for --due.")
@click.option("--details", is_flag=True, help="With --due: list the records themselves, not only their counts.")
def status(due: bool, within: int, details: bool) -> None:
    """Show what the warehouse holds, and per department: last batch, rows, held batches."""
    from etl.summary import department_status, describe_warehouse, drop_notices, held_batches
    from etl.warehouse import get_engine

    engine = get_engine()
    with engine.connect() as conn:
        if due:
            from etl.publicity.due import describe_due

            click.echo(describe_due(conn, within, details=details))
            return
        click.echo(describe_warehouse(conn))
        click.echo("")
        click.echo(department_status(conn))
        click.echo("")
        click.echo(held_batches(conn))
        click.echo("")
        click.echo(drop_notices(conn))


@cli.command()
@click.argument("department", required=False)
@click.option("--all", "all_departments", is_flag=True, help="Every department in the catalog.")
@click.option("--file", "only_file", type=click.Path(path_type=Path),
              help="Only this file of DEPARTMENT's drop folder (it must be complete and match a feed).")
@click.option("--workers", type=click.IntRange(1, 32), default=1, show_default=True,
              help="Departments ingested at once, each in its own process.")
def ingest(department: str | None, all_departments: bool, only_file: Path | None, workers: int) -> None:
    """Extract, land, stage, validate and load one department's feeds (or --all)."""
    from etl.warehouse import get_engine

    departments = chosen_departments(department, all_departments, only_file)
    exit_on_problems(run_ingest(get_engine(), departments, only_file=only_file, workers=workers))


def chosen_departments(department: str | None, all_departments: bool, only_file: Path | None = None) -> list:
    """The departments a command names: one DEPARTMENT or --all (never both, never neither)."""
    from etl.catalog import catalog

    cat = catalog()
    if all_departments == bool(department):
        raise click.UsageError("请指定一个部门或 --all / name one DEPARTMENT or give --all.")
    if only_file is not None and all_departments:
        raise click.UsageError("--file 须与一个部门同用 / --file goes with one DEPARTMENT, not --all.")
    if department and department not in cat.department_by_code:
        raise UserError(f"没有部门 {department!r} / there is no department {department!r}; "
                        f"known: {', '.join(cat.department_by_code)}.")
    return list(cat.departments) if all_departments else [cat.department_by_code[department]]


def run_ingest(engine, departments, *, only_file: Path | None = None, workers: int = 1):
    """Ingest departments (their connections and drop folder from the settings in use) with a progress bar,
    and print the summary table."""

    from tqdm import tqdm

    from etl.catalog import catalog
    from etl.connections import missing_variable
    from etl.ingest import ingest_departments, ingest_dropped_file
    from etl.summary import outcomes_table

    cat, drop_dir = catalog(), config.settings().drop_dir
    if only_file is not None:
        [department] = departments
        outcomes = ingest_dropped_file(engine, cat, department, only_file, drop_dir)
    else:
        with tqdm(total=len(departments), desc="ingest", unit="dept", disable=len(departments) < 2) as bar:
            outcomes = ingest_departments(engine, cat, departments, workers=workers, file_drop_dir=drop_dir,
                                          on_done=lambda _: bar.update())
    click.echo(outcomes_table(outcomes))
    unset = {id(o): variable for o in outcomes
             if o.status == BatchStatus.SETUP_ERROR and (variable := missing_variable(o.reason))}
    departments_unset = {o.department for o in outcomes if id(o) in unset}
    if len(departments_unset) < 2:
        unset = {}  # one department's missing connections are told feed by feed
    if unset:  # one line for them all: on a new machine no connection is set yet
        names = sorted(set(unset.values()))
        click.echo(f"  setup_error: {len(unset)} 个数据源的连接未配置（{names[0]} 等 {len(names)} 个变量）；"
                   f"试用 make run 生成的模拟部门：creditwh sim ingest --all / {len(unset)} feeds have "
                   f"no connection configured ({names[0]} and {len(names) - 1} more variables); to try the "
                   f"departments make run simulates: creditwh sim ingest --all")
    for outcome in outcomes:
        if id(outcome) in unset:
            continue
        # A file named on the command line is answered even when its bytes were loaded before.
        if outcome.status in PROBLEMS or (only_file is not None and outcome.status == BatchStatus.ALREADY_LOADED):
            where = f"batch {outcome.batch_id}" if outcome.batch_id is not None else outcome.source_name
            click.echo(one_printable_line(f"  {outcome.status}: {outcome.department}/{outcome.feed} {where}: "
                                          f"{outcome.reason}"))
    if config.settings().gx and any(o.batch_id is not None for o in outcomes):
        click.echo(f"Great Expectations Data Docs: {config.settings().data_docs_dir / 'index.html'}")
    feedback = [o.feedback for o in outcomes if o.feedback]
    if feedback:
        where = config.settings().var_dir / "feedback"
        click.echo(f"feedback workbooks for departments: {len(feedback)} under {where}")
    return outcomes


def exit_on_problems(outcomes) -> None:
    """Exit 3 when a source could not be read, a feed is not set up, or a drop-folder entry was refused: each
    needs a person (the other feeds were taken all the same)."""
    if any(o.status in NEEDS_A_PERSON for o in outcomes):
        sys.exit(3)


@cli.command()
@click.argument("batch_id", type=int)
@click.option("--by", "released_by", default=lambda: os.environ.get("USER", "unknown"), show_default="$USER",
              help="Who reviewed and released it.")
def release(batch_id: int, released_by: str) -> None:
    """Release a held batch after review: its rows are checked and loaded, batch-level holds lifted."""
    from etl.catalog import catalog
    from etl.ingest import release_batch
    from etl.warehouse import get_engine

    outcome = release_batch(get_engine(), catalog(), batch_id, released_by)
    click.echo(f"batch {batch_id}: {outcome.status}; rows in {outcome.rows_in}, loaded {outcome.rows_loaded}, "
               f"unchanged {outcome.rows_unchanged}, quarantined {outcome.rows_quarantined}")


@cli.group("catalog")
def catalog_group() -> None:
    """The catalog (etl/catalog/): onboarding a department's files."""


@catalog_group.command("suggest")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--department", "department_code", required=True,
              help="The department's code in departments.yml (add its entry first).")
def catalog_suggest(path: Path, department_code: str) -> None:
    """Read a department's file (CSV in UTF-8 or GB18030, Excel, JSON lines) and print the feed entry for
    departments.yml: the header mapping with the confidence of each line, the code tables its values need,
    the columns to declare extra, and what could not be mapped. Nothing is written."""
    from etl.catalog import catalog
    from etl.catalog.suggest import render_suggestion, suggest_feed

    click.echo(render_suggestion(suggest_feed(catalog(), path, department_code)))


@cli.group()
def expectations() -> None:
    """Great Expectations suites (generated from the catalog into expectations/)."""


@expectations.command("build")
def expectations_build() -> None:
    """Regenerate expectations/<record_type>.json from the catalog's rules."""
    from etl.validate.gx_suites import write_suites

    for path in write_suites():
        click.echo(f"wrote {path}")


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


def _register_subcommands() -> None:
    from etl.check.cli import COMMANDS as CHECK_COMMANDS
    from etl.indicators.cli import indicators
    from etl.publish.cli import COMMANDS as PUBLISH_COMMANDS

    for command in (*PUBLISH_COMMANDS, *CHECK_COMMANDS, indicators):
        cli.add_command(command)
    # Tools around the product (the simulators, the data generator, `make run`) add their commands from their
    # own package, through this entry-point group: the pipeline never imports them.
    for entry in importlib.metadata.entry_points(group="creditwh.commands"):
        cli.add_command(entry.load(), entry.name)


_register_subcommands()


def _error(text: str) -> None:
    """The one line a failure gets on the screen, identity numbers masked."""
    from etl.personal import mask_text

    click.echo(f"error: {mask_text(' '.join(text.split()))}", err=True)


def _log_unraisable(unraisable) -> None:
    """Errors Python cannot raise (a library's writer failing again while it is cleaned up after a full disk):
    details to the log file, never a traceback on the screen after the one line that said what went wrong."""
    with contextlib.suppress(Exception):
        log.debug("ignored while cleaning up: %s", unraisable.err_msg or unraisable.object,
                  exc_info=(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback))


# SQLSTATEs of an object the code expects and the database does not have (PostgreSQL, Appendix A).
UNDEFINED_OBJECT_STATES = {"42P01", "42703", "42883", "3F000", "42704"}


def _warehouse_behind(exc: Exception) -> str | None:
    """For a failure on a table, column, function or schema the warehouse does not have: the line saying that the
    warehouse was never initialised, misses migrations or misses staging columns this code defines (so `creditwh
    init` is the fix); None otherwise."""
    import sqlalchemy as sa

    if not isinstance(exc, sa.exc.DBAPIError) or getattr(exc.orig, "pgcode", None) not in UNDEFINED_OBJECT_STATES:
        return None
    from etl.catalog import catalog
    from etl.migrate import pending
    from etl.stage.tables import missing_staging_columns
    from etl.warehouse import get_engine

    try:
        engine = get_engine()
        missing = pending(engine)
        if not missing:
            with engine.connect() as conn:
                columns = missing_staging_columns(conn, catalog())
    except Exception:  # noqa: BLE001 - the warehouse cannot be asked: the original failure stands
        log.debug("could not compare the warehouse with this code", exc_info=True)
        return None
    if missing:
        return (f"数据仓库尚未初始化或缺少 {len(missing)} 个迁移（最早为 {missing[0]}）：请先运行 `creditwh init` / "
                f"the warehouse is not initialised or lacks {len(missing)} migration(s) (first: {missing[0]}): "
                f"run `creditwh init` first")
    if columns:
        return (f"数据仓库缺少本版本定义的 {len(columns)} 个暂存列（如 {columns[0]}）：请先运行 `creditwh init` / "
                f"the warehouse lacks {len(columns)} staging column(s) this version defines (e.g. {columns[0]}): "
                f"run `creditwh init` first")
    return None


def main() -> None:
    """Entry point: every failure is one bilingual line and a non-zero exit; details go to the log file."""
    sys.unraisablehook = _log_unraisable
    try:
        config.settings()
    except UserError as exc:  # before anything reads them; the line is masked by the project's own rules
        from etl.personal import load_rules, mask_text

        click.echo(f"error: {mask_text(str(exc), load_rules(config.CATALOG_DIR))}", err=True)
        sys.exit(2)
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        _error("已中止 / aborted")
        sys.exit(130)
    except click.ClickException as exc:
        _error(f"命令用法有误 / {exc.format_message()} (creditwh --help)")
        sys.exit(exc.exit_code)
    except UserError as exc:
        _error(str(exc))
        sys.exit(2)
    except OSError as exc:  # a file that cannot be read or written: the person can fix it
        log.debug("file error", exc_info=True)
        where = f" {exc.filename}" if exc.filename else ""
        _error(f"无法读写文件{where}（{exc.strerror or exc}） / cannot read or write{where}: {exc.strerror or exc}")
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback on screen
        log.debug("unexpected failure", exc_info=True)  # to the log file; the screen gets one line below
        if (missing := _warehouse_behind(exc)) is not None:
            _error(missing)
            sys.exit(2)
        _error(f"意外错误 / unexpected {type(exc).__name__}: {exc} "
               f"(details in {config.settings().var_dir / 'logs' / 'creditwh.log'})")
        sys.exit(1)
