"""What every credit warehouse DAG shares: default arguments, tags, pools, assets and the failure alert.

DAG-side only (`etl/` never imports Airflow, nor this module). Importing it does no I/O: no
database, network or connection is touched until a task runs. `.airflowignore` keeps the DAG
processor from parsing it as a DAG file of its own.

Pools (created by `make airflow` and the compose `airflow-init` service from `dags/pools.json`):
`department_api` bounds concurrent calls to department REST APIs (their extract tasks);
`platform_provincial` / `platform_national` bound calls to the upstream platforms.

Every `@task` of the project says `multiple_outputs=False`: its result is one dict, and Airflow would
otherwise (inferring from the `-> dict` annotation) also push each key as an XCom of its own, a round trip
to the metadata database each (~3,300 of them in `make run`, a third of its Airflow time).

Failure alerts (`notify_failure`, every task's on_failure_callback) and deadline alerts
(`notify_deadline_missed`, for DeadlineAlert SyncCallbacks) go to the HTTP webhook of connection
`creditwh_alerts` (e.g.
`AIRFLOW_CONN_CREDITWH_ALERTS=https://hooks.example.org/credit/alerts`; extra `{"format": "wecom"}`
for a WeCom robot, `{"format": "dingtalk"}` for DingTalk, default a JSON body with `text`). Without
the connection they are only logged. The notifier never raises: a broken alert must not hide the
task's own failure.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset

log = logging.getLogger("creditwh.alerts")

OWNER = "credit-office-data"
TIMEZONE = pendulum.timezone("Asia/Shanghai")
START_DATE = pendulum.datetime(2026, 1, 1, tz=TIMEZONE)
TAGS = ["creditwh"]
ALERT_CONN_ID = "creditwh_alerts"

POOL_DEPARTMENT_API = "department_api"
POOL_PLATFORM_PROVINCIAL = "platform_provincial"
POOL_PLATFORM_NATIONAL = "platform_national"
PLATFORM_POOLS = {"provincial": POOL_PLATFORM_PROVINCIAL, "national": POOL_PLATFORM_NATIONAL}

RETRIES = 2
# Seconds before the first retry (then doubled each time, at most an hour); tests make it tiny.
RETRY_DELAY_ENV = "CREDITWH_AIRFLOW_RETRY_DELAY_SECONDS"
DEFAULT_RETRY_DELAY_SECONDS = 120.0
ASSET_URI_PREFIX = "x-creditwh://warehouse/dw/fact_credit_record/"


def retry_delay() -> timedelta:
    raw = os.environ.get(RETRY_DELAY_ENV, "")
    try:
        seconds = float(raw) if raw else DEFAULT_RETRY_DELAY_SECONDS
    except ValueError:
        raise ValueError(f"{RETRY_DELAY_ENV} must be a number of seconds, got {raw!r}") from None
    return timedelta(seconds=max(seconds, 0.0))


def local_schedule(*crons: str):  # noqa: ANN201 - a timetable of the creditwh_schedules plugin
    """The timetable of crons in Asia/Shanghai, the zone shown beside them in the UI."""
    from creditwh_schedules import LocalCronsTimetable, LocalCronTimetable  # dags/plugins, Airflow's plugins folder

    if len(crons) == 1:
        return LocalCronTimetable(crons[0], timezone=TIMEZONE)
    return LocalCronsTimetable(*crons, timezone=TIMEZONE)


def record_type_asset(record_type_code: str) -> Asset:
    """The facts of one record type in the warehouse; ingest DAGs update it, the publish DAG may wait on it."""
    return Asset(name=f"creditwh.fact_credit_record.{record_type_code}",
                 uri=f"{ASSET_URI_PREFIX}{record_type_code}", group="creditwh")


def _alert_text(context: Any) -> str:
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    map_index = getattr(ti, "map_index", -1)
    run_id = getattr(ti, "run_id", None) or getattr(context.get("dag_run"), "run_id", "?")
    try_number = getattr(ti, "try_number", "?")
    error = context.get("exception")
    where = f"{dag_id}.{task_id}" + (f"[{map_index}]" if map_index not in (-1, None) else "")
    return (f"信用数据仓库任务失败 / credit warehouse task failed: {where}, run {run_id}, try {try_number}"
            + (f": {type(error).__name__}: {str(error)[:500]}" if error else ""))


def _webhook(conn: Any) -> tuple[str, dict[str, str]]:
    """URL and headers of an HTTP connection: host (with or without scheme), port, path from schema/endpoint."""
    extra = conn.extra_dejson or {}
    host = (conn.host or "").rstrip("/")
    if "://" not in host:
        scheme = extra.get("scheme") or ("https" if conn.conn_type == "https" else "http")
        host = f"{scheme}://{host}"
    if conn.port and host.count(":") < 2:
        host = f"{host}:{conn.port}"
    path = extra.get("endpoint") or (conn.schema if conn.schema not in (None, "", "http", "https") else "")
    headers = {"Content-Type": "application/json"}
    if conn.password:
        headers["Authorization"] = f"Bearer {conn.password}"
    return f"{host}/{path.lstrip('/')}" if path else host, headers


def _payload(text: str, fmt: str) -> dict:
    if fmt in ("wecom", "dingtalk"):
        return {"msgtype": "text", "text": {"content": text}}
    return {"text": text, "source": "creditwh"}


def _post_alert(text: str) -> None:
    """Log the alert and post it to the `creditwh_alerts` webhook when there is one; never raises."""
    try:
        log.error("%s", text)
        try:
            from airflow.sdk import Connection

            conn = Connection.get(ALERT_CONN_ID)
        except Exception:  # noqa: BLE001 - no alert connection: logging is the alert
            log.info("connection %s not configured; the alert is only logged", ALERT_CONN_ID)
            return
        import requests

        url, headers = _webhook(conn)
        fmt = str((conn.extra_dejson or {}).get("format", "json"))
        response = requests.post(url, json=_payload(text, fmt), headers=headers, timeout=10)
        if response.status_code >= 400:
            log.warning("alert webhook answered %s", response.status_code)
    except Exception:  # noqa: BLE001 - an alert must never fail or mask what it reports
        log.warning("could not send the alert", exc_info=True)


def notify_failure(context: Any) -> None:
    """on_failure_callback: log the failure and post it to the `creditwh_alerts` webhook when there is one."""
    try:
        text = _alert_text(context)
    except Exception:  # noqa: BLE001 - whatever the context holds, an alert still goes out
        text = "信用数据仓库任务失败 / credit warehouse task failed (no details)"
    _post_alert(text)


def notify_deadline_missed(context: Any = None, **kwargs: Any) -> None:
    """Deadline alert callback (SyncCallback): a DAG run did not finish in time; alert like a failure."""
    try:
        run = (context or {}).get("dag_run") or {}
        deadline = (context or {}).get("deadline") or {}
        text = (f"信用数据仓库运行超时 / credit warehouse run missed its deadline: {run.get('dag_id', '?')}, "
                f"run {run.get('dag_run_id') or run.get('run_id', '?')}, due {deadline.get('deadline_time', '?')}")
    except Exception:  # noqa: BLE001
        text = "信用数据仓库运行超时 / credit warehouse run missed its deadline (no details)"
    _post_alert(text)


def told(result: dict) -> dict:
    """A task's result, after its last log line: what happened, for a person (the result itself is XCom)."""
    from etl import jobs

    logging.getLogger("creditwh.task").info("%s", jobs.describe(result))
    return result


def default_args() -> dict:
    return {
        "owner": OWNER,
        "retries": RETRIES,
        "retry_delay": retry_delay(),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(hours=1),
        "on_failure_callback": notify_failure,
        # A task's log ends with its own one-line summary (etl.jobs.describe), not the raw dict it returns.
        "show_return_value_in_logs": False,
    }


def dag_defaults(doc_md: str | None, *tags: str) -> dict:
    """Keyword arguments every DAG of the project takes: defaults, no catch-up, one run at a time, docs."""
    return {
        "default_args": default_args(),
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "doc_md": doc_md,
        "tags": [*TAGS, *tags],
    }
