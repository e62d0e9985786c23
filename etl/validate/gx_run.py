"""Run a record type's Great Expectations suite on one batch, inside PostgreSQL, and build Data Docs.

Each process keeps one *ephemeral* GX context (nothing on disk to race on when Airflow runs
batches in parallel) with a SQL data source on the warehouse URL, made at its first validation
and reused, with one table asset per record type that each run points at a view of just the
batch's rows of `staging.<record_type>_clean` about to be loaded (`_audited_rows`). The suite comes from the committed
`expectations/<record_type>.json` (see `etl.validate.gx_suites`), read and checked against the
catalog once per process. All work is pushed down: GX sends each expectation's SQL to the
server and only counts come back (`SUMMARY` results carry no row values, so no personal data
reaches the validation results or the HTML).

Data Docs: the ephemeral context gets a filesystem Data Docs site at `data_docs_dir` and a
filesystem validation-results store at `data_docs_dir/_results` (the JSON of each run). A run
renders its own page, or (`render_page=False`, as the pipeline does) leaves it to
`render_pending_pages`, which renders every stored result without a page in one build: GX compiles
its page templates once per build, so one build per feed costs a fraction of one per batch
(0.2-0.4 s each). `render_suite_pages` renders each record type's suite page. The site around
them (the index, offline assets, each batch's summary) is `etl.validate.data_docs`'; GX's own index
builder is never run: it draws its list with scripts from CDNs, and it deletes the pages of results
and suites it was not shown. Builds are serialised by a lock (threads and processes).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from etl.catalog import RecordType, catalog
from etl.errors import UserError
from etl.quarantine import NOT_QUARANTINED
from etl.stage.tables import clean_table
from etl.validate.gx_suites import GENERATOR_COMMAND, build_suite, load_suite, read_suite_document, suite_path

# add_sql is deliberate (add_postgres rejects socket URLs); GX warns about it once per process.
warnings.filterwarnings("ignore", message="You are using a generic SQLDatasource")

log = logging.getLogger(__name__)


class _ViewNameWarning(logging.Filter):
    """GX warns "unexpected table_selectable type" whenever it reads the columns of a table asset named by a plain
    string, as ours are (then reads them from the catalog all the same): once per batch, about nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "unexpected table_selectable type"


logging.getLogger("great_expectations.expectations.metrics.util").addFilter(_ViewNameWarning())

DATA_SOURCE = "warehouse"
SITE_NAME = "creditwh"
RESULTS_SUBDIR = "_results"

_suites: dict[str, Any] = {}
_suites_lock = threading.Lock()
_docs_lock = threading.Lock()


@dataclass(frozen=True)
class GxOutcome:
    """What GX found in one batch.

    `evaluated` is the number of expectations GX evaluated; `rows` the batch's row count;
    `unexpected` maps (field code, rule) to the number of rows failing it, only where non-zero,
    and is directly comparable with `SELECT field, rule, count(*) FROM audit.quarantine ...`.
    `errors` lists expectations GX could not evaluate (their rows are unknown, success is False).
    """

    record_type: str
    batch_id: int
    success: bool
    evaluated: int
    rows: int | None
    unexpected: dict[tuple[str, str], int]
    elapsed_s: float
    data_docs_page: Path | None = None
    errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def suite_for(record_type_code: str):
    """The record type's suite, read once per process and checked against the catalog.

    The suite object is only read during validation (it is never added to a context), so one
    instance is safely shared by every run and thread of the process.
    """
    with _suites_lock:
        suite = _suites.get(record_type_code)
        if suite is None:
            if record_type_code not in catalog().record_type_by_code:
                raise UserError(f"未知的记录类型 {record_type_code!r} / Unknown record type {record_type_code!r}.")
            path = suite_path(record_type_code)
            if not path.exists():
                raise UserError(f"{path} 不存在，请运行 `{GENERATOR_COMMAND}` / "
                                f"{path} is missing; run `{GENERATOR_COMMAND}`.")
            if read_suite_document(record_type_code) != build_suite(record_type_code):
                raise UserError(f"{path} 与目录中的规则不一致，请运行 `{GENERATOR_COMMAND}` 并提交结果 / "
                                f"{path} no longer matches the catalog's rules; run `{GENERATOR_COMMAND}` "
                                "and commit the result.")
            suite = _suites[record_type_code] = load_suite(record_type_code)
        return suite


def _project_config(data_docs_dir: Path | None):
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    defaults = InMemoryStoreBackendDefaults(init_temp_docs_sites=False)
    stores = dict(defaults.stores)
    sites: dict[str, Any] = {}
    if data_docs_dir is not None:
        stores[defaults.validation_results_store_name] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(data_docs_dir / RESULTS_SUBDIR)},
        }
        sites[SITE_NAME] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(data_docs_dir)},
            # The index is etl.validate.data_docs' own (GX's draws its list with scripts from CDNs); GX's
            # builder is never asked for it, so it deletes no page of a suite or run it was not shown.
            "site_section_builders": {"profiling": "None"},
        }
    return DataContextConfig(store_backend_defaults=defaults, stores=stores, data_docs_sites=sites,
                             analytics_enabled=False, progress_bars=ProgressBarsConfig(globally=False))


def _count_unexpected(result) -> tuple[int | None, dict[tuple[str, str], int], list[str]]:
    from etl.validate.gx_expectations import EXPECTATION_TYPE as RULE_EXPECTATION

    rows: int | None = None
    unexpected: dict[tuple[str, str], int] = {}
    errors: list[str] = []
    for r in result.results:
        config = r.expectation_config
        exception = r.exception_info or {}
        if exception.get("raised_exception"):
            errors.append(f"{config.type}: {exception.get('exception_message')}")
            continue
        if config.type == "expect_table_row_count_to_be_between":
            rows = r.result.get("observed_value")
        elif config.type == RULE_EXPECTATION:
            for broken in r.result["details"]["broken_rules"]:
                unexpected[(broken["field"], broken["rule"])] = int(broken["rows"])
    return rows, unexpected, errors


def _build_docs(context, data_docs_dir: Path, resource_identifiers: list) -> None:
    import fasteners

    data_docs_dir.mkdir(parents=True, exist_ok=True)
    with _docs_lock, fasteners.InterProcessLock(str(data_docs_dir / ".build.lock")):
        context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=resource_identifiers,
                                build_index=False)


def _page_path(data_docs_dir: Path, key) -> Path:
    """Where the site keeps a validation result's page: `validations/` + the key's parts + `.html`.

    The same layout as the results store (`_results/` + parts + `.json`); computed rather than asked
    of GX, which builds a whole site builder for each such question.
    """
    *parts, last = key.to_tuple()
    return data_docs_dir.joinpath("validations", *parts, f"{last}.html")


def _pending_keys(data_docs_dir: Path) -> dict[Path, tuple[str, ...]]:
    """Stored validation results whose page is missing: page path -> the result's key parts. Told from the paths
    alone (the page mirrors the result's path), so a build with nothing to render never imports GX."""
    results = data_docs_dir / RESULTS_SUBDIR
    pending = {}
    for result in results.rglob("*.json"):
        *parts, last = result.relative_to(results).with_suffix("").parts
        page = data_docs_dir.joinpath("validations", *parts, f"{last}.html")
        if not page.exists():
            pending[page] = (*parts, last)
    return pending


def render_pending_pages(data_docs_dir: Path) -> list[Path]:
    """Render the page of every stored validation result that has none yet, in one build; returns them.

    Idempotent and safe in parallel: the pending set is read under the build lock, so two processes
    never render the same page twice, and a crash between storing a result and rendering it only
    leaves the page for the next call.
    """
    import fasteners

    data_docs_dir = Path(data_docs_dir).resolve()
    if not (data_docs_dir / RESULTS_SUBDIR).is_dir():
        return []
    with _docs_lock, fasteners.InterProcessLock(str(data_docs_dir / ".build.lock")):
        pending = _pending_keys(data_docs_dir)
        if pending:
            import great_expectations as gx
            from great_expectations.data_context.types.resource_identifiers import ValidationResultIdentifier

            import etl.validate.gx_expectations  # noqa: F401 - the pages render the rule expectation: registered

            context = gx.get_context(mode="ephemeral", project_config=_project_config(data_docs_dir))
            context.build_data_docs(site_names=[SITE_NAME], build_index=False, resource_identifiers=[
                ValidationResultIdentifier.from_tuple(parts) for parts in pending.values()])
    return sorted(pending)


def render_suite_pages(data_docs_dir: Path) -> list[Path]:
    """The page of each record type's suite (`expectations/<suite>.html`, linked from every validation page),
    rendered when missing or older than the committed suite; returns those rendered."""
    import fasteners

    data_docs_dir = Path(data_docs_dir).resolve()
    with _docs_lock, fasteners.InterProcessLock(str(data_docs_dir / ".build.lock")):
        stale = {}
        for code in catalog().record_type_by_code:
            page = data_docs_dir / "expectations" / f"{read_suite_document(code)['name']}.html"
            if not page.exists() or page.stat().st_mtime < suite_path(code).stat().st_mtime:
                stale[page] = load_suite(code)  # a copy of its own: the context it is added to keeps it
        if stale:
            import great_expectations as gx
            from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

            context = gx.get_context(mode="ephemeral", project_config=_project_config(data_docs_dir))
            for suite in stale.values():
                context.suites.add(suite)
            context.build_data_docs(site_names=[SITE_NAME], build_index=False, resource_identifiers=[
                ExpectationSuiteIdentifier(name=suite.name) for suite in stale.values()])
    return sorted(stale)


# The rows GX audits are a view's, not a query asset's: GX learns a query asset's columns by running the query
# and reading its result's column names, and psycopg2 brings the whole result to the client first (a 396,660-row
# batch: +335 MB, the largest peak of a 3,000,000-record ingest). A table or view's columns come from the catalog.
AUDIT_VIEW_SCHEMA = "staging"


@contextlib.contextmanager
def _audited_rows(engine, record_type: RecordType, batch_id: int) -> Iterator[str]:  # noqa: ANN001 - an Engine
    """A view of the batch's rows about to be loaded (the audit gate of write-audit-publish: those the quarantine
    left), for the length of one GX run; its name."""
    view = f"gx_audit_{int(batch_id)}"
    qualified = f"{AUDIT_VIEW_SCHEMA}.{view}"
    with engine.begin() as conn:
        # Dropped first: one left by a run that crashed may have the clean table's columns of another day.
        conn.execute(sa.text(f"DROP VIEW IF EXISTS {qualified}"))
        conn.execute(sa.text(
            f"CREATE VIEW {qualified} AS "
            f"SELECT n.* FROM {clean_table(record_type)} n WHERE n.batch_id = {int(batch_id)} AND {NOT_QUARANTINED}"))
    try:
        yield view
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP VIEW IF EXISTS {qualified}"))


@dataclass
class _Validator:
    """A GX context and its data source on one warehouse, kept for the process's later validations,
    with one table asset and batch definition per record type (see `batch_definition`)."""

    context: Any
    data_source: Any
    batch_definitions: dict[str, Any] = field(default_factory=dict)

    def batch_definition(self, record_type: RecordType, view: str) -> Any:
        """The record type's batch definition, its asset now reading `view` (see `_audited_rows`).

        GX saves the whole project configuration (as YAML, even in an ephemeral context) whenever an
        asset or batch definition is added or removed: an asset per batch, added and deleted, cost three
        such saves, ~20 ms a batch. The asset is made once; its table is set before each run (runs of a
        process take turns, under `_validators_lock`).
        """
        definition = self.batch_definitions.get(record_type.code)
        if definition is None:
            asset = self.data_source.add_table_asset(f"{record_type.code}_batch", table_name=view)
            definition = self.batch_definitions[record_type.code] = asset.add_batch_definition_whole_table("batch")
        else:
            definition.data_asset.table_name = view
        return definition

    def engines(self) -> list:
        """The SQLAlchemy engines GX made for the data source (its own and its execution engine's)."""
        execution_engine = getattr(self.data_source, "_execution_engine", None)
        return [e for e in (getattr(self.data_source, "_engine", None), getattr(execution_engine, "engine", None))
                if e is not None]


# One per (warehouse URL, Data Docs directory). A new context and data source cost 15-25 ms a batch
# (GX checks the configuration and builds two engines, each opening a connection); GX contexts are not
# thread-safe, so runs of one process take turns (`_validators_lock`).
_validators: dict[tuple[str, Path | None], _Validator] = {}
_validators_lock = threading.RLock()


def _validator(warehouse_url: str, data_docs_dir: Path | None) -> _Validator:
    import great_expectations as gx

    key = (warehouse_url, data_docs_dir)
    validator = _validators.get(key)
    if validator is None:
        context = gx.get_context(mode="ephemeral", project_config=_project_config(data_docs_dir))
        # pool_pre_ping: a kept connection the server has since closed is replaced, not an error.
        data_source = context.data_sources.add_sql(
            DATA_SOURCE, connection_string=warehouse_url,
            # The audited views' schema first: GX names a table asset's schema through the connection.
            kwargs={"pool_pre_ping": True, "connect_args": {
                "application_name": "creditwh-gx", "options": f"-c search_path={AUDIT_VIEW_SCHEMA},public"}})
        validator = _validators[key] = _Validator(context, data_source)
    return validator


def _discard(key: tuple[str, Path | None]) -> None:
    """Forget a validator after a failed run (its state is unknown) and close its connections."""
    validator = _validators.pop(key, None)
    if validator is None:
        return
    for engine in validator.engines():
        try:
            engine.dispose()
        except Exception:  # noqa: BLE001 - cleanup must not hide the outcome
            log.debug("could not close a GX engine", exc_info=True)


def _forget_inherited_validators() -> None:
    # A forked child shares the parent's sockets: it must open its own connections and leave the
    # parent's open (dispose(close=False) drops them from the pools without closing them).
    for validator in _validators.values():
        for engine in validator.engines():
            engine.dispose(close=False)
    _validators.clear()


os.register_at_fork(after_in_child=_forget_inherited_validators)


def run_suite(warehouse_url: str, record_type_code: str, batch_id: int,
              data_docs_dir: Path | None = None, *, render_page: bool = True) -> GxOutcome:
    """Validate batch `batch_id` of `staging.<record_type>_clean` with GX.

    With `data_docs_dir`, the run's result is kept under `data_docs_dir/_results` and `data_docs_page`
    names its HTML page, rendered now or, with `render_page=False`, by the next `render_pending_pages`
    (the site around it: `etl.validate.data_docs`).
    """
    started = time.perf_counter()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    batch_id = int(batch_id)
    data_docs_dir = Path(data_docs_dir).resolve() if data_docs_dir is not None else None
    suite = suite_for(record_type_code)
    record_type = catalog().record_type_by_code[record_type_code]
    timings: dict[str, float] = {}
    mark = time.perf_counter()
    timings["suite"] = mark - started

    with _validators_lock:
        validator = _validator(warehouse_url, data_docs_dir)
        context = validator.context
        try:
            with _audited_rows(validator.data_source.get_engine(), record_type, batch_id) as view:
                batch_definition = validator.batch_definition(record_type, view)
                timings["context"] = time.perf_counter() - mark
                mark = time.perf_counter()

                result = batch_definition.get_batch().validate(suite, result_format="SUMMARY")
                timings["validate"] = time.perf_counter() - mark
                mark = time.perf_counter()
        except BaseException:
            _discard((warehouse_url, data_docs_dir))
            raise

        rows, unexpected, errors = _count_unexpected(result)
        if errors:  # GX reports, rather than raises, what it could not evaluate: start afresh next time
            _discard((warehouse_url, data_docs_dir))
        page = None
        if data_docs_dir is not None:
            run_id = RunIdentifier(run_name=f"batch-{batch_id}", run_time=dt.datetime.now(dt.UTC))
            result.meta["run_id"] = run_id
            result.meta["validation_time"] = run_id.run_time
            result.meta["creditwh"] = {"record_type": record_type_code, "batch_id": batch_id}
            key = ValidationResultIdentifier(expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
                                             run_id=run_id, batch_identifier=result.batch_id)
            context.validation_results_store.set(key, result)
            if render_page:
                _build_docs(context, data_docs_dir, [key])
            page = _page_path(data_docs_dir, key)
            timings["data_docs"] = time.perf_counter() - mark

    outcome = GxOutcome(
        record_type=record_type_code, batch_id=batch_id, success=bool(result.success) and not errors,
        evaluated=int(result.statistics.get("evaluated_expectations", 0)), rows=rows, unexpected=unexpected,
        elapsed_s=time.perf_counter() - started, data_docs_page=page, errors=errors, timings=timings)
    if errors:
        log.warning("GX could not evaluate %d expectations of %s batch %s: %s", len(errors), record_type_code,
                    batch_id, errors[0])
    return outcome
