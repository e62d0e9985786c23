"""`make airflow`: the Airflow UI and scheduler on this machine, over the runs `make run` made, ready to use.

Airflow standalone with the same home and metadata database as `make run` (var/airflow), DAGs from `dags/`,
the pools created, bound to 127.0.0.1 unless told otherwise. The DAGs need one connection per department
source and per platform. They come from an env file of `AIRFLOW_CONN_*` lines (default `.env`: for real
departments) when it exists; otherwise the department and platform simulators of `make run` are started
here, on the data it generated, and their connections passed to Airflow. The admin password is printed once
Airflow has made it. Like `simulators.nightly`, this starts Airflow as a process and never imports it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from etl import config
from etl.errors import UserError
from simulators.nightly import airflow_env

PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"  # written by the simple auth manager
UI_TIMEZONE = "Asia/Shanghai"


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` and `export NAME=value` lines (shell quoting allowed); comments and blank lines skipped."""
    values = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "export":
            words = words[1:]
        if len(words) != 1 or "=" not in words[0]:
            raise UserError(f"{path} 第 {number} 行不是 NAME=value / line {number} of {path} is not NAME=value.")
        name, value = words[0].split("=", 1)
        values[name] = value
    return values


def run_airflow_ui(host: str, port: int, env_file: Path, echo: Callable[[str], None] = print) -> int:
    """Start Airflow standalone (and the simulators, without an env file) until Ctrl-C; its exit code."""
    from simulators.departments import DepartmentSimulator
    from simulators.platform import PlatformSimulator

    settings = config.settings()
    with contextlib.ExitStack() as stack:
        if env_file.exists():
            connections = read_env_file(env_file)
            echo(f"== connections from {env_file} ({sum(k.startswith('AIRFLOW_CONN_') for k in connections)})")
        else:
            data = settings.var_dir / "data"
            if not (data / "manifest.json").exists():
                raise UserError(f"没有 {env_file}，也没有 make run 生成的数据：先运行 make run，或在 {env_file} "
                                f"中写入部门的 AIRFLOW_CONN_* 连接 / no {env_file} and no data from make run: run "
                                f"`make run` first, or write the departments' AIRFLOW_CONN_* lines into {env_file}.")
            departments = stack.enter_context(DepartmentSimulator(data))
            connections = departments.connection_env()
            for flavor in ("provincial", "national"):
                store = settings.var_dir / "sim" / f"platform-{flavor}.sqlite"
                connections.update(stack.enter_context(PlatformSimulator(flavor, store)).connection_env())
            echo(f"== no {env_file}: the simulators of make run's 26 departments and 2 platforms serve the DAGs "
                 f"({departments.url}); to use real departments write their AIRFLOW_CONN_* lines into {env_file}")
        # standalone starts its parts as `airflow …` commands: this interpreter's bin directory comes first.
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        env = airflow_env({**os.environ, **connections, "PATH": path,
                           "AIRFLOW__API__HOST": host, "AIRFLOW__API__PORT": str(port),
                           "AIRFLOW__CORE__DEFAULT_TIMEZONE": UI_TIMEZONE,
                           "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30"})
        home = Path(env["AIRFLOW_HOME"])
        for step in (["db", "migrate"], ["pools", "import", str(config.PROJECT_ROOT / "dags" / "pools.json")]):
            done = subprocess.run([sys.executable, "-m", "airflow", *step], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["?"])[-1]
                raise UserError(f"airflow {step[0]} 失败：{last} / airflow {step[0]} failed: {last}")
        log_file = settings.var_dir / "logs" / "airflow-standalone.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        echo(f"== Airflow on http://{host}:{port} (home {home}; its output in {log_file}); Ctrl-C to stop")
        with log_file.open("a", encoding="utf-8") as log:
            # Its own process group: standalone's scheduler, API server and workers stop with it, whatever stops us.
            standalone = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=env,
                                          cwd=config.PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
            previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
            try:
                _tell_password(home / PASSWORD_FILE, standalone, echo)
                return standalone.wait()
            except KeyboardInterrupt:
                return 0
            finally:
                signal.signal(signal.SIGTERM, previous)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(standalone.pid, signal.SIGTERM)
                try:
                    standalone.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(standalone.pid, signal.SIGKILL)


def _tell_password(path: Path, standalone: subprocess.Popen, echo: Callable[[str], None]) -> None:
    for _ in range(600):
        if path.exists() and path.stat().st_size:
            users = json.loads(path.read_text(encoding="utf-8"))
            echo("   sign in as " + ", ".join(f"{user} / {password}" for user, password in users.items())
                 + f" (kept in {path})")
            return
        if standalone.poll() is not None:
            return
        time.sleep(0.5)
