"""Where things live and how the pipeline is set up: one settings object, read from the environment.

`settings()` is the process's `Settings`, built once from the environment (and again only if the
environment changes, as a test's monkeypatch does) and never written back to it: a command that adds
connections of its own (`creditwh sim ingest`) makes a new object and runs `using(it)`; worker
processes are handed the caller's object (`etl.ingest.worker_pool`), so they run with exactly its settings.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from etl.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "warehouse_sql"
CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
# China's time: schedules, due dates, "today" of a publicity window, times shown to clerks. A fixed UTC+8 (no
# daylight saving since 1991): the same on a host without a time-zone database, and the same as Asia/Shanghai.
CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
ENV_PREFIX = "CREDITWH_"
# Airflow's own way of giving a connection by environment (AIRFLOW_CONN_<ID>, a URI or JSON): the pipeline
# reads connections the same way outside Airflow (`etl.connections`).
CONNECTION_PREFIX = "AIRFLOW_CONN_"

# A dropped file is taken once it has been still this long (SMB copies and FTP uploads write in place), unless
# a completion flag (<name>.ok / <name>.done) marks it complete first. The figure is this project's choice,
# as Spring Integration's age-based file filters leave it to the application: long enough for a stalled
# upload to show as one, short enough not to delay a nightly run.
DEFAULT_FILE_SETTLE_SECONDS = 60.0


class Settings(BaseSettings):
    """Everything the pipeline reads from its environment; `CREDITWH_<NAME>` sets `<name>`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    var_dir: Path = PROJECT_ROOT / "var"
    """Runtime state (embedded server data, landing files, feedback, Data Docs); git-ignored."""
    catalog_dir: Path = CATALOG_DIR
    """The catalog in use: the project's own, or a county's copy."""
    warehouse_url: str | None = Field(None, validation_alias="WAREHOUSE_URL")
    """The SQLAlchemy URL of an external warehouse; unset, the embedded server is used."""
    embedded_port: Annotated[int, Field(ge=1024, le=65535)] = 54329
    """TCP port of the embedded server on 127.0.0.1 (so BI tools and Airflow can reach it too)."""
    drop_dir: Path | None = None
    """Where departments drop files, one folder each; default `<var_dir>/data/files`."""
    file_settle_seconds: Annotated[float, Field(ge=0)] = DEFAULT_FILE_SETTLE_SECONDS
    """How long a dropped file must be still before it is taken."""
    gx: bool = True
    """Run the Great Expectations audit gate on every batch (off, for a quick look)."""
    chromium: str | None = None
    """The Chromium binary that prints PDF reports; unset, the first one on PATH."""
    crash_at: str | None = None
    """Recovery tests only: `point[:n]` kills the process the n-th time it reaches that crash point."""
    connections: Mapping[str, str] = Field(default_factory=dict, exclude=True)
    """Connection id → Airflow connection URI or JSON, from `AIRFLOW_CONN_<ID>`."""

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        # Frozen: paths are made absolute once, here, so a later chdir changes nothing.
        object.__setattr__(self, "var_dir", self.var_dir.resolve())
        object.__setattr__(self, "catalog_dir", self.catalog_dir.resolve())
        drop = self.drop_dir if self.drop_dir is not None else self.var_dir / "data" / "files"
        object.__setattr__(self, "drop_dir", drop.resolve())
        return self

    @property
    def data_docs_dir(self) -> Path:
        return self.var_dir / "gx" / "data_docs"

    def with_connections(self, connections: Mapping[str, str]) -> Settings:
        """These settings with more connections (`AIRFLOW_CONN_<ID>` names or ids as keys)."""
        added = {_connection_id(name): value for name, value in connections.items()}
        return self.model_copy(update={"connections": {**self.connections, **added}})


def _connection_id(name: str) -> str:
    return name[len(CONNECTION_PREFIX):].lower() if name.upper().startswith(CONNECTION_PREFIX) else name.lower()


def _validated(build) -> Settings:
    """Build settings, turning a wrong value into one bilingual line that names the variable."""
    try:
        return build()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            variable = "WAREHOUSE_URL" if name == "warehouse_url" else ENV_PREFIX + name.upper()
            problems.append(f"{variable}={error.get('input')!r}: {error['msg']}")
        raise UserError("环境变量的设置无效 / invalid setting: " + "; ".join(problems)) from None


def _environment_key() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items()
                        if k.startswith((ENV_PREFIX, CONNECTION_PREFIX)) or k == "WAREHOUSE_URL"))


_built: dict[tuple[tuple[str, str], ...], Settings] = {}
_in_use: list[Settings] = []
_lock = threading.Lock()


def from_environment() -> Settings:
    """Settings as the environment gives them (validated; connections from AIRFLOW_CONN_*)."""
    key = _environment_key()
    with _lock:
        built = _built.get(key)
        if built is None:
            connections = {_connection_id(k): v for k, v in key if k.startswith(CONNECTION_PREFIX)}
            built = _built[key] = _validated(lambda: Settings(connections=connections))
            built.var_dir.mkdir(parents=True, exist_ok=True)
        return built


def settings() -> Settings:
    """The settings this process runs with: those put in use, or else the environment's."""
    return _in_use[-1] if _in_use else from_environment()


@contextlib.contextmanager
def using(chosen: Settings) -> Iterator[Settings]:
    """Run a block (or, never leaving it, a worker process) with these settings instead of the environment's."""
    chosen.var_dir.mkdir(parents=True, exist_ok=True)
    _in_use.append(chosen)
    try:
        yield chosen
    finally:
        _in_use.remove(chosen)
