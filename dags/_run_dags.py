"""Run DAGs with `dag.test()` in this process, in order, and report each as it finishes.

`make run` (simulators/nightly.py) and the DAG end-to-end tests start it as a subprocess, so that Airflow
reads its AIRFLOW_HOME and SQLite metadata database from the environment (and `etl/` never imports
Airflow):

    python dags/_run_dags.py ingest_tax ingest_court publish_publicity
    python dags/_run_dags.py --sync -        # write the folder's DAGs to the metadata, then DAG ids from stdin
    python dags/_run_dags.py --synced -      # DAG ids from stdin, one per line, until it closes

After each DAG run it prints one line `DAG-TEST-DONE {json}` (dag id, state, seconds), and at the end
`DAG-TEST-RESULT [json]` with every run's task states. Reading DAG ids from stdin lets `make run` keep
two runners busy on one metadata database, each taking the next DAG as it finishes one. One of them writes the
folder to the database first (`--sync`, then it prints `DAG-TEST-SYNCED`); the others (`--synced`) parse it
meanwhile and get DAGs once it has, so that runners starting together do not write the same DAGs at once.

`dag.test()` runs each task inside this process and writes no task log file, so the Airflow UI
(`make airflow`, same metadata database) would say "Log file not found" for these runs. Each task's log
is written where the UI reads it (`<base_log_folder>/<log_filename_template>`), as the JSON lines a real
task supervisor writes: Airflow's own lines about the task and everything the task code logs.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

from etl.personal import mask_text
from simulators.nightly import DONE_PREFIX, RESULT_PREFIX, SYNCED_LINE


class _TaskLog(logging.Handler):
    """Log lines of the task running now, as JSON lines in its log file (identity numbers masked)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.file = None

    def write(self, level: str, logger: str, event: str, timestamp: str | None = None) -> None:
        if self.file is None:
            return
        line = {"timestamp": timestamp or time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
                "level": level, "logger": logger, "event": mask_text(event)}
        self.file.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.file.flush()

    def emit(self, record: logging.LogRecord) -> None:  # stdlib logging: the task code's own lines
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        self.write(record.levelname.lower(), record.name, text, stamp)

    def processor(self, _logger, _method, event_dict: dict) -> dict:  # structlog: Airflow's lines about the task
        event = str(event_dict.get("event", ""))
        error = event_dict.get("exc_info") or event_dict.get("exception")
        if isinstance(error, BaseException):
            event += "\n" + "".join(traceback.format_exception(error))
        elif error is True or isinstance(error, tuple):
            event += "\n" + traceback.format_exc()
        self.write(str(event_dict.get("level", "info")), str(event_dict.get("logger", "task")), event,
                   event_dict.get("timestamp"))
        return event_dict


@contextmanager
def task_log_files():
    """While it is open, every task dag.test() runs writes its log file where the UI looks for it."""
    import structlog
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk.execution_time import supervisor
    from airflow.sdk.log import init_log_file
    from airflow.utils.helpers import log_filename_template_renderer
    from airflow.utils.session import create_session

    sink = _TaskLog()
    original = supervisor.run_task_in_process
    render = log_filename_template_renderer()

    def run_with_log_file(ti, task, client=None):  # noqa: ANN001, ANN202 - Airflow's own signature
        with create_session() as session:
            relative = render(ti=session.get(TaskInstance, ti.id))
        with init_log_file(relative).open("a", encoding="utf-8") as sink.file:
            try:
                return original(ti, task, client)
            finally:
                sink.file = None

    config = structlog.get_config()
    processors = list(config["processors"])
    # Just before the renderer: the event has its time, level, logger name and formatted arguments by then.
    structlog.configure(processors=[*processors[:-1], sink.processor, processors[-1]])
    logging.getLogger().addHandler(sink)
    supervisor.run_task_in_process = run_with_log_file
    try:
        yield
    finally:
        supervisor.run_task_in_process = original
        logging.getLogger().removeHandler(sink)
        structlog.configure(processors=processors)


@contextmanager
def dag_folder_synced_once(synced: bool = False):
    """dag.test() parses the whole DAG folder and writes every DAG in it to the metadata database on each call
    (2.7 s of its 10 here; 28 calls in make run). The folder does not change during a run: the first call parses
    and syncs it (none does when `synced`), the later ones get the same parsed folder and skip the identical
    sync."""
    from airflow.dag_processing import dagbag

    parse, sync = dagbag.BundleDagBag, dagbag.sync_bag_to_db
    parsed = {}

    def parse_once(*args, **kwargs):  # noqa: ANN202 - Airflow's own signature
        key = (kwargs.get("dag_folder"), kwargs.get("bundle_name"))
        if key not in parsed:
            parsed[key] = parse(*args, **kwargs)
        return parsed[key]

    def sync_once(bag, *args, **kwargs) -> None:  # noqa: ANN001
        if not synced and not getattr(bag, "_creditwh_synced", False):
            sync(bag, *args, **kwargs)
            bag._creditwh_synced = True

    dagbag.BundleDagBag, dagbag.sync_bag_to_db = parse_once, sync_once
    try:
        yield
    finally:
        dagbag.BundleDagBag, dagbag.sync_bag_to_db = parse, sync


@contextmanager
def dependencies_analysed_once():
    """dag.test()'s in-process Execution API overrides some of its dependencies (authentication, the DAG bag).
    With any override set, FastAPI analyses every dependency of every request again (`get_dependant`: the
    function's signature, a pydantic adapter per parameter): about a tenth of a runner's CPU in make run. The
    analysis of a function is the same each time, so solving a request reuses it (the 64 most recent: the DAG
    bag's override is a new function for every task, and holds that task's DAG bag). Route set-up, which changes
    what it is given, still gets its own."""
    from fastapi.dependencies import utils

    analyse, solving = utils.get_dependant, utils.solve_dependencies.__code__

    @functools.lru_cache(maxsize=64)
    def analysed(arguments: tuple):
        return analyse(**{name: list(value) if isinstance(value, tuple) else value for name, value in arguments})

    def get_dependant(**arguments):  # noqa: ANN202 - FastAPI's own signature
        if sys._getframe(1).f_code is not solving:
            return analyse(**arguments)
        return analysed(tuple(sorted((name, tuple(value) if isinstance(value, list) else value)
                                     for name, value in arguments.items())))

    utils.get_dependant = get_dependant
    try:
        yield
    finally:
        utils.get_dependant = analyse


def sync_dag_folder():
    """What dag.test() writes first (the bundles, then each bundle's DAGs), once, by the first runner for all."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    for bundle in manager.get_all_dag_bundles():
        if not bundle.is_initialized:
            bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        sync_bag_to_db(bag, bundle.name, bundle.version)
    return bag


def main(args: list[str]) -> int:
    from airflow.dag_processing.dagbag import BundleDagBag

    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    syncs = "--sync" in args
    bag = sync_dag_folder() if syncs else BundleDagBag(dags, bundle_path=dags)
    if bag.import_errors:
        print(RESULT_PREFIX + json.dumps({"import_errors": bag.import_errors}))
        return 1
    if syncs:
        print(SYNCED_LINE, flush=True)
    synced = syncs or "--synced" in args
    dag_ids = [a for a in args if not a.startswith("-")]
    if "-" in args:
        dag_ids = (line.strip() for line in sys.stdin if line.strip())
    results = []
    with task_log_files(), dag_folder_synced_once(synced), dependencies_analysed_once():
        for dag_id in dag_ids:
            dag = bag.dags[dag_id]
            # dag.test() in Airflow 3.3.2 fails settling a run of a DAG with deadline alerts (it looks the
            # serialized alerts up as ids); an in-process run has no scheduler to fire them anyway.
            dag.deadline = None
            started = time.monotonic()
            run = dag.test()
            done = {"dag_id": dag_id, "state": str(run.state), "run_id": run.run_id,
                    "seconds": round(time.monotonic() - started, 1)}
            print(DONE_PREFIX + json.dumps(done), flush=True)
            results.append({
                **done, "start_date": run.start_date.isoformat() if run.start_date else None,
                "tasks": {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in run.get_task_instances()},
            })
    print(RESULT_PREFIX + json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
