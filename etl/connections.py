"""Credentials by connection id: Airflow connections in production, the same ids from the environment elsewhere.

A connection `dept_api_tax` is read from `AIRFLOW_CONN_DEPT_API_TAX`, in either of Airflow's
formats: a URI (`http://login:password@host:port/schema?key=value`) or JSON
(`{"conn_type": "http", "host": ..., "password": ..., "extra": {...}}`). Nothing here imports
Airflow; inside a task Airflow exports the same variables or the DAG passes the values in.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from etl import config
from etl.errors import UserError


@dataclass(frozen=True)
class Connection:
    conn_id: str
    conn_type: str
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra: dict = field(default_factory=dict)

    def base_url(self) -> str:
        """`scheme://host:port` for HTTP connections (scheme from extra or conn_type)."""
        scheme = self.extra.get("scheme") or ("https" if self.conn_type == "https" else "http")
        port = f":{self.port}" if self.port else ""
        return f"{scheme}://{self.host}{port}"


def _env_name(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


MISSING = re.compile(r"Connection '[^']+' is not configured; set (AIRFLOW_CONN_\w+)")


def missing_variable(reason: str | None) -> str | None:
    """The variable a reason says to set when it is get_connection's 'not configured', else None."""
    found = MISSING.search(reason or "")
    return found.group(1) if found else None


def get_connection(conn_id: str) -> Connection:
    """The connection for an id, or a clear error saying which variable to set."""
    raw = config.settings().connections.get(conn_id.lower())
    if not raw:
        raise UserError(f"连接 {conn_id!r} 未配置，请设置 {_env_name(conn_id)}（Airflow 连接 URI 或 JSON）"
                        f"或在 Airflow 中添加 / "
                        f"Connection {conn_id!r} is not configured; set {_env_name(conn_id)} "
                        f"(an Airflow connection URI or JSON) or add it in Airflow.")
    try:
        return _parse(conn_id, raw.strip())
    except (ValueError, TypeError) as exc:
        raise UserError(f"{_env_name(conn_id)} 中的连接 {conn_id!r} 无法读取（{exc}），"
                        f"请使用 Airflow 连接 URI 或 JSON / "
                        f"Connection {conn_id!r} in {_env_name(conn_id)} cannot be read ({exc}); "
                        f"use an Airflow connection URI or JSON.") from None


def _parse(conn_id: str, raw: str) -> Connection:
    if raw.startswith("{"):
        data = json.loads(raw)
        extra = data.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra)
        return Connection(conn_id=conn_id, conn_type=data.get("conn_type", ""), host=data.get("host"),
                          port=int(data["port"]) if data.get("port") else None, login=data.get("login"),
                          password=data.get("password"), schema=data.get("schema"), extra=extra)
    parts = urlsplit(raw)
    if not parts.scheme:
        raise ValueError("no scheme")
    extra = dict(parse_qsl(parts.query))
    if "__extra__" in extra:
        extra = json.loads(extra["__extra__"])
    return Connection(
        conn_id=conn_id, conn_type=parts.scheme.replace("-", "_"),
        host=unquote(parts.hostname) if parts.hostname else None, port=parts.port,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        schema=unquote(parts.path.lstrip("/")) or None, extra=extra,
    )
