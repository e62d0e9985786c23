"""The commands of the tools around the product, added to `creditwh` through the `creditwh.commands` entry points:
`generate` (department data), `sim` (the simulators in the foreground until Ctrl-C or SIGTERM, and an ingest
served by them), `run` (`make run`) and `airflow` (`make airflow`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shlex
import sys
from pathlib import Path

import click

from etl.config import CHINA
from simulators.loopback import stop_signals, wait_for_stop

MASK = "****"


def _today_in_china() -> dt.date:
    return dt.datetime.now(CHINA).date()


@click.command()
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
    from simulators.generate import generate as generate_data

    summary = generate_data(out_dir, records=records, seed=seed, defect_rate=defect_rate,
                            as_of=as_of.date() if as_of else _today_in_china(), sql_url=sql_url,
                            progress=progress)
    click.echo(summary.describe())


@click.command()
@click.option("--records", type=click.IntRange(min=1), default=3000, show_default=True)
@click.option("--seed", type=int, default=20261124, show_default=True)
def run(records: int, seed: int) -> None:
    """The main job: initialise the warehouse, generate department data, and show what is there."""
    from simulators.nightly import run_main_job

    run_main_job(records=records, seed=seed, as_of=_today_in_china(), echo=click.echo)


@click.command("airflow")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the UI listens on (0.0.0.0: every one).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path), default=Path(".env"), show_default=True,
              help="AIRFLOW_CONN_* lines of the real departments; without it make run's simulators serve the DAGs.")
def airflow_ui(host: str, port: int, env_file: Path) -> None:
    """Airflow (UI, scheduler) over make run's runs, with connections, pools and the admin password."""
    from simulators.airflow_ui import run_airflow_ui

    sys.exit(run_airflow_ui(host, port, env_file, echo=click.echo))


def _env_lines(env: dict[str, str], reveal: bool) -> list[str]:
    lines = []
    for name, value in sorted(env.items()):
        if not reveal:
            entry = json.loads(value)
            if entry.get("password"):
                entry["password"] = MASK
            value = json.dumps(entry)
        lines.append(f"export {name}={shlex.quote(value)}")
    return lines


@click.group()
def sim() -> None:
    """Local simulators of department sources and upstream platforms on loopback."""


@sim.command("ingest")
@click.argument("department", required=False)
@click.option("--all", "all_departments", is_flag=True, help="Every department in the catalog.")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A directory written by `generate` (default: the one `make run` wrote, var/data).")
@click.option("--workers", type=click.IntRange(1, 32), default=1, show_default=True,
              help="Departments ingested at once, each in its own process.")
def sim_ingest(department: str | None, all_departments: bool, data_dir: Path | None, workers: int) -> None:
    """`creditwh ingest` with the departments served from generated data by a simulator on loopback."""
    from etl import config
    from etl.cli import chosen_departments, exit_on_problems, run_ingest
    from etl.warehouse import get_engine
    from simulators.departments import DepartmentSimulator

    departments = chosen_departments(department, all_departments)
    with DepartmentSimulator(_generated(data_dir)) as simulator:
        served = config.settings().with_connections(simulator.connection_env())
        with config.using(served.model_copy(update={"drop_dir": simulator.file_drop_dir})):
            outcomes = run_ingest(get_engine(), departments, workers=workers)
    exit_on_problems(outcomes)


def _generated(data_dir: Path | None) -> Path:
    """The directory of generated department data a command names, or the one `make run` wrote."""
    from etl import config
    from etl.errors import UserError

    data_dir = data_dir or config.settings().var_dir / "data"
    if not (data_dir / "manifest.json").exists():
        raise UserError(f"{data_dir} 中没有生成的部门数据，请先运行 make run / "
                        f"{data_dir} holds no generated department data; run `make run` first.")
    return data_dir


@sim.command("departments")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="A directory written by `generate` (api/, files/, sql/).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="TCP port (0 picks a free one).")
@click.option("--token", default=None, help="Bearer token clients must send (default: a random one).")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of requests answered 500/502/503.")
@click.option("--latency-ms", type=click.IntRange(min=0), default=0, show_default=True,
              help="Delay added to every response.")
@click.option("--latency-jitter-ms", type=click.IntRange(min=0), default=0, show_default=True,
              help="Up to this much more delay, at random.")
@click.option("--rate-limit-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Answer every Nth request 429 with Retry-After: 1 (0: never).")
@click.option("--html-error-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of requests answered 200 with an HTML error page.")
@click.option("--malformed-json-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of requests answered with truncated JSON.")
@click.option("--reset-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of requests whose connection is closed without a response.")
@click.option("--outage-after", type=click.IntRange(min=0), default=0, show_default=True,
              help="Answer 503 to every request after the first N (0: never).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fault sequence.")
@click.option("--print-env", is_flag=True,
              help="Print only the connection env lines, token included (for `eval` or an env file).")
def departments(data_dir: Path, host: str, port: int, token: str | None, error_rate: float, latency_ms: int,
                latency_jitter_ms: int, rate_limit_every: int, html_error_rate: float, malformed_json_rate: float,
                reset_rate: float, outage_after: int, seed: int, print_env: bool) -> None:
    """Serve the generated department APIs (and point at their SQL front databases) until stopped."""
    from simulators.departments import DepartmentSimulator, Faults

    faults = Faults(error_rate=error_rate, latency_ms=latency_ms, latency_jitter_ms=latency_jitter_ms,
                    rate_limit_every=rate_limit_every, html_error_rate=html_error_rate,
                    malformed_json_rate=malformed_json_rate, reset_rate=reset_rate,
                    outage_after=outage_after, seed=seed)
    token = token or secrets.token_urlsafe(24)
    simulator = DepartmentSimulator(data_dir, host=host, port=port, token=token, faults=faults)
    simulator.start()
    try:
        with stop_signals() as stop:
            lines = _env_lines(simulator.connection_env(), reveal=print_env)
            if print_env:
                click.echo("\n".join(lines))
                click.echo(f"# department simulator on {simulator.url}; Ctrl-C to stop", err=True)
            else:
                click.echo(f"department simulator on {simulator.url} ({len(simulator.routes())} API feeds, "
                           f"file drops in {simulator.file_drop_dir})")
                click.echo("connections (token masked; --print-env shows it):")
                click.echo("\n".join(lines))
                click.echo("Ctrl-C to stop")
            wait_for_stop(stop)
    finally:
        simulator.stop()
    click.echo("department simulator stopped", err=True)


@sim.command("all")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A directory written by `generate` (default: the one `make run` wrote, var/data).")
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the connection lines (default var/sim/connections.env), readable by you only.")
def all_simulators(data_dir: Path | None, env_file: Path | None) -> None:
    """The 26 departments and both platforms on loopback, their connections written to a file, until stopped.

    The file holds `AIRFLOW_CONN_*` lines (tokens and keys included) for `set -a; . FILE; set +a`, for
    `make airflow` (which starts this itself) and for `creditwh ingest`. It is removed when the simulators stop.
    """
    from etl import config
    from etl.output import replaced_when_complete
    from simulators.departments import DepartmentSimulator
    from simulators.platform import PlatformSimulator

    settings = config.settings()
    data_dir = _generated(data_dir)
    env_file = env_file or settings.var_dir / "sim" / "connections.env"
    with contextlib.ExitStack() as stack, stop_signals() as stop:
        departments = stack.enter_context(DepartmentSimulator(data_dir, token=secrets.token_urlsafe(24)))
        env = departments.connection_env()
        for flavor in ("provincial", "national"):
            store = settings.var_dir / "sim" / f"platform-{flavor}.sqlite"
            platform = stack.enter_context(PlatformSimulator(flavor, store))
            env.update(platform.connection_env())
        env_file.parent.mkdir(parents=True, exist_ok=True)
        with replaced_when_complete(env_file) as out:
            os.fchmod(out.fileno(), 0o600)  # tokens and signing keys: before a byte is written
            out.write(("\n".join(_env_lines(env, reveal=True)) + "\n").encode("utf-8"))
        stack.callback(env_file.unlink, missing_ok=True)
        click.echo(f"simulators of 26 departments ({departments.url}) and 2 platforms on loopback; "
                   f"connections in {env_file}; Ctrl-C to stop", err=True)
        wait_for_stop(stop)
    click.echo("simulators stopped", err=True)


from simulators.platform import platform_command  # noqa: E402 - the platform simulator defines its own command

sim.add_command(platform_command)
