"""Ingest a department: extract each feed, land the sources, then stage → validate → load each batch.

Restart-safe: a feed first finishes any batch an earlier run left unfinished (landed, staged or
validated), then extracts from its watermark, which moves only when a load commits. Re-running
after a crash at any point gives the warehouse an uninterrupted run would have given.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl import config
from etl.catalog import Catalog, Department, Feed
from etl.errors import UserError
from etl.extract.base import Connector, FeedContext
from etl.extract.errors import SourceError
from etl.faults import crash_point
from etl.feedback import feedback_path, write_feedback
from etl.land import Batch, land, read_batch, remove_work_file
from etl.load import load_batch
from etl.stage import UnreadableSource, stage_batch
from etl.validate import check_with_great_expectations, validate_batch

log = logging.getLogger(__name__)
UNFINISHED = ("landed", "staged", "validated")


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


def connector_for(feed: Feed) -> Connector:
    if feed.transport == "file":
        from etl.extract.file import FileConnector

        return FileConnector(settle_seconds=config.file_settle_seconds())
    if feed.transport == "api":
        from etl.extract.api import ApiConnector

        return ApiConnector()
    from etl.extract.sql import SqlConnector

    return SqlConnector()


def _fail(engine: Engine, batch: Batch, reason: str) -> BatchOutcome:
    with engine.begin() as conn:
        conn.execute(sa.text("""
            UPDATE audit.batch SET status = 'failed', status_reason = :reason, updated_at = now()
             WHERE batch_id = :b
        """), {"reason": reason, "b": batch.batch_id})
    return BatchOutcome(batch.department_code, batch.feed_code, batch.batch_id, batch.source_name, "failed",
                        reason=reason)


def process_batch(engine: Engine, catalog: Catalog, batch: Batch) -> BatchOutcome:
    """Take one batch as far as it can go: loaded, held for review, or failed with a reason."""
    with engine.connect() as conn:
        state = conn.execute(sa.text("""
            SELECT status, status_reason, released_at, rows_in, rows_loaded, rows_unchanged, rows_quarantined
              FROM audit.batch WHERE batch_id = :b
        """), {"b": batch.batch_id}).one()
    if state.status == "loaded":
        # The same bytes arrived again: recognised, not loaded twice.
        return BatchOutcome(batch.department_code, batch.feed_code, batch.batch_id, batch.source_name,
                            "already_loaded", reason=f"same bytes as batch {batch.batch_id}, loaded before")
    if state.status not in UNFINISHED:
        return BatchOutcome(batch.department_code, batch.feed_code, batch.batch_id, batch.source_name,
                            state.status, state.rows_in, 0, 0, state.rows_quarantined, state.status_reason)
    # Staging is UNLOGGED and may be gone after a crash: every unfinished batch is staged afresh.
    try:
        stage_batch(engine, batch, catalog)
    except UnreadableSource as exc:
        return _fail(engine, batch, str(exc))
    validation = validate_batch(engine, batch, catalog, released=state.released_at is not None)
    if validation.held:
        return BatchOutcome(batch.department_code, batch.feed_code, batch.batch_id, batch.source_name, "held",
                            validation.rows_in, 0, 0, validation.rows_quarantined, validation.reason)
    if config.gx_enabled():
        disagreement = check_with_great_expectations(engine, batch)
        if disagreement:
            return BatchOutcome(batch.department_code, batch.feed_code, batch.batch_id, batch.source_name, "held",
                                validation.rows_in, 0, 0, validation.rows_quarantined, disagreement)
    result = load_batch(engine, batch, catalog)
    return BatchOutcome(batch.department_code, batch.feed_code, batch.batch_id, batch.source_name, "loaded",
                        result.rows_in, result.rows_loaded, result.rows_unchanged, result.rows_quarantined)


def _unfinished_batches(engine: Engine, department: Department, feed: Feed) -> list[int]:
    with engine.connect() as conn:
        return list(conn.scalars(sa.text("""
            SELECT batch_id FROM audit.batch
             WHERE department_code = :d AND feed_code = :f AND status IN ('landed', 'staged', 'validated')
             ORDER BY batch_id
        """), {"d": department.code, "f": feed.code}))


def _watermark(engine: Engine, department: Department, feed: Feed) -> str | None:
    with engine.connect() as conn:
        return conn.scalar(sa.text(
            "SELECT watermark_value FROM audit.watermark WHERE department_code = :d AND feed_code = :f"),
            {"d": department.code, "f": feed.code})


def ingest_feed(engine: Engine, catalog: Catalog, department: Department, feed: Feed, *,
                file_drop_dir: Path | None = None, only_file: Path | None = None) -> list[BatchOutcome]:
    """Finish what an earlier run left, then extract new sources and take each batch through."""
    outcomes = [process_batch(engine, catalog, read_batch(engine, batch_id))
                for batch_id in _unfinished_batches(engine, department, feed)]
    work_root = config.var_dir() / "work"
    work_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_root, prefix=f"{department.code}-{feed.code}-") as work:
        work_dir = Path(work)
        context = FeedContext(department=department, feed=feed, watermark=_watermark(engine, department, feed),
                              work_dir=work_dir, file_drop_dir=file_drop_dir)
        try:
            sources = connector_for(feed).extract(context)
        except SourceError as exc:
            log.warning("%s/%s: %s", department.code, feed.code, exc)
            outcomes.append(BatchOutcome(department.code, feed.code, None, "(extract)", "source_error",
                                         reason=str(exc)))
            sources = []
        if only_file is not None:
            sources = [s for s in sources if s.path.resolve() == only_file.resolve()]
        for source in sources:
            batch = land(engine, department, feed, source)
            crash_point("land.after_commit")
            remove_work_file(source, work_dir)
            outcomes.append(process_batch(engine, catalog, batch))
    return [_with_feedback(engine, catalog, outcome) for outcome in outcomes]


def _with_feedback(engine: Engine, catalog: Catalog, outcome: BatchOutcome) -> BatchOutcome:
    """Rejections go back to the department as a workbook, written once per batch."""
    if outcome.batch_id is None or not (outcome.rows_quarantined or outcome.status in ("held", "failed")):
        return outcome
    path = feedback_path(outcome.department, outcome.feed, outcome.batch_id)
    if not path.exists():
        path = write_feedback(engine, catalog, outcome.batch_id)
    return replace(outcome, feedback=path)


def ingest_department(engine: Engine, catalog: Catalog, department: Department, *,
                      file_drop_dir: Path | None = None, only_file: Path | None = None) -> list[BatchOutcome]:
    outcomes: list[BatchOutcome] = []
    for feed in department.feeds:
        if only_file is not None and feed.transport != "file":
            continue
        outcomes.extend(ingest_feed(engine, catalog, department, feed, file_drop_dir=file_drop_dir,
                                    only_file=only_file))
    return outcomes


def release_batch(engine: Engine, catalog: Catalog, batch_id: int, released_by: str) -> BatchOutcome:
    """After review, let a held batch through: rows are still checked, batch-level holds are lifted."""
    with engine.begin() as conn:
        status = conn.scalar(sa.text("SELECT status FROM audit.batch WHERE batch_id = :b FOR UPDATE"),
                             {"b": batch_id})
        if status is None:
            raise UserError(f"There is no batch {batch_id}; `creditwh status` lists the held ones.")
        if status != "held":
            raise UserError(f"Batch {batch_id} is {status}, not held; only held batches can be released.")
        conn.execute(sa.text("""
            UPDATE audit.batch SET status = 'staged', released_at = now(), released_by = :who, updated_at = now()
             WHERE batch_id = :b
        """), {"b": batch_id, "who": released_by})
    return process_batch(engine, catalog, read_batch(engine, batch_id))


def _ingest_in_worker(url: str, department_code: str, file_drop_dir: Path | None) -> list[BatchOutcome]:
    from etl.catalog import catalog
    from etl.warehouse import get_engine

    cat = catalog()
    return ingest_department(get_engine(url), cat, cat.department_by_code[department_code],
                             file_drop_dir=file_drop_dir)


def ingest_departments(engine: Engine, catalog: Catalog, departments: list[Department], *, workers: int = 1,
                       file_drop_dir: Path | None = None, on_done=None) -> list[BatchOutcome]:
    """Several departments at once in worker processes (as Airflow runs them); loads still commit one at a
    time where they touch the shared subject dimension."""
    if workers <= 1:
        outcomes: list[BatchOutcome] = []
        for department in departments:
            outcomes.extend(ingest_department(engine, catalog, department, file_drop_dir=file_drop_dir))
            if on_done:
                on_done(department)
        return outcomes
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    url = engine.url.render_as_string(hide_password=False)
    by_future = {}
    outcomes_by_department: dict[str, list[BatchOutcome]] = {}
    # spawn: a forked copy of a pooled database connection must never be shared with the parent.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for department in departments:
            by_future[pool.submit(_ingest_in_worker, url, department.code, file_drop_dir)] = department
        for future in as_completed(by_future):
            department = by_future[future]
            outcomes_by_department[department.code] = future.result()
            if on_done:
                on_done(department)
    return [o for d in departments for o in outcomes_by_department[d.code]]
