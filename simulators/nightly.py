"""The main job behind `make run`: the whole nightly cycle on this machine, run by Airflow.

Sets up the warehouse (embedded PostgreSQL unless WAREHOUSE_URL is set), starts the department and
platform simulators on loopback, generates a realistic data set for all 26 departments, then runs
every `ingest_<department>` DAG, `publish_publicity` and `compute_indicators` through Airflow
(`dag.test()` in two child processes taking turns at the DAGs, with their metadata in a database `airflow` of
the embedded server — SQLite under var/airflow and one child when WAREHOUSE_URL is set; `etl/` itself never
imports Airflow) and prints what happened and where to look next.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from queue import Queue

import sqlalchemy as sa

from etl import config
from etl.catalog import catalog
from etl.errors import UserError
from etl.reference import prepare_warehouse
from etl.warehouse import embedded_server, get_engine, redact
from simulators.generate import generate

DAG_RUNNER = config.PROJECT_ROOT / "dags" / "_run_dags.py"
RESULT_PREFIX = "DAG-TEST-RESULT "  # dags/_run_dags.py prints it before its JSON line of run states
DONE_PREFIX = "DAG-TEST-DONE "  # ... and this before each run's JSON line as the run finishes
SYNCED_LINE = "DAG-TEST-SYNCED"  # ... and this once the runner started with --sync has written the DAG folder
AIRFLOW_DATABASE = "airflow"  # make run's Airflow metadata, a database of the embedded server
# DAG runners at once on a server database, as `creditwh ingest --workers 2`: dag.test() runs a DAG's tasks one
# after another in one process, and most of a small DAG's time is Airflow's per-task work (~0.15 s a task).
RUNNERS_ON_A_SERVER = 2


def airflow_metadata_url(home: Path) -> str:
    """Where make run's Airflow keeps its metadata: a database of the embedded server, so that two DAG runners
    write it at once (SQLite takes one writer at a time); with WAREHOUSE_URL set the server is not ours to add
    databases to, and Airflow keeps SQLite under its home (one runner)."""
    if config.settings().warehouse_url:
        return f"sqlite:///{home / 'airflow.db'}"
    server = embedded_server()
    server.start()
    server.ensure_database(AIRFLOW_DATABASE)
    return server.url(AIRFLOW_DATABASE)


def runner_count(env: dict[str, str]) -> int:
    """DAG runners at once: two on a server metadata database, one on SQLite."""
    return 1 if env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite") else RUNNERS_ON_A_SERVER


def airflow_env(base: dict[str, str]) -> dict[str, str]:
    """The environment of every Airflow process of this machine: one home and metadata database (var/airflow)."""
    home = config.settings().var_dir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    return {**base, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(config.PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(config.PROJECT_ROOT / "dags" / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_metadata_url(home),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False", "GX_ANALYTICS_ENABLED": "False",
            # A failed task is retried soon: this is one person's machine, not a department's outage.
            "CREDITWH_AIRFLOW_RETRY_DELAY_SECONDS": "5"}


def _airflow(env: dict[str, str], *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "airflow", *args], env=env, cwd=config.PROJECT_ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _relay(index: int, stream, events: Queue) -> None:
    for line in stream:
        events.put((index, line))
    events.put((index, None))


def _after(line: str, marker: str) -> str | None:
    """What follows a runner's marker in a line of its output, or None. The marker need not begin the line: a
    library may have left a line unended on the same output (stderr goes there too) just before it."""
    at = line.find(marker)
    return None if at < 0 else line[at + len(marker):]


def run_dags(env: dict[str, str], first: list[str], then: list[str], on_done: Callable[[dict], None],
             runner_script: Path = DAG_RUNNER) -> list[dict]:
    """Run the DAGs `first` through Airflow, on as many runner processes at once as the metadata database allows,
    each taking the next DAG as it finishes one; then `then` in order, once every DAG of `first` has ended.
    `on_done` hears of each run as it finishes. The runners start (import Airflow, parse the folder) together;
    the first also writes the DAG folder to the metadata database, and every runner gets DAGs once it has."""
    log_file = config.settings().var_dir / "logs" / "make-run-airflow.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    events: Queue = Queue()
    waiting, later, busy, ended = deque(first), deque(then), set(), set()
    synced = False
    results: list[dict] = []
    import_errors: list = []
    children: list[subprocess.Popen] = []
    with log_file.open("w", encoding="utf-8") as log, ExitStack() as stack:
        def start(*args: str) -> int:
            child = stack.enter_context(subprocess.Popen(
                [sys.executable, str(runner_script), *args], env=env, cwd=config.PROJECT_ROOT, text=True,
                bufsize=1, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            threading.Thread(target=_relay, args=(len(children), child.stdout, events), daemon=True).start()
            children.append(child)
            return len(children) - 1

        def close(index: int) -> None:
            if not children[index].stdin.closed:
                with contextlib.suppress(OSError):  # a runner that died: its end of output says so
                    children[index].stdin.close()  # the runner prints its results and ends

        def give(index: int, dag_id: str) -> None:
            busy.add(index)
            with contextlib.suppress(OSError):  # it died meanwhile (a broken pipe): its end of output ends the night
                children[index].stdin.write(dag_id + "\n")
                children[index].stdin.flush()

        def next_for(index: int) -> None:
            """An idle runner: the next DAG of `first`; of `then` once no runner is busy; or its stdin closed."""
            if waiting:
                give(index, waiting.popleft())
            elif later and not busy:
                give(index, later.popleft())
                for other in range(len(children)):
                    if other != index:
                        close(other)
            elif not later:
                close(index)

        def stop_giving() -> None:
            waiting.clear()
            later.clear()
            for index in range(len(children)):
                close(index)

        start("--sync", "-")  # every child is a runner; the first also writes the folder
        for _ in range(runner_count(env) - 1):
            start("--synced", "-")
        while len(ended) < len(children):
            index, line = events.get()
            if line is None:
                ended.add(index)
                if index in busy or not synced:  # a runner died, or one ended before the folder was written
                    busy.discard(index)
                    stop_giving()
                continue
            log.write(line)
            if _after(line, SYNCED_LINE) is not None and not import_errors:  # the folder is written
                synced = True
                for runner in range(len(children)):
                    next_for(runner)
            elif (done := _after(line, DONE_PREFIX)) is not None:
                busy.discard(index)
                on_done(json.loads(done))
                next_for(index)
            elif (result := _after(line, RESULT_PREFIX)) is not None:
                document = json.loads(result)
                if isinstance(document, dict) and document.get("import_errors"):
                    import_errors.append(document["import_errors"])
                    stop_giving()
                else:
                    results.extend(document)
        returncodes = [child.wait() for child in children]
    if import_errors:
        raise UserError(f"DAG 文件导入失败：{import_errors[0]} / DAG files failed to import: {import_errors[0]}")
    if any(returncodes) or len(results) < len(first) + len(then):
        raise UserError(f"Airflow 运行未完成，其输出见 {log_file} / "
                        f"The Airflow runs did not complete; the Airflow output is in {log_file}.")
    return sorted(results, key=lambda run: run["start_date"] or "")


def _items_summary(conn: sa.Connection) -> str:
    rows = conn.execute(sa.text("""
        SELECT i.item_type, count(*) FILTER (WHERE d.status = 'accepted') AS accepted, count(*) AS items
          FROM dw.indicator_item i
          LEFT JOIN outbox.indicator_item_delivery d ON d.item_id = i.item_id AND d.content_hash = i.content_hash
         GROUP BY i.item_type ORDER BY i.item_type
    """)).all()
    return ", ".join(f"{r.item_type} {r.accepted}/{r.items}" for r in rows) or "none"


def _publicity_summary(conn: sa.Connection) -> str:
    rows = conn.execute(sa.text("""
        SELECT platform, count(*) FILTER (WHERE status = 'accepted') AS accepted,
               count(*) FILTER (WHERE status = 'rejected') AS rejected,
               count(*) FILTER (WHERE status IN ('pending', 'sent')) AS waiting
          FROM outbox.publicity_item GROUP BY platform ORDER BY platform
    """)).all()
    return "\n".join(f"   {r.platform}: {r.accepted} accepted, {r.rejected} rejected, {r.waiting} waiting"
                     for r in rows) or "   nothing to publish"


def _run_line(engine: sa.Engine, run: dict, since: float) -> str:
    """One line per finished DAG run: its name, state, what it moved and how long it took."""
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=time.monotonic() - since)
    with engine.connect() as conn:
        if run["dag_id"].startswith("ingest_"):
            row = conn.execute(sa.text("""
                SELECT count(*) AS batches, coalesce(sum(rows_in), 0) AS rows_in,
                       coalesce(sum(rows_loaded), 0) AS loaded, coalesce(sum(rows_quarantined), 0) AS quarantined,
                       count(*) FILTER (WHERE status = 'held') AS held
                  FROM audit.batch WHERE department_code = :d AND updated_at >= :t
            """), {"d": run["dag_id"].removeprefix("ingest_"), "t": started}).one()
            moved = (f"{row.batches} batches, {row.rows_in} rows in, {row.loaded} loaded, "
                     f"{row.quarantined} quarantined" + (f", {row.held} held" if row.held else ""))
        elif run["dag_id"] == "publish_publicity":
            accepted = conn.scalar(sa.text("SELECT count(*) FROM outbox.publicity_item WHERE status = 'accepted'"))
            moved = f"{accepted} publicity items accepted"
        else:
            delivered = conn.scalar(sa.text("SELECT count(*) FROM outbox.indicator_item_delivery"))
            moved = f"{delivered} monitoring items delivered"
    return f"   {run['dag_id']:<28} {run['state']:<8} {moved} ({run['seconds']:.0f} s)"


def run_main_job(records: int, seed: int, as_of: dt.date, echo: Callable[[str], None] = print) -> None:
    from etl.indicators import gap_report, indicator_tree
    from etl.summary import department_status, describe_warehouse, held_batches, identity_violations
    from simulators.departments import DepartmentSimulator
    from simulators.platform import PlatformSimulator

    started = time.monotonic()
    engine = get_engine()
    url = engine.url.render_as_string(hide_password=False)
    echo(f"== warehouse {redact(url)}")
    cat = catalog()
    counts = prepare_warehouse(engine, cat)
    echo(f"   migrations applied now: {len(counts.migrations_applied)}; reference data: {counts.departments} "
         f"departments, {counts.record_types} record types, {counts.dates} calendar days, {counts.measures} measures")

    data_dir = config.settings().var_dir / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    echo(f"== department data ({records} records, seed {seed}, as of {as_of}) -> {data_dir}")
    echo(generate(data_dir, records=records, seed=seed, defect_rate=0.05, as_of=as_of).describe())

    setup_seconds = time.monotonic() - started
    with ExitStack() as stack:
        departments = stack.enter_context(DepartmentSimulator(data_dir))
        sim_dir = config.settings().var_dir / "sim"
        sim_dir.mkdir(parents=True, exist_ok=True)
        platforms = [stack.enter_context(PlatformSimulator(flavor, sim_dir / f"platform-{flavor}.sqlite"))
                     for flavor in ("provincial", "national")]
        env = {**os.environ, **departments.connection_env(), "WAREHOUSE_URL": url,
               "CREDITWH_DROP_DIR": str(departments.file_drop_dir), "CREDITWH_VAR_DIR": str(config.settings().var_dir)}
        for platform in platforms:
            env.update(platform.connection_env())
        env = airflow_env(env)
        echo(f"== Airflow: home {env['AIRFLOW_HOME']}, metadata in "
             f"{redact(env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'])}; simulators of 26 departments and 2 platforms "
             f"on loopback")
        migrated = _airflow(env, "db", "migrate")
        if migrated.returncode != 0:
            last = migrated.stderr.strip().splitlines()[-1:]
            raise UserError(f"airflow db migrate 执行失败：{last} / airflow db migrate failed: {last}")
        _airflow(env, "pools", "import", str(config.PROJECT_ROOT / "dags" / "pools.json"))
        ingest = [f"ingest_{d.code}" for d in cat.departments]
        at_once = runner_count(env)
        echo(f"== running {len(ingest) + 2} DAGs: {len(ingest)} ingest_* ("
             + (f"{at_once} at a time" if at_once > 1 else "one at a time: SQLite metadata takes one writer")
             + "), then publish_publicity and compute_indicators")
        airflow_started = time.monotonic()
        runs = run_dags(env, ingest, ["publish_publicity", "compute_indicators"],
                         lambda run: echo(_run_line(engine, run, airflow_started)))
        airflow_seconds = time.monotonic() - airflow_started

    from etl.validate.data_docs import build_site

    docs_index = build_site(engine, config.settings().data_docs_dir)  # every page of the night, and the index
    failed = [r["dag_id"] for r in runs if r["state"] != "success"]
    echo(f"   {len(runs) - len(failed)} of {len(runs)} DAG runs succeeded in {airflow_seconds:.0f} s"
         + (f"; failed: {', '.join(failed)}" if failed else ""))
    with engine.connect() as conn:
        echo("== per department")
        echo(department_status(conn))
        echo(held_batches(conn))
        echo("== 双公示 publicity accepted per platform")
        echo(_publicity_summary(conn))
        broken = identity_violations(conn)
        echo("== warehouse")
        echo(describe_warehouse(conn))
    tree = indicator_tree(engine, as_of.strftime("%Y-%m"))
    coverage = gap_report(engine, tree.period).coverage
    echo(f"== city credit monitoring indicators {tree.period} (edition {tree.edition}): "
         f"{tree.points_awarded:.1f} of {tree.points_possible:.0f} points; the self-estimate covers "
         f"{coverage.self_estimate:.0f} (warehouse {coverage.warehouse:.0f}, office {coverage.office:.0f} awaiting "
         f"input), the national centre measures {coverage.national:.0f} itself")
    with engine.connect() as conn:
        echo("   monitoring items accepted by the national platform: " + _items_summary(conn))
    echo("   accounting identity rows_in = loaded + unchanged + quarantined: "
         + ("holds for every batch" if not broken else f"BROKEN for batches {broken}"))
    echo(f"== done in {time.monotonic() - started:.0f} s (set-up and data {setup_seconds:.0f} s, Airflow "
         f"{airflow_seconds:.0f} s). Next:\n"
         f"   feedback workbooks for departments: {config.settings().var_dir / 'feedback'}\n"
         f"   Great Expectations Data Docs:       {docs_index}\n"
         f"   the gap report:                     .venv/bin/creditwh indicators --period {tree.period}\n"
         f"   the Airflow UI with these runs:     make airflow\n"
         f"   per department, held batches:       .venv/bin/creditwh status")
    if failed:
        names, logs = ", ".join(failed), env["AIRFLOW_HOME"]
        raise UserError(f"DAG 运行失败：{names}，任务日志见 {logs} / "
                        f"DAG runs failed: {names}; their task logs are under {logs}.")
