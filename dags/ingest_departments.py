"""Ingest DAGs: one `ingest_<department>` per department of the catalog, all generated in this file.

A DAG runs at each of its department's feed schedules (cron in Asia/Shanghai, from
`etl/catalog/departments.yml`). A scheduled run takes the feeds due at that minute; a manual run
takes every feed. Per feed (a task group mapped over the department's feeds; REST API feeds in
`api_feed`, whose extract holds a `department_api` pool slot):

`extract_feed` → `stage_batch` → `validate_batch`; then one `audit_batches` for the whole run (the Great
Expectations audit gate of every validated batch: GX is imported once per run, not once per feed); then
per feed again, in the `load` group, `load_batch` → `write_feedback`.

`extract_feed` first finishes what an earlier run left unfinished, then lands the sources new
since the feed's watermark and hands their batch ids on; each later task takes those batches one
step further (`etl.jobs`, the same code as `creditwh ingest`). Every step can be retried: the
batch's status in `audit.batch` says what is done. An unreachable source fails `extract_feed`, to
be retried with back-off; a feed whose connection is not configured fails at once (no retry can help).
Held batches are not failures: they wait for `creditwh release` after
review and show in `mart.v_pipeline_health`.

`feeds_failed` fails the run when any step of any feed failed (it is skipped otherwise): the other feeds
go on, and the run does not end green over a failed feed.

`announce_<record_type>` updates the asset `x-creditwh://warehouse/dw/fact_credit_record/<type>`
when the run loaded new or changed rows of that type (it is skipped otherwise), for the publish DAG.

A mistake in the catalog fails this file's import with the catalog file and field named: no
ingest DAG is generated from a half-valid catalog.
"""

from __future__ import annotations

from _common import POOL_DEPARTMENT_API, dag_defaults, local_schedule, record_type_asset, told
from airflow.sdk import (
    dag,
    get_current_context,
    get_parsing_context,
    task,
    task_group,
)
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from etl import config
from etl.catalog import Department, load_catalog
from etl.errors import UserError


class SourceUnavailable(RuntimeError):
    """The department's source could not be read; the task is retried with back-off."""


def _label(feed_code: str) -> None:
    # Shown instead of the map index in the UI ("penalty" rather than "2").
    get_current_context()["feed"] = feed_code


@task(multiple_outputs=False, map_index_template="{{ feed }}")
def extract_feed(department_code: str, feed_code: str) -> dict:
    """Finish unfinished batches, then land the sources new since the feed's watermark."""
    from etl import jobs

    _label(feed_code)
    context = get_current_context()
    run, at = context["dag_run"], context.get("logical_date")
    if run.run_type == "scheduled" and at is not None and not jobs.feed_is_due(department_code, feed_code, at):
        raise AirflowSkipException(f"feed {feed_code} is not due at {at} (Asia/Shanghai schedule)")
    result = jobs.extract_feed(department_code, feed_code)
    if result["setup_errors"]:
        # Retrying cannot help until a person configures it: fail now, with what to do.
        raise AirflowFailException(f"{department_code}/{feed_code}: " + "; ".join(result["setup_errors"]))
    if result["source_errors"]:
        raise SourceUnavailable(f"{department_code}/{feed_code}: " + "; ".join(result["source_errors"]))
    return told(result)


@task(multiple_outputs=False, map_index_template="{{ feed }}")
def stage_batch(extracted: dict) -> dict:
    """Parse each landed batch into staging."""
    from etl import jobs

    _label(extracted["feed"])
    return told({**extracted, **jobs.stage_batches(extracted["batch_ids"])})


@task(multiple_outputs=False, map_index_template="{{ feed }}")
def validate_batch(staged: dict) -> dict:
    """Quarantine failing rows and hold suspicious batches, by the catalog's rules."""
    from etl import jobs

    _label(staged["feed"])
    return told({**staged, **jobs.validate_batches(staged["batch_ids"])})


def _results(groups) -> list[dict]:
    """The results of mapped tasks (a lone map index arrives as itself; a failed one as nothing)."""
    found: list[dict] = []
    for group in groups:
        found.extend([group] if isinstance(group, dict) else [r for r in group or [] if r])
    return found


@task(multiple_outputs=False, trigger_rule="all_done")
def audit_batches(*validated) -> list[dict]:
    """The Great Expectations audit gate of every batch this run validated, and their Data Docs pages; hands
    each feed on to its load (a feed whose earlier step failed has nothing to hand on)."""
    from etl import jobs

    feeds = _results(validated)
    audited = jobs.audit_batches([batch_id for feed in feeds for batch_id in feed["batch_ids"]])
    for feed in feeds:
        told({**feed, "batches": [b for b in audited["batches"] if b["batch_id"] in feed["batch_ids"]]})
    return feeds


@task(multiple_outputs=False, map_index_template="{{ feed }}")
def load_batch(validated: dict) -> dict:
    """Load each validated batch into the star schema in one transaction."""
    from etl import jobs

    _label(validated["feed"])
    return told({**validated, **jobs.load_batches(validated["batch_ids"])})


@task(multiple_outputs=False, map_index_template="{{ feed }}")
def write_feedback(loaded: dict) -> dict:
    """Send rejected rows back to the department as a workbook."""
    from etl import jobs

    _label(loaded["feed"])
    return told({**loaded, **jobs.write_feedback(loaded["batch_ids"])})


@task(multiple_outputs=False, trigger_rule="all_done")
def announce_loaded(record_type: str, *loads) -> dict:
    """Update the record type's asset when this run loaded new or changed rows of it; skip otherwise."""
    rows = sum(batch["rows_loaded"] for result in _results(loads) if result.get("record_type") == record_type
               for batch in result.get("batches", []) if batch["status"] == "loaded")
    if not rows:
        raise AirflowSkipException(f"no new or changed {record_type} rows in this run")
    return told({"record_type": record_type, "rows_loaded": rows})


@task(multiple_outputs=False, trigger_rule="one_failed", retries=0)
def feeds_failed() -> None:
    """Fails the run when any step of any feed failed: the other feeds still went on (the announce tasks run
    whatever happened), and without this the run would end green. Skipped when nothing failed."""
    raise AirflowFailException("一个或多个数据源的步骤失败，见失败任务的日志 / a step of one or more feeds failed; "
                               "see the failed tasks' logs")


@task_group
def feed_checks(feed_code: str, department_code: str, pool: str | None) -> object:
    """One feed up to the audit: extract, stage, validate."""
    extract = extract_feed.override(pool=pool) if pool else extract_feed
    return validate_batch(stage_batch(extract(department_code, feed_code)))


@task_group
def feed_load(validated: dict) -> object:
    """One feed after the audit: load, feedback."""
    loaded = load_batch(validated)
    write_feedback(loaded)
    return loaded


def _schedule(department: Department):
    return local_schedule(*sorted({feed.schedule for feed in department.feeds}))


def build_ingest_dag(department: Department):
    """The ingest DAG of one department."""
    api = [f.code for f in department.feeds if f.transport == "api"]
    other = [f.code for f in department.feeds if f.transport != "api"]
    record_types = sorted({f.record_type for f in department.feeds})

    @dag(dag_id=f"ingest_{department.code}", schedule=_schedule(department),
         dag_display_name=f"ingest_{department.code} · {department.name_zh}",
         description=f"Ingest {department.name_en} ({department.name_zh}): "
                     + ", ".join(f"{f.code} ({f.transport}, {f.schedule})" for f in department.feeds),
         **dag_defaults(__doc__, "ingest", f"department:{department.code}"))
    def ingest():
        validated = []
        if other:
            validated.append(feed_checks.override(group_id="feed")
                             .partial(department_code=department.code, pool=None).expand(feed_code=other))
        if api:
            validated.append(feed_checks.override(group_id="api_feed")
                             .partial(department_code=department.code, pool=POOL_DEPARTMENT_API)
                             .expand(feed_code=api))
        loads = feed_load.override(group_id="load").expand(validated=audit_batches(*validated))
        for record_type in record_types:
            announce_loaded.override(task_id=f"announce_{record_type}",
                                     outlets=[record_type_asset(record_type)])(record_type, loads)

    built = ingest()
    with built:  # the watcher of the run: downstream of every other task
        watcher = feeds_failed().operator
        for other_task in built.tasks:
            if other_task is not watcher:
                other_task >> watcher
    return built


def _catalog():
    try:
        return load_catalog()
    except UserError as exc:
        # Fails the whole file: the import error names the catalog file and field; no DAG is half-made.
        raise UserError(f"{exc} (catalog directory {config.settings().catalog_dir})") from None


# A worker running one task needs only that task's DAG (the whole catalog is still read and checked).
_only = get_parsing_context().dag_id
for _department in _catalog().departments:
    if _only is None or _only == f"ingest_{_department.code}":
        globals()[f"ingest_{_department.code}"] = build_ingest_dag(_department)
