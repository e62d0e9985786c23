"""Task functions for the orchestrator: plain values in, a small JSON-able summary out.

Airflow tasks (`dags/`) call these, one step per task, so a step may run on another worker than the
one before it; they find the warehouse with `etl.warehouse.get_engine()` and the catalog with
`etl.catalog.catalog()`, and pass nothing between steps but batch ids (the landed bytes live under
`var/landing/`, which every worker must share). Each step is the one in `etl.ingest` the CLI uses,
and is safe to run again after a crash or a retry: `audit.batch.status` says what is already done.
Results are counts, ids and reasons, never rows: they travel as XCom.

Like all of `etl/`, this module never imports Airflow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterable

import sqlalchemy as sa

from etl.config import CHINA
from etl.status import BatchStatus

log = logging.getLogger(__name__)

REASON_CHARS = 500
LIST_ITEMS = 20  # longer lists in a result are cut to this many, with the total beside them
MAINTAINED_SCHEMAS = ("dw", "audit")
STAGING_SCHEMA = "staging"


def _warehouse():
    from etl.catalog import catalog
    from etl.personal import mask_log_handlers
    from etl.warehouse import get_engine

    mask_log_handlers()  # the task's log, as the orchestrator set it up: identity numbers masked in it too
    return get_engine(), catalog()


def _feed(catalog, department_code: str, feed_code: str):
    from etl.errors import UserError

    department = catalog.department_by_code.get(department_code)
    if department is None:
        raise UserError(f"目录中没有部门 {department_code!r} / "
                        f"There is no department {department_code!r} in the catalog.")
    feed = next((f for f in department.feeds if f.code == feed_code), None)
    if feed is None:
        feeds = ", ".join(f.code for f in department.feeds)
        raise UserError(f"部门 {department_code} 没有数据源 {feed_code!r}，其数据源为：{feeds} / "
                        f"Department {department_code} has no feed {feed_code!r}; its feeds: {feeds}.")
    return department, feed


def _short(reason: str | None) -> str | None:
    if reason is None or len(reason) <= REASON_CHARS:
        return reason
    return reason[:REASON_CHARS - 1] + "…"


def _summary(outcome) -> dict:
    """One batch's outcome as XCom: status and the accounting identity's four counts, with the reason."""
    summary = {
        "batch_id": outcome.batch_id, "department": outcome.department, "feed": outcome.feed,
        "source_name": outcome.source_name, "status": str(outcome.status), "rows_in": outcome.rows_in,
        "rows_loaded": outcome.rows_loaded, "rows_unchanged": outcome.rows_unchanged,
        "rows_quarantined": outcome.rows_quarantined, "reason": _short(outcome.reason),
    }
    if getattr(outcome, "feedback", None) is not None:
        summary["feedback"] = str(outcome.feedback)
    return summary


def _each_batch(batch_ids: Iterable[int], step: Callable) -> dict:
    """Run one step over the batches, oldest first (a feed's watermark advances in batch order)."""
    from etl.land import read_batch
    from etl.locks import feed_lock

    engine, cat = _warehouse()
    ids = sorted({int(b) for b in batch_ids})
    outcomes = []
    for batch_id in ids:
        batch = read_batch(engine, batch_id)
        with feed_lock(engine, batch.department_code, batch.feed_code):  # a command-line run of the feed waits
            outcomes.append(_summary(step(engine, cat, batch)))
    return {"batch_ids": ids, "batches": outcomes}


def describe(result: dict) -> str:
    """The line a person reads at the end of a task's log: the feed, its batches and their statuses, the accounting
    identity's counts, why a batch is held and where the feedback workbooks are, in Chinese and English."""
    from etl.catalog import catalog

    if not {"department", "feed", "batches", "batch_ids"} & result.keys():  # publish, indicators, maintenance
        return " · ".join(f"{key} {len(value) if isinstance(value, list | dict) else value}"
                          for key, value in result.items() if value not in (None, "", [], {}))
    # The extract step reports what it landed (and the earlier run's batches it finished); later steps their batches.
    batches = result.get("batches", result.get("finished", []))
    department = result.get("department") or next((b["department"] for b in batches), None)
    feed = result.get("feed") or next((b["feed"] for b in batches), None)
    known = catalog().department_by_code.get(department or "")
    where = f"{department}/{feed}" + (f"（{known.name_zh}）" if known else "") if department else "—"
    if "batches" not in result:
        landed, again = len(result.get("batch_ids", [])), len(result.get("already_loaded", []))
        errors = [*result.get("setup_errors", []), *result.get("source_errors", [])]
        line = (f"{where} · 新落地 landed {landed} · 已入库过 already loaded {again} · 跳过的文件 not taken "
                f"{len(result.get('not_taken', []))}" + (f" · 错误 errors: {'; '.join(errors)}" if errors else ""))
        if not batches:
            return line
        return line + " · 完成上次未完成的批次 finished from an earlier run: " + describe({"batches": batches})
    if not batches:
        return f"{where} · 没有新批次 nothing new"
    total = {key: sum(b[key] or 0 for b in batches)
             for key in ("rows_in", "rows_loaded", "rows_unchanged", "rows_quarantined")}
    statuses = ", ".join(f"{b['batch_id']} {b['status']}" for b in batches)
    held = [f"{b['batch_id']}: {b['reason']}" for b in batches if b["status"] in (BatchStatus.HELD,
                                                                                   BatchStatus.FAILED)]
    feedback = [b["feedback"] for b in batches if b.get("feedback")]
    return (f"{where} · 批次 batches [{statuses}] · 收到 rows in {total['rows_in']} = 入库 loaded "
            f"{total['rows_loaded']} + 未变 unchanged {total['rows_unchanged']} + 隔离 quarantined "
            f"{total['rows_quarantined']}"
            + (f" · 暂扣 held {'; '.join(held)}" if held else "")
            + (f" · 退回工作簿 feedback {', '.join(feedback)}" if feedback else ""))


# -- ingest, one step per task -------------------------------------------------------------------------


def feed_is_due(department_code: str, feed_code: str, at: dt.datetime) -> bool:
    """Whether the feed's cron schedule (Asia/Shanghai) fires at `at`, to the minute."""
    from croniter import croniter

    from etl.catalog import catalog

    _, feed = _feed(catalog(), department_code, feed_code)
    local = at.astimezone(CHINA).replace(second=0, microsecond=0, tzinfo=None)
    return bool(croniter.match(feed.schedule, local))


def extract_feed(department_code: str, feed_code: str) -> dict:
    """Finish the feed's unfinished batches, then extract past its watermark and land the new sources.

    `batch_ids` are the landed batches still to take through (known bytes already loaded are listed
    under `already_loaded` and need nothing); `finished` are batches an earlier run left unfinished,
    taken all the way here because the watermark this extract reads moves only when they load;
    `source_errors` say why the source could not be read (nothing was landed from it), `setup_errors` what a
    person must set up first (a connection not configured).
    """
    from etl import config
    from etl.ingest import extract_and_land, finish_unfinished, with_feedback

    engine, cat = _warehouse()
    department, feed = _feed(cat, department_code, feed_code)
    finished = [with_feedback(engine, cat, o) for o in finish_unfinished(engine, cat, department, feed)]
    extraction = extract_and_land(engine, department, feed, file_drop_dir=config.settings().drop_dir)
    return {
        "department": department.code, "feed": feed.code, "record_type": feed.record_type,
        "transport": feed.transport,
        "batch_ids": [b.batch_id for b in extraction.batches if b.status != BatchStatus.LOADED],
        "already_loaded": [b.batch_id for b in extraction.batches if b.status == BatchStatus.LOADED],
        "finished": [_summary(o) for o in finished],
        "source_errors": [_short(o.reason) for o in extraction.errors if o.status == BatchStatus.SOURCE_ERROR],
        "setup_errors": [_short(o.reason) for o in extraction.errors if o.status == BatchStatus.SETUP_ERROR],
        "not_taken": [{"name": o.source_name, "status": str(o.status), "reason": _short(o.reason)}
                      for o in extraction.notices][:LIST_ITEMS],
    }


def stage_batches(batch_ids: Iterable[int]) -> dict:
    """Stage each landed batch (again if a crash emptied its staging rows)."""
    from etl.ingest import stage_step

    return _each_batch(batch_ids, stage_step)


def validate_batches(batch_ids: Iterable[int]) -> dict:
    """Check each staged batch with the catalog's rules: quarantine failing rows, hold suspicious batches.
    The Great Expectations audit gate is `audit_batches`' (or, if that never ran, the load's)."""
    from etl.ingest import validate_step

    return _each_batch(batch_ids, lambda engine, cat, batch: validate_step(engine, cat, batch, run_gx=False))


def audit_batches(batch_ids: Iterable[int]) -> dict:
    """The Great Expectations audit gate of each validated batch, and their Data Docs pages: one task for all the
    batches of a run, so GX (seconds to import) is imported once per run rather than once per feed."""
    from etl.ingest import render_data_docs, validate_step

    result = _each_batch(batch_ids, validate_step)
    if result["batch_ids"]:
        render_data_docs(_warehouse()[0])
    return result


def load_batches(batch_ids: Iterable[int]) -> dict:
    """Load each validated batch (held and failed batches are reported, not loaded)."""
    from etl.ingest import after_loads, load_step

    result = _each_batch(batch_ids, load_step)
    if result["batch_ids"]:
        # The subject profiles of what they changed; their Data Docs pages and the index say now that they
        # are loaded (GX is not imported for that).
        after_loads(_warehouse()[0])
    return result


def write_feedback(batch_ids: Iterable[int]) -> dict:
    """Write the department's feedback workbook for each batch with rejected rows, once per batch."""
    from etl.ingest import batch_state, outcome_of, with_feedback

    return _each_batch(batch_ids, lambda engine, cat, batch: with_feedback(
        engine, cat, outcome_of(batch_state(engine, batch.batch_id))))


# -- maintenance ---------------------------------------------------------------------------------------


def build_data_docs() -> dict:
    """Render any page still missing, make every page work offline, rewrite the Data Docs index."""
    from etl import config
    from etl.validate.data_docs import build_site
    from etl.warehouse import get_engine

    started = time.monotonic()
    index = build_site(get_engine(), config.settings().data_docs_dir)
    return {"index": str(index), "elapsed_ms": int((time.monotonic() - started) * 1000)}


# Tables whose rows each load deletes or replaces, vacuumed as well as analysed.
REWRITTEN_TABLES = ("dw.subject_profile", "dw.subject_profile_stale")


def analyze_warehouse() -> dict:
    """Refresh the subject profiles any change since the last load left marked, then ANALYZE the warehouse and
    audit tables so the planner's statistics follow the nightly loads, and VACUUM the staging tables and the
    profiles: every load deletes rows from them, and on a server with autovacuum off the dead rows would stay,
    so each batch's writes and per-batch ANALYZE would cover ever more pages."""
    from etl.load import refresh_subject_profiles
    from etl.warehouse import get_engine

    started = time.monotonic()
    engine = get_engine()
    profiles = refresh_subject_profiles(engine)
    with engine.connect() as conn:
        tables = list(conn.execute(sa.text("""
            SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
             WHERE schemaname = ANY(:schemas) ORDER BY 1
        """), {"schemas": [*MAINTAINED_SCHEMAS, STAGING_SCHEMA]}).scalars())
    staging = [t for t in tables if t.startswith(f"{STAGING_SCHEMA}.")]
    # VACUUM cannot run in a transaction block; neither it nor ANALYZE blocks a concurrent load.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            if table in staging:
                conn.exec_driver_sql(f"VACUUM {table}")
            elif table in REWRITTEN_TABLES:
                conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
            else:
                conn.exec_driver_sql(f"ANALYZE {table}")
    return {"schemas": list(MAINTAINED_SCHEMAS), "tables": len(tables) - len(staging),
            "vacuumed": len(staging) + len(REWRITTEN_TABLES), "profiles_refreshed": profiles,
            "elapsed_ms": int((time.monotonic() - started) * 1000)}


def _small(result: object) -> dict:
    """Whatever a publishing function returns, as a small JSON-able dict for XCom."""
    if result is None:
        return {}
    if callable(getattr(result, "as_dict", None)):
        result = result.as_dict()
    elif dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    elif isinstance(result, int | float):
        result = {"count": result}
    elif not isinstance(result, dict):
        result = {"result": str(result)}
    small = json.loads(json.dumps(result, default=str, ensure_ascii=False))
    for key, value in list(small.items()):
        if isinstance(value, list) and len(value) > LIST_ITEMS:
            small[key], small[f"{key}_total"] = value[:LIST_ITEMS], len(value)
    return small


def expire_publicity() -> dict:
    """Close the publicity windows that have run out (etl.publish decides which and records why)."""
    # Imported when run: etl.publish is written alongside and must not break DAG parsing meanwhile.
    from etl.publicity.outbox import expire_publicity_windows
    from etl.warehouse import get_engine

    return _small(expire_publicity_windows(get_engine()))


def reconcile(platform: str) -> dict:
    """Compare what an upstream platform (provincial or national) holds with what was sent to it."""
    from etl.publish.reconcile import reconcile as reconcile_platform
    from etl.warehouse import get_engine

    return _small(reconcile_platform(get_engine(), platform))


# -- publishing and indicators (thin calls for the publish and indicators DAGs) ---------------------------


def push_publicity(platform: str) -> dict:
    """Send a platform's pending 双公示 items and record its receipts; `stopped` says why a run gave up."""
    from etl.publish.push import push_publicity as push
    from etl.warehouse import get_engine

    return _small(push(get_engine(), platform))


def return_rejections() -> dict:
    """Write the records the platforms rejected back to their departments, as workbooks."""
    from etl.feedback import write_platform_rejections
    from etl.warehouse import get_engine

    paths = write_platform_rejections(get_engine())
    return _small({"workbooks": len(paths), "paths": [str(p) for p in paths]})


def take_indicator_items() -> dict:
    """Read the credit office's monitoring-item files (credit_office/ in the drop directory). A refused file is
    logged as a warning with every wrong row and kept in audit.indicator_item_file; the indicators are computed
    without it (the office drops a corrected file)."""
    from etl.indicators.items import take_office_items
    from etl.warehouse import get_engine

    outcomes = take_office_items(get_engine())
    for outcome in outcomes:
        log.log(logging.WARNING if outcome.status == BatchStatus.REFUSED else logging.INFO, "%s", outcome.describe())
    return _small({"files": len(outcomes), "refused": sum(o.status == BatchStatus.REFUSED for o in outcomes),
                   "rows_loaded": sum(o.rows_loaded for o in outcomes)})


def push_indicator_items() -> dict:
    """Deliver the monitoring items not yet accepted to the national monitoring platform."""
    from etl.indicators.items import push_indicator_items as push
    from etl.warehouse import get_engine

    return _small(push(get_engine()))


def compute_indicators(period: str) -> dict:
    """Compute the month's city credit monitoring indicators (YYYY-MM) and store them."""
    from etl.indicators.compute import compute_indicators as compute
    from etl.warehouse import get_engine

    return _small(compute(get_engine(), period))


def push_indicators(period: str) -> dict:
    """Submit the month's indicator values to the national monitoring platform."""
    from etl.publish.indicators import push_indicators as push
    from etl.warehouse import get_engine

    return _small(push(get_engine(), period))
