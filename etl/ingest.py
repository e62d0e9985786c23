"""Ingest a department: extract each feed, land the sources, then stage → validate → load each batch.

Each step has one implementation here, used by the CLI (`ingest_feed`, a whole feed in one process)
and by Airflow tasks (`etl.jobs`, one step per task, possibly on different workers):

- `extract_and_land` — pull new sources from the feed's watermark and land their bytes as batches;
- `stage_step` → `validate_step` (rules, then Great Expectations) → `load_step` — each first makes
  sure the steps before it are done, so calling the last one takes a batch all the way;
- `with_feedback` — the rejected rows go back to the department as a workbook.

Restart-safe: `audit.batch.status` says where a batch is, and every step re-run after a crash or a
task retry finds its work committed (and does nothing) or not (and does it). Staging tables are
UNLOGGED: a server crash empties them, so a step that finds a staged batch's rows gone stages it
again from the landed bytes. A feed first finishes any batch an earlier run left unfinished, then
extracts from its watermark, which moves only when a load commits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import multiprocessing
import multiprocessing.connection
import os
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl import config
from etl.catalog import Catalog, Department, Feed
from etl.config import CHINA
from etl.errors import UserError
from etl.extract.base import Connector, FeedContext
from etl.extract.errors import SourceError
from etl.extract.file import DropChanged, DropFolder, DropNotice, DropRefused, FileConnector, locate_dropped_file
from etl.faults import crash_point
from etl.feedback import feedback_path, write_feedback
from etl.land import Batch, land, read_batch, remove_work_file
from etl.load import load_batch, refresh_subject_profiles
from etl.locks import feed_lock
from etl.personal import mask_text
from etl.stage import UnreadableSource, stage_batch
from etl.stage.tables import clean_table, staging_table
from etl.status import RETURNED, UNFINISHED, BatchStatus
from etl.validate import check_with_great_expectations, validate_batch

log = logging.getLogger(__name__)
# A pool worker's exit status when the process that started it has gone.
EXIT_COORDINATOR_GONE = 70


@dataclass(frozen=True)
class BatchOutcome:
    department: str
    feed: str
    batch_id: int | None
    source_name: str
    status: str
    rows_in: int = 0
    rows_loaded: int = 0
    rows_unchanged: int = 0
    rows_quarantined: int = 0
    reason: str | None = None
    feedback: Path | None = None


@dataclass(frozen=True)
class Extraction:
    """What one extract of a feed produced: landed batches (new, or known bytes again) and source errors."""

    batches: list[Batch] = field(default_factory=list)
    errors: list[BatchOutcome] = field(default_factory=list)
    notices: list[BatchOutcome] = field(default_factory=list)  # drop-folder entries not taken, and why


def connector_for(feed: Feed) -> Connector:
    if feed.transport == "file":
        return FileConnector(settle_seconds=config.settings().file_settle_seconds)
    if feed.transport == "api":
        from etl.extract.api import ApiConnector

        return ApiConnector()
    from etl.extract.sql import SqlConnector

    return SqlConnector()


# -- where a batch is ---------------------------------------------------------------------------------


def batch_state(engine: Engine, batch_id: int) -> sa.Row:
    """The batch's row in audit.batch: status, counts, reason, release and GX bookkeeping."""
    with engine.connect() as conn:
        return conn.execute(sa.text("""
            SELECT batch_id, department_code, feed_code, source_name, status, status_reason, released_at,
                   rows_in, rows_loaded, rows_unchanged, rows_quarantined, gx_success
              FROM audit.batch WHERE batch_id = :b
        """), {"b": batch_id}).one()


def outcome_of(state: sa.Row, status: str | None = None) -> BatchOutcome:
    """A batch's outcome as audit.batch records it."""
    return BatchOutcome(state.department_code, state.feed_code, state.batch_id, state.source_name,
                        status or state.status, state.rows_in, state.rows_loaded, state.rows_unchanged,
                        state.rows_quarantined, state.status_reason)


def _work_present(engine: Engine, catalog: Catalog, batch: Batch, state: sa.Row) -> tuple[bool, bool]:
    """(staging rows present, clean rows present) for a staged or validated batch.

    Staging and clean tables are UNLOGGED: a server crash truncates them whole, while the batch's
    status (logged) survives. A batch whose rows all failed to parse has nothing to find.
    """
    record_type = catalog.record_type_by_code[batch.record_type_code]
    with engine.connect() as conn:
        found = conn.execute(sa.text(f"""
            SELECT (SELECT count(DISTINCT row_no) FROM audit.quarantine
                     WHERE batch_id = :b AND rule = 'parse') AS parse_failed,
                   EXISTS (SELECT 1 FROM {staging_table(record_type)} WHERE batch_id = :b) AS staged,
                   EXISTS (SELECT 1 FROM {clean_table(record_type)} WHERE batch_id = :b) AS clean
        """), {"b": batch.batch_id}).one()
    nothing_to_find = state.rows_in - found.parse_failed <= 0
    return nothing_to_find or found.staged, nothing_to_find or found.clean


def _fail(engine: Engine, batch: Batch, reason: str) -> BatchOutcome:
    reason = mask_text(reason)
    with engine.begin() as conn:
        conn.execute(sa.text("""
            UPDATE audit.batch SET status = 'failed', status_reason = :reason, updated_at = now()
             WHERE batch_id = :b
        """), {"reason": reason, "b": batch.batch_id})
    return BatchOutcome(batch.department_code, batch.feed_code, batch.batch_id, batch.source_name, BatchStatus.FAILED,
                        reason=reason)


# -- the steps ----------------------------------------------------------------------------------------


def stage_step(engine: Engine, catalog: Catalog, batch: Batch) -> BatchOutcome:
    """Stage a landed batch (again, if a crash emptied its staging rows); settled batches are left alone."""
    state = batch_state(engine, batch.batch_id)
    if state.status not in UNFINISHED:
        return outcome_of(state)
    if state.status == BatchStatus.LANDED or not _work_present(engine, catalog, batch, state)[0]:
        try:
            stage_batch(engine, batch, catalog)
        except UnreadableSource as exc:
            return _fail(engine, batch, str(exc))
        state = batch_state(engine, batch.batch_id)
    return outcome_of(state)


def validate_step(engine: Engine, catalog: Catalog, batch: Batch, *, run_gx: bool = True) -> BatchOutcome:
    """Check a staged batch: the catalog's rules (quarantine, batch holds), then its GX suite. With
    `run_gx=False` the suite is left for later: the batch stays validated without a GX verdict, and the
    next step to take it (`load_step`) runs the suite first."""
    staged = stage_step(engine, catalog, batch)
    if staged.status not in (BatchStatus.STAGED, BatchStatus.VALIDATED):
        return staged
    state = batch_state(engine, batch.batch_id)
    if state.status == BatchStatus.STAGED or not _work_present(engine, catalog, batch, state)[1]:
        with engine.begin() as conn:
            # A GX verdict belongs to one validation: cleared, so a crash before GX runs is noticed below.
            conn.execute(sa.text("UPDATE audit.batch SET gx_success = NULL, gx_ms = NULL, gx_data_docs = NULL "
                                 "WHERE batch_id = :b"), {"b": batch.batch_id})
        validation = validate_batch(engine, batch, catalog, released=state.released_at is not None)
        if validation.held:
            return outcome_of(batch_state(engine, batch.batch_id))
        state = batch_state(engine, batch.batch_id)
    if run_gx and config.settings().gx and state.gx_success is None:
        check_with_great_expectations(engine, batch)
        state = batch_state(engine, batch.batch_id)
    return outcome_of(state)


def load_step(engine: Engine, catalog: Catalog, batch: Batch) -> BatchOutcome:
    """Load a validated batch into the warehouse (validating, and staging, first if that is still to do)."""
    validated = validate_step(engine, catalog, batch)
    if validated.status != "validated":
        return validated
    load_batch(engine, batch, catalog)
    return outcome_of(batch_state(engine, batch.batch_id))


def process_batch(engine: Engine, catalog: Catalog, batch: Batch) -> BatchOutcome:
    """Take one batch as far as it can go: loaded, held for review, or failed with a reason."""
    with feed_lock(engine, batch.department_code, batch.feed_code):
        return _process_batch(engine, catalog, batch)


def _process_batch(engine: Engine, catalog: Catalog, batch: Batch) -> BatchOutcome:
    state = batch_state(engine, batch.batch_id)
    if state.status == "loaded":
        # The same bytes arrived again: recognised, not loaded twice.
        return BatchOutcome(batch.department_code, batch.feed_code, batch.batch_id, batch.source_name,
                            BatchStatus.ALREADY_LOADED, reason=f"same bytes as batch {batch.batch_id}, loaded before")
    if state.status not in UNFINISHED:
        return replace(outcome_of(state), rows_loaded=0, rows_unchanged=0)
    return load_step(engine, catalog, batch)


def render_data_docs(engine: Engine) -> None:
    """Render the Data Docs pages of the validations stored since the last call, in one build, and the site around
    them (etl.validate.data_docs: offline assets, each batch's summary, the index).

    Called once per ingest run or department (CLI) or per feed's validate task (Airflow), not per batch: GX compiles
    its page templates once per build. A page that cannot be rendered is logged and left for the next
    call or the nightly docs build; the data is unaffected.
    """
    if not config.settings().gx:
        return
    from etl.validate.data_docs import build_site

    try:
        build_site(engine, config.settings().data_docs_dir)
    except Exception:  # noqa: BLE001 - reporting must not fail a load that committed
        log.warning("Great Expectations Data Docs pages could not be rendered now; the next build retries",
                    exc_info=True)


def unfinished_batches(engine: Engine, department: Department, feed: Feed) -> list[int]:
    """Batches of the feed an earlier run left landed, staged or validated, oldest first."""
    with engine.connect() as conn:
        return list(conn.scalars(sa.text("""
            SELECT batch_id FROM audit.batch
             WHERE department_code = :d AND feed_code = :f AND status IN ('landed', 'staged', 'validated')
             ORDER BY batch_id
        """), {"d": department.code, "f": feed.code}))


def finish_unfinished(engine: Engine, catalog: Catalog, department: Department, feed: Feed) -> list[BatchOutcome]:
    """Take what an earlier run left unfinished all the way, before the watermark is read for a new extract."""
    return [process_batch(engine, catalog, read_batch(engine, batch_id))
            for batch_id in unfinished_batches(engine, department, feed)]


def _watermark(engine: Engine, department: Department, feed: Feed) -> str | None:
    with engine.connect() as conn:
        return conn.scalar(sa.text(
            "SELECT watermark_value FROM audit.watermark WHERE department_code = :d AND feed_code = :f"),
            {"d": department.code, "f": feed.code})


@functools.cache
def expected_interval(schedule: str) -> dt.timedelta:
    """The longest gap between two consecutive firings of a cron schedule (Asia/Shanghai), over 50 firings;
    computed once per schedule and process (7 ms each, paid by every extract of every feed before)."""
    from croniter import croniter

    firings = croniter(schedule, dt.datetime(2026, 1, 5, tzinfo=CHINA))
    times = [firings.get_next(dt.datetime) for _ in range(51)]
    return max(later - earlier for earlier, later in zip(times, times[1:], strict=False))


def record_extract(engine: Engine, department: Department, feed: Feed, error: str | None = None) -> None:
    """Note in audit.feed_status that the feed's source was read (or could not be), with its schedule."""
    with engine.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO audit.feed_status AS s (department_code, feed_code, record_type_code, transport, schedule_cron,
                                                expected_interval, last_extract_at, last_error_at, last_error)
            VALUES (:d, :f, :rt, :transport, :cron, make_interval(secs => :seconds),
                    CASE WHEN CAST(:error AS text) IS NULL THEN now() END,
                    CASE WHEN CAST(:error AS text) IS NOT NULL THEN now() END, CAST(:error AS text))
            ON CONFLICT (department_code, feed_code) DO UPDATE
               SET record_type_code = EXCLUDED.record_type_code, transport = EXCLUDED.transport,
                   schedule_cron = EXCLUDED.schedule_cron, expected_interval = EXCLUDED.expected_interval,
                   last_extract_at = coalesce(EXCLUDED.last_extract_at, s.last_extract_at),
                   last_error_at = coalesce(EXCLUDED.last_error_at, s.last_error_at),
                   last_error = CASE WHEN EXCLUDED.last_error_at IS NULL THEN s.last_error ELSE EXCLUDED.last_error END,
                   updated_at = now()
        """), {"d": department.code, "f": feed.code, "rt": feed.record_type, "transport": feed.transport,
               "cron": feed.schedule, "seconds": expected_interval(feed.schedule).total_seconds(), "error": error})


def extract_and_land(engine: Engine, department: Department, feed: Feed, *, file_drop_dir: Path | None = None,
                     only_file: str | None = None) -> Extraction:
    """Extract new sources past the feed's watermark and land each as a batch (known bytes find their batch).
    A drop folder's entries that are not taken come back as notices (and are recorded: `record_drop_notices`);
    `only_file` names the one dropped file to take."""
    with feed_lock(engine, department.code, feed.code):
        return _extract_and_land(engine, department, feed, file_drop_dir, only_file)


def _extract_and_land(engine: Engine, department: Department, feed: Feed, file_drop_dir: Path | None,
                      only_file: str | None) -> Extraction:
    extraction = Extraction()
    work_root = config.settings().var_dir / "work"
    work_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_root, prefix=f"{department.code}-{feed.code}-") as work:
        work_dir = Path(work)
        context = FeedContext(department=department, feed=feed, watermark=_watermark(engine, department, feed),
                              work_dir=work_dir, file_drop_dir=file_drop_dir)
        connector = connector_for(feed)
        try:
            sources = connector.extract(context)
        except SourceError as exc:
            log.warning("%s/%s: %s", department.code, feed.code, exc)
            extraction.errors.append(BatchOutcome(department.code, feed.code, None, "(extract)",
                                                  BatchStatus.SOURCE_ERROR, reason=str(exc)))
            sources = []
        except UserError as exc:
            # A setup problem of this feed (its connection is not configured, or cannot be read): reported for
            # the feed, which is not retried until a person fixes it; the department's other feeds go on.
            log.warning("%s/%s: %s", department.code, feed.code, exc)
            extraction.errors.append(BatchOutcome(department.code, feed.code, None, "(extract)",
                                                  BatchStatus.SETUP_ERROR, reason=str(exc)))
            sources = []
        notices = list(getattr(connector, "notices", []))
        if only_file is not None:
            sources = [s for s in sources if s.source_name == only_file]
            notices = [n for n in notices if n.name == only_file]
        for source in sources:
            try:
                extraction.batches.append(land(engine, department, feed, source))
            except DropRefused as exc:
                notices.append(_refusal(department, feed, source.source_name, exc))
                continue
            except DropChanged:
                notices.append(_changed_while_read(department, feed, source.source_name))
                continue
            crash_point("land.after_commit")
            remove_work_file(source, work_dir)
    for notice in notices:  # to the log file; the command's summary shows each once
        log.info("%s/%s: %s: %s", department.code, feed.code, mask_text(notice.name), mask_text(notice.reason))
    if feed.transport == "file":
        record_drop_notices(engine, department, notices, getattr(connector, "scan_notices", notices))
    extraction.notices.extend(BatchOutcome(department.code, feed.code, None, mask_text(n.name), n.kind,
                                           reason=mask_text(n.reason)) for n in notices)
    record_extract(engine, department, feed, extraction.errors[0].reason if extraction.errors else None)
    return extraction


def _refusal(department: Department, feed: Feed, name: str, exc: DropRefused) -> DropNotice:
    return DropNotice(department.code, feed.code, name, BatchStatus.REFUSED, exc.reason_zh, exc.reason_en)


def _changed_while_read(department: Department, feed: Feed, name: str) -> DropNotice:
    return DropNotice(department.code, feed.code, name, BatchStatus.WAITING, "文件在读取时发生变化，留待下次读取",
                      "the file changed while it was read; left for the next run")


def record_drop_notices(engine: Engine, department: Department, notices: list[DropNotice],
                        scan_notices: list[DropNotice]) -> None:
    """Record the refused and unmatched entries a feed reports, and resolve the department's open notices for
    entries its folder scan no longer reports (gone, or now a file a feed takes)."""
    recorded = (BatchStatus.REFUSED, BatchStatus.UNMATCHED)
    kept = [n for n in notices if n.kind in recorded]
    still = sorted({n.name for n in scan_notices if n.kind in recorded} | {n.name for n in kept})
    with engine.begin() as conn:
        if kept:
            conn.execute(sa.text("""
                INSERT INTO audit.drop_notice AS n (department_code, entry_name, feed_code, kind, reason_zh, reason_en)
                VALUES (:d, :name, :feed, :kind, :zh, :en)
                ON CONFLICT (department_code, entry_name) DO UPDATE
                   SET feed_code = EXCLUDED.feed_code, kind = EXCLUDED.kind, reason_zh = EXCLUDED.reason_zh,
                       reason_en = EXCLUDED.reason_en, last_seen_at = now(), resolved_at = NULL,
                       first_seen_at = CASE WHEN n.resolved_at IS NULL THEN n.first_seen_at ELSE now() END
            """), [{"d": department.code, "name": n.name, "feed": n.feed, "kind": n.kind, "zh": n.reason_zh,
                    "en": n.reason_en} for n in kept])
        conn.execute(sa.text("""
            UPDATE audit.drop_notice SET resolved_at = now()
             WHERE department_code = :d AND resolved_at IS NULL AND entry_name <> ALL(:still)
        """), {"d": department.code, "still": still})


def ingest_feed(engine: Engine, catalog: Catalog, department: Department, feed: Feed, *,
                file_drop_dir: Path | None = None, only_file: str | None = None) -> list[BatchOutcome]:
    """Finish what an earlier run left, then extract new sources and take each batch through; another run of
    the same feed (another command, an Airflow task) waits until this one is done."""
    with feed_lock(engine, department.code, feed.code):
        finished = [with_feedback(engine, catalog, o) for o in finish_unfinished(engine, catalog, department, feed)]
        extraction = extract_and_land(engine, department, feed, file_drop_dir=file_drop_dir, only_file=only_file)
        return finished + take_through(engine, catalog, extraction)


def take_through(engine: Engine, catalog: Catalog, extraction: Extraction) -> list[BatchOutcome]:
    """An extraction's outcomes: its source errors, then each landed batch taken as far as it goes, in order."""
    outcomes = extraction.errors + extraction.notices + [process_batch(engine, catalog, batch)
                                                          for batch in extraction.batches]
    return [with_feedback(engine, catalog, outcome) for outcome in outcomes]


def with_feedback(engine: Engine, catalog: Catalog, outcome: BatchOutcome) -> BatchOutcome:
    """Rejections go back to the department as a workbook, written once per batch."""
    if outcome.batch_id is None or not (outcome.rows_quarantined or outcome.status in RETURNED):
        return outcome
    path = feedback_path(outcome.department, outcome.feed, outcome.batch_id)
    if not path.exists():
        path = write_feedback(engine, catalog, outcome.batch_id)
    return replace(outcome, feedback=path)


def after_loads(engine: Engine) -> None:
    """What follows an ingest's loads, once: the subject profiles of what they changed, and the Data Docs."""
    refresh_subject_profiles(engine)
    render_data_docs(engine)


def ingest_department(engine: Engine, catalog: Catalog, department: Department, *,
                      file_drop_dir: Path | None = None, render_docs: bool = True) -> list[BatchOutcome]:
    """All feeds of one department; `render_docs=False` leaves the Data Docs pages to the caller."""
    outcomes: list[BatchOutcome] = []
    for feed in department.feeds:
        outcomes.extend(ingest_feed(engine, catalog, department, feed, file_drop_dir=file_drop_dir))
    if render_docs:
        after_loads(engine)
    return outcomes


def ingest_dropped_file(engine: Engine, catalog: Catalog, department: Department, path: Path,
                        file_drop_dir: Path) -> list[BatchOutcome]:
    """One file named by the operator: it must be an entry of the department's drop folder that a feed takes
    now; anything else is a UserError saying why (after recording a refusal, as a scan would)."""
    name = locate_dropped_file(file_drop_dir, department, path)
    scan = DropFolder(file_drop_dir, department, config.settings().file_settle_seconds).scan()
    record_drop_notices(engine, department, scan.notices, scan.notices)
    feed = next((f for f in department.feeds if f.transport == "file"
                 and any(ready == name for ready, _ in scan.ready.get(f.code, []))), None)
    if feed is None:
        notice = next((n for n in scan.notices if n.name in (name, department.code, department.code + "/")), None)
        if notice is None:
            raise UserError(f"{file_drop_dir / department.code} 中没有文件 {name} / there is no file {name} in "
                            f"{file_drop_dir / department.code}")
        folder = file_drop_dir / department.code
        raise UserError(f"{folder} 中的 {notice.name}：{notice.reason_zh} / {notice.name} in {folder}: "
                        f"{notice.reason_en}")
    outcomes = ingest_feed(engine, catalog, department, feed, file_drop_dir=file_drop_dir, only_file=name)
    after_loads(engine)
    return outcomes


def release_batch(engine: Engine, catalog: Catalog, batch_id: int, released_by: str) -> BatchOutcome:
    """After review, let a held batch through: it is staged again from its landed bytes with the catalog as it
    is now (a header mapping or extra_columns added to departments.yml since takes effect), its rows are still
    checked, batch-level holds are lifted."""
    with engine.begin() as conn:
        status = conn.scalar(sa.text("SELECT status FROM audit.batch WHERE batch_id = :b FOR UPDATE"),
                             {"b": batch_id})
        if status is None:
            raise UserError(f"没有批次 {batch_id} / there is no batch {batch_id}; "
                            f"`creditwh status` lists the held ones.")
        if status != "held":
            raise UserError(f"批次 {batch_id} 的状态是 {status}，不是暂扣，只能放行暂扣的批次 / batch {batch_id} is "
                            f"{status}, not held; only held batches can be released.")
        conn.execute(sa.text("""
            UPDATE audit.batch SET status = 'landed', released_at = now(), released_by = :who, updated_at = now()
             WHERE batch_id = :b
        """), {"b": batch_id, "who": released_by})
    try:
        outcome = process_batch(engine, catalog, read_batch(engine, batch_id))
    except BaseException:
        # Whatever stopped it (its landed file gone, the server away), the batch is still held for review.
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE audit.batch SET status = 'held', released_at = NULL, released_by = NULL, "
                                 "updated_at = now() WHERE batch_id = :b AND status IN ('landed', 'staged')"),
                         {"b": batch_id})
        raise
    after_loads(engine)
    return outcome


# What a pool worker keeps open for its whole life (the caller's settings in use).
_worker_life = contextlib.ExitStack()


def _start_worker(settings: config.Settings, coordinator_alive) -> None:
    """Pool worker start-up: run with the caller's settings (given, not read again from the environment); exit
    as soon as the process that started the pool is gone (killed, say) rather than wait for tasks forever,
    holding the caller's output pipes open."""
    _worker_life.enter_context(config.using(settings))

    def watch() -> None:
        multiprocessing.connection.wait([coordinator_alive])  # readable only at EOF: the writer's end closed
        os._exit(EXIT_COORDINATOR_GONE)

    threading.Thread(target=watch, name="watch-coordinator", daemon=True).start()


@functools.cache
def _worker_engine(url: str) -> Engine:
    """A worker's engine, made at its first task and kept for the others (a new engine per feed meant a new
    connection, a server version check and the driver's type lookups for each of ~60 feeds)."""
    from etl.warehouse import get_engine

    return get_engine(url)


def _ingest_feed_in_worker(url: str, department: Department, feed: Feed,
                           file_drop_dir: Path | None) -> list[BatchOutcome]:
    from etl.catalog import catalog

    return ingest_feed(_worker_engine(url), catalog(), department, feed, file_drop_dir=file_drop_dir)


def _render_docs_in_worker(url: str) -> None:
    render_data_docs(_worker_engine(url))


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """Processes for feeds at once, started fresh (spawned: a forked copy of a pooled database connection
    must never be shared with the parent), each with this process's settings and, from its first feed, its own engine.
    A worker imports the pipeline, and GX at its first batch, once for all the feeds it takes."""
    context = multiprocessing.get_context("spawn")
    # Only this process holds the writing end: when it dies, the workers' ends report EOF.
    coordinator_alive, alive = context.Pipe(duplex=False)
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                                 initargs=(config.settings(), coordinator_alive)) as pool:
            yield pool
    finally:
        alive.close()
        coordinator_alive.close()


def ingest_departments(engine: Engine, catalog: Catalog, departments: list[Department], *, workers: int = 1,
                       file_drop_dir: Path | None = None, on_done=None) -> list[BatchOutcome]:
    """Several departments' feeds at once in worker processes (as Airflow runs them), one task per feed (a
    department's feeds are independent, and small tasks keep every worker busy to the end); loads still
    commit one at a time where they touch the shared subject dimension. The Data Docs pages of all of them
    are rendered once at the end, in one build (GX compiles its page templates per build)."""
    if workers <= 1:
        outcomes: list[BatchOutcome] = []
        for department in departments:
            outcomes.extend(ingest_department(engine, catalog, department, file_drop_dir=file_drop_dir,
                                              render_docs=False))
            if on_done:
                on_done(department)
        after_loads(engine)
        return outcomes
    from concurrent.futures import as_completed

    outcomes_by_feed: dict[tuple[str, str], list[BatchOutcome]] = {}
    feeds_left = {d.code: len(d.feeds) for d in departments}
    url = engine.url.render_as_string(hide_password=False)
    with worker_pool(workers) as pool:
        by_future = {pool.submit(_ingest_feed_in_worker, url, department, feed, file_drop_dir): (department, feed)
                     for department in departments for feed in department.feeds}
        for future in as_completed(by_future):
            department, feed = by_future[future]
            outcomes_by_feed[department.code, feed.code] = future.result()
            feeds_left[department.code] -= 1
            if on_done and not feeds_left[department.code]:
                on_done(department)
        # What follows the loads, as after_loads does it; the pages in a worker, which has GX imported already.
        refresh_subject_profiles(engine)
        pool.submit(_render_docs_in_worker, url).result()
    return [o for d in departments for f in d.feeds for o in outcomes_by_feed[d.code, f.code]]
