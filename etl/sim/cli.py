"""`sim` commands: run the local simulators in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import click

MASK = "****"


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


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """Ctrl-C and SIGTERM set the yielded event (handlers only where Python allows them: the main thread).

    Installed before anything is printed: a caller may send the signal as soon as it reads the first line.
    """
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        yield stop
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _wait_for_stop(stop: threading.Event) -> None:
    while not stop.wait(0.5):
        pass


@click.group()
def sim() -> None:
    """Local simulators of department sources (and, later, upstream platforms) on loopback."""


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
    from etl.sim.departments import DepartmentSimulator, Faults

    faults = Faults(error_rate=error_rate, latency_ms=latency_ms, latency_jitter_ms=latency_jitter_ms,
                    rate_limit_every=rate_limit_every, html_error_rate=html_error_rate,
                    malformed_json_rate=malformed_json_rate, reset_rate=reset_rate,
                    outage_after=outage_after, seed=seed)
    token = token or secrets.token_urlsafe(24)
    simulator = DepartmentSimulator(data_dir, host=host, port=port, token=token, faults=faults)
    simulator.start()
    try:
        with _stop_signals() as stop:
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
            _wait_for_stop(stop)
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
    from etl.errors import UserError
    from etl.output import replaced_when_complete
    from etl.sim.departments import DepartmentSimulator
    from etl.sim.platform import PlatformSimulator

    settings = config.settings()
    data_dir = data_dir or settings.var_dir / "data"
    if not (data_dir / "manifest.json").exists():
        raise UserError(f"{data_dir} 中没有生成的部门数据，请先运行 make run / "
                        f"{data_dir} holds no generated department data; run `make run` first.")
    env_file = env_file or settings.var_dir / "sim" / "connections.env"
    with contextlib.ExitStack() as stack, _stop_signals() as stop:
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
        _wait_for_stop(stop)
    click.echo("simulators stopped", err=True)


from etl.sim.platform import platform_command  # noqa: E402 - the platform simulator defines its own command

sim.add_command(platform_command)
