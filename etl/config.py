"""Where things live: project paths and settings read from the environment, in one place."""

from __future__ import annotations

import os
from pathlib import Path

from etl.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "warehouse_sql"
CATALOG_DIR = Path(__file__).resolve().parent / "catalog"


def catalog_dir() -> Path:
    """The catalog in use: the project's own, or a county's copy named by CREDITWH_CATALOG_DIR."""
    return Path(os.environ.get("CREDITWH_CATALOG_DIR", CATALOG_DIR)).resolve()


def var_dir() -> Path:
    """Runtime state (embedded server data, landing files, reports); git-ignored."""
    path = Path(os.environ.get("CREDITWH_VAR_DIR", PROJECT_ROOT / "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def warehouse_url_from_env() -> str | None:
    """The SQLAlchemy URL of an external warehouse, or None to use the embedded server."""
    return os.environ.get("WAREHOUSE_URL") or None


def embedded_port() -> int:
    """TCP port of the embedded server on 127.0.0.1 (so BI tools and Airflow can reach it too)."""
    raw = os.environ.get("CREDITWH_EMBEDDED_PORT", "54329")
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(f"CREDITWH_EMBEDDED_PORT must be a port number, got {raw!r}") from None
    if not 1024 <= port <= 65535:
        raise ValueError(f"CREDITWH_EMBEDDED_PORT must be between 1024 and 65535, got {port}")
    return port


def drop_dir() -> Path:
    """Where departments drop files (one folder per department); CREDITWH_DROP_DIR in production."""
    return Path(os.environ.get("CREDITWH_DROP_DIR", var_dir() / "data" / "files")).resolve()


# A dropped file is taken once it has been still this long (SMB copies and FTP uploads write in place), unless
# a completion flag (<name>.ok / <name>.done) marks it complete first. The figure is this project's choice,
# as Spring Integration's age-based file filters leave it to the application: long enough for a stalled
# upload to show as one, short enough not to delay a nightly run.
DEFAULT_FILE_SETTLE_SECONDS = 60.0


def file_settle_seconds() -> float:
    """How long a dropped file must be still before it is taken (CREDITWH_FILE_SETTLE_SECONDS, default 60)."""
    raw = os.environ.get("CREDITWH_FILE_SETTLE_SECONDS", "")
    try:
        seconds = float(raw) if raw.strip() else DEFAULT_FILE_SETTLE_SECONDS
    except ValueError:
        raise UserError(f"CREDITWH_FILE_SETTLE_SECONDS 须为秒数 / must be a number of seconds, got {raw!r}") from None
    if not seconds >= 0:
        raise UserError(f"CREDITWH_FILE_SETTLE_SECONDS 不能为负 / must not be negative, got {raw!r}")
    return seconds


def gx_enabled() -> bool:
    """Run the Great Expectations suites on every batch (CREDITWH_GX=off skips them, e.g. for a quick look)."""
    return os.environ.get("CREDITWH_GX", "on").lower() not in ("off", "0", "false", "no")


def data_docs_dir() -> Path:
    return var_dir() / "gx" / "data_docs"
