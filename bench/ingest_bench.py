"""Ingest benchmark: our pipeline against the contract floor, the tutorial path and dlt, side by side.

    python bench/ingest_bench.py --records 1000000 --runs 3

For each run, on fresh databases of the same server:
  * floor     - COPY of the same rows (one CSV per record type, prepared untimed) into unindexed text tables;
  * contract  - the contract floor (bench/contract_floor.py): that COPY plus the insert of every row into
                dw.fact_credit_record with its indexes, on as many connections as our workers;
  * tutorial  - pandas read_csv -> Great Expectations on the pandas DataFrame -> DataFrame.to_sql;
  * dlt       - the peer a data engineer would pick today (bench/dlt_peer.py, in its own environment
                bench/.venv-dlt that `make bench` installs): dict rows merged on the document number, COPY;
  * ours      - extract, land, stage, validate and load all 26 departments through the department simulator;
  * increment - 1% new records into the warehouse the full run loaded, started once no autovacuum worker has
                run on the database for 3 s (at most 300 s: the vacuum of the full run's tables is not the
                increment's work), against the same records into an empty warehouse;
  * memory    - peak RSS of any one process of our ingest.
Figures are medians over the runs with min and max, and ratios to the baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from etl.catalog import Role, catalog, header_index, normalise_header  # noqa: E402
from etl.stage import _read_csv, _read_xlsx, detect_encoding  # noqa: E402
from etl.warehouse import get_engine  # noqa: E402
from simulators.generate import generate  # noqa: E402


def flatten_sources(data_dir: Path, out_dir: Path) -> dict[str, tuple[Path, int]]:
    """One UTF-8 CSV per record type with standard field codes: the same rows, for the baselines."""
    cat = catalog()
    writers: dict[str, tuple[csv.writer, object, list[str]]] = {}
    counts: dict[str, int] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for department, feed in cat.feeds():
        record_type = cat.record_type_by_code[feed.record_type]
        codes = [f.code for f in record_type.fields]
        if record_type.code not in writers:
            handle = (out_dir / f"{record_type.code}.csv").open("w", encoding="utf-8", newline="")
            writer = csv.writer(handle)
            writer.writerow(codes)
            writers[record_type.code] = (writer, handle, codes)
            counts[record_type.code] = 0
        writer, _, _ = writers[record_type.code]
        index = header_index(record_type, feed)
        for rows in _source_rows(data_dir, department.code, feed):
            header, body = rows
            positions = [index.get(normalise_header(str(h))) for h in header]
            for record in body:
                mapped = dict.fromkeys(codes, "")
                for code, value in zip(positions, record, strict=False):
                    if code:
                        mapped[code] = "" if value is None else str(value)
                writer.writerow(mapped.values())
                counts[record_type.code] += 1
    for _, handle, _ in writers.values():
        handle.close()
    return {code: (out_dir / f"{code}.csv", counts[code]) for code in writers}


def _source_rows(data_dir: Path, department: str, feed):
    if feed.transport == "file":
        for path in sorted((data_dir / "files" / department).glob(feed.file.pattern)):
            placed = _read_xlsx(path) if feed.file.format == "xlsx" else _read_csv(path, detect_encoding(path))
            rows = (record for _, record in placed)
            header = next(rows)
            yield header, rows
    elif feed.transport == "api":
        records = []
        for page in sorted((data_dir / "api" / department / feed.code).glob("page-*.json")):
            records.extend(json.loads(page.read_text(encoding="utf-8"))["data"])
        if records:
            header = list(records[0])
            yield header, ([r.get(h) for h in header] for r in records)
    else:
        import sqlite3

        with sqlite3.connect(data_dir / "sql" / f"{department}.sqlite") as conn:
            cursor = conn.execute(f"SELECT * FROM {feed.sql.table}")  # noqa: S608 - catalog table name
            header = [d[0] for d in cursor.description]
            yield header, cursor


def fresh_database(admin_url: str) -> sa.Engine:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.create_engine(sa.make_url(admin_url).set(database=name))


def drop_database(admin_url: str, engine: sa.Engine) -> None:
    name = engine.url.database
    engine.dispose()
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def create_floor_tables(conn: sa.Connection, codes: Iterable[str]) -> None:
    """floor_<record type>: a text column per standard field, no index, no key."""
    cat = catalog()
    for code in codes:
        columns = ", ".join(f"{f.code.lower()} text" for f in cat.record_type_by_code[code].fields)
        conn.execute(sa.text(f"CREATE TABLE floor_{code} ({columns})"))


def copy_into_floor_tables(cursor, flat: dict[str, tuple[Path, int]], codes: Iterable[str]) -> None:
    for code in codes:
        with flat[code][0].open("rb") as handle:
            cursor.copy_expert(f"COPY floor_{code} FROM STDIN WITH (FORMAT csv, HEADER true)", handle)


def time_floor(engine: sa.Engine, flat: dict[str, tuple[Path, int]]) -> float:
    with engine.begin() as conn:
        create_floor_tables(conn, flat)
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        copy_into_floor_tables(raw.cursor(), flat, flat)
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


def time_tutorial(engine: sa.Engine, flat: dict[str, tuple[Path, int]]) -> float:
    """The path most tutorials show: pandas read_csv, GX on the DataFrame, DataFrame.to_sql."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    import great_expectations.expectations as gxe
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig

    cat = catalog()
    started = time.perf_counter()
    context = gx.get_context(mode="ephemeral")
    # GX draws a progress bar per validation: thousands of lines of the benchmark's log, read by no one.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas("tutorial")
    for code, (path, _) in flat.items():
        record_type = cat.record_type_by_code[code]
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        suite = context.suites.add(gx.ExpectationSuite(name=f"tutorial_{code}"))
        for field in record_type.fields:
            if field.required:
                suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=field.code))
            if field.allowed and not field.multi_value:
                suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=field.code, value_set=list(field.allowed),
                                                                      mostly=0.5))
            if field.max_length:
                suite.add_expectation(gxe.ExpectColumnValueLengthsToBeBetween(column=field.code,
                                                                              max_value=field.max_length))
        asset = source.add_dataframe_asset(name=f"asset_{code}")
        batch_definition = asset.add_batch_definition_whole_dataframe(f"batch_{code}")
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        batch.validate(suite)
        frame.to_sql(f"tutorial_{code}", engine, if_exists="append", index=False, chunksize=10_000)
    return time.perf_counter() - started


DLT_PYTHON = ROOT / "bench" / ".venv-dlt" / "bin" / "python"


def time_dlt(engine: sa.Engine, flat: dict[str, tuple[Path, int]]) -> float:
    """dlt in its own environment (bench/dlt_peer.py): dict rows merged on the document number, COPY, two
    normalize workers. Seconds of its pipeline run, checked to have written every row."""
    cat = catalog()
    keys = {code: cat.record_type_by_code[code].role(Role.DOCUMENT_NUMBER).code for code in flat}
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    flat_dir = next(iter(flat.values()))[0].parent
    done = subprocess.run([str(DLT_PYTHON), str(ROOT / "bench" / "dlt_peer.py"), str(flat_dir), url, json.dumps(keys)],
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"dlt failed: {done.stderr.strip()[-2000:]}")
    seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    with engine.connect() as conn:
        for code, (path, _) in flat.items():
            distinct = conn.execute(sa.text(f"SELECT count(*) FROM peer.{code}")).scalar_one()
            expected = _distinct_keys(path, keys[code])
            if distinct != expected:
                raise SystemExit(f"dlt wrote {distinct} rows of {code}, the file has {expected} document numbers")
    return seconds


def _distinct_keys(path: Path, key: str) -> int:
    with path.open(encoding="utf-8", newline="") as handle:
        return len({row[key] for row in csv.DictReader(handle)})


def run_ours(url: str, data_dir: Path, var_dir: Path, workers: int, gx: bool = True) -> tuple[float, int]:
    """Our ingest in a child process (so its peak memory is its own, without the simulator's);
    returns seconds and peak RSS in MB."""
    from simulators.departments import DepartmentSimulator

    script = (
        "import time\n"
        "from etl import config\n"
        "from etl.catalog import catalog\n"
        "from etl.ingest import ingest_departments\n"
        "from etl.warehouse import get_engine\n"
        "if __name__ == '__main__':\n"
        "    engine = get_engine(); cat = catalog()\n"
        "    started = time.perf_counter()\n"
        f"    ingest_departments(engine, cat, list(cat.departments), workers={workers},\n"
        "                       file_drop_dir=config.settings().drop_dir)\n"
        "    print(time.perf_counter() - started)\n"
    )
    with DepartmentSimulator(data_dir) as simulator:
        env = {**os.environ, **simulator.connection_env(), "WAREHOUSE_URL": url, "CREDITWH_VAR_DIR": str(var_dir),
               "CREDITWH_DROP_DIR": str(simulator.file_drop_dir), "CREDITWH_GX": "on" if gx else "off"}
        # Output to files, not pipes: a chatty child must never block on a full pipe while we sample it.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            child = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=ROOT, stdout=out, stderr=err,
                                     text=True)
            peak_mb = _watch_peak_rss(child)
            child.wait()
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        raise RuntimeError(f"our ingest failed: {stderr[-2000:]}")
    return float(stdout.strip().splitlines()[-1]), peak_mb


# The phases of a batch as audit.batch records them (bench/phase_times.py's query); the load's time includes its
# outbox items, shown apart.
PHASE_LABELS = {"land": "land (copy the source bytes)", "stage": "stage (parse, COPY)",
                "rules": "rules (normalise, quarantine)", "gx": "GX audit gate",
                "load": "load (subjects, facts, history)", "outbox": "outbox"}


def phase_seconds(engine: sa.Engine) -> dict[str, float]:
    """Worker seconds per phase over every batch of the ingest."""
    from phase_times import PHASES

    with engine.connect() as conn:
        row = conn.execute(sa.text(PHASES)).one()._mapping
    seconds = {label: float(row[key] or 0) for key, label in PHASE_LABELS.items()}
    seconds[PHASE_LABELS["load"]] -= seconds[PHASE_LABELS["outbox"]]
    return seconds


def phase_table(phases: list[dict[str, float]]) -> list[str]:
    """Where our ingest's time goes: each phase's worker seconds (median over the runs) and share."""
    if not phases:
        return []
    medians = {name: statistics.median(run[name] for run in phases) for name in PHASE_LABELS.values()}
    total = sum(medians.values()) or 1.0
    return ["", "Our ingest's phases, worker seconds summed over its batches (audit.batch; median of the runs):", "",
            "| phase | s | share |", "|---|---|---|",
            *(f"| {name} | {seconds:.1f} | {seconds / total:.0%} |" for name, seconds in medians.items()),
            f"| all phases | {total:.1f} | 100% |"]


def _watch_peak_rss(child: subprocess.Popen) -> int:
    """The largest resident set of any one process of the ingest (coordinator or worker), sampled every 0.5 s;
    printed with which process it was, so that a peak can be looked for where it happens."""
    import psutil

    peak, where = 0, ""
    root = psutil.Process(child.pid)
    while child.poll() is None:
        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for process in processes:
            try:
                rss = process.memory_info().rss
            except psutil.Error:
                continue
            if rss > peak:
                peak, where = rss, "coordinator" if process.pid == root.pid else f"worker {process.pid}"
        time.sleep(0.5)
    print(f"peak RSS {peak // 2**20} MB in the {where}", flush=True)
    return peak // 2**20


def prepare_schema(engine: sa.Engine) -> None:
    from etl.migrate import migrate
    from etl.reference import seed_reference_data

    migrate(engine)
    seed_reference_data(engine, catalog())


def add_one_percent(data_dir: Path, records: int, seed: int, as_of: dt.date, work: Path) -> Path:
    """1% more records: a second generation of records/100 rows, dropped in as new files, pages and rows;
    returns that generation's own folder (the same records alone)."""
    extra = work / "extra"
    generate(extra, records=max(records // 100, 3 * len(catalog().feeds())), seed=seed + 1, defect_rate=0.02,
             as_of=as_of)
    for path in (extra / "files").rglob("*.*"):
        target = data_dir / "files" / path.parent.name / path.name.replace("_", "_increment_", 1)
        target.write_bytes(path.read_bytes())
    import sqlite3

    for database in (extra / "sql").glob("*.sqlite"):
        with sqlite3.connect(database) as source, sqlite3.connect(data_dir / "sql" / database.name) as target:
            for (table,) in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                rows = source.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608
                offset = target.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]  # noqa: S608
                marks = ", ".join("?" * len(rows[0]))
                target.executemany(f"INSERT INTO {table} VALUES ({marks})",  # noqa: S608
                                   [(r[0] + offset, "2099-01-01T00:00:00Z", *r[2:]) for r in rows])
    for feed_dir in (extra / "api").glob("*/*"):
        pages = sorted((data_dir / "api" / feed_dir.parent.name / feed_dir.name).glob("page-*.json"))
        last = json.loads(pages[-1].read_text(encoding="utf-8"))
        offset = sum(len(json.loads(p.read_text(encoding="utf-8"))["data"]) for p in pages)
        records_extra = []
        for page in sorted(feed_dir.glob("page-*.json")):
            records_extra.extend(json.loads(page.read_text(encoding="utf-8"))["data"])
        for i, record in enumerate(records_extra, start=1):
            record["id"] = offset + i
            record["updated_at"] = "2099-01-01T00:00:00Z"
        last["data"].extend(records_extra)
        pages[-1].write_text(json.dumps(last, ensure_ascii=False), encoding="utf-8")
    return extra


def _figure(value: float) -> str:
    # Ratios below 1 get three significant digits: 0.0501 must not read as 0.05 against a target of 0.05.
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def wait_for_autovacuum(engine: sa.Engine, quiet_seconds: float = 3.0, limit_seconds: float = 300.0) -> float:
    """Wait until no autovacuum worker has run on the database for `quiet_seconds` (at most `limit_seconds`);
    returns the seconds waited."""
    started = time.perf_counter()
    quiet_since = started
    while time.perf_counter() - started < limit_seconds:
        with engine.connect() as conn:
            busy = conn.scalar(sa.text("""
                SELECT count(*) FROM pg_stat_activity
                 WHERE backend_type = 'autovacuum worker' AND datname = current_database()
            """))
        now = time.perf_counter()
        if busy:
            quiet_since = now
        elif now - quiet_since >= quiet_seconds:
            break
        time.sleep(0.5)
    return time.perf_counter() - started


def summarise(values: list[float]) -> str:
    return f"{_figure(statistics.median(values))} (min {_figure(min(values))}, max {_figure(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workers", type=int, default=2, help="departments at once, as Airflow runs them")
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results/ingest_<records>.md")
    parser.add_argument("--ours-only", action="store_true",
                        help="time our ingest alone (a point of the scaling series): no baselines, no increment")
    parser.add_argument("--without-gx-runs", type=int, default=None,
                        help="in how many of the runs to time our ingest without GX as well (default: all)")
    args = parser.parse_args()
    without_gx_runs = args.runs if args.without_gx_runs is None else args.without_gx_runs
    args.out = args.out or ROOT / "bench" / "results" / f"ingest_{args.records}.md"
    with_dlt = DLT_PYTHON.exists()
    if not (with_dlt or args.ours_only):
        print(f"dlt is not installed in {DLT_PYTHON.parent.parent} (make bench installs it): the peer is left out",
              flush=True)

    from contract_floor import time_contract_floor  # it imports this module's helpers

    admin_url = get_engine().url.set(database="postgres").render_as_string(hide_password=False)
    as_of = dt.date.today()
    results: dict[str, list[float]] = {name: [] for name in (
        "floor", "contract", "tutorial", "dlt", "ours", "increment", "increment_empty", "memory", "ours_without_gx")}

    phases: list[dict[str, float]] = []

    def on_fresh_database(timer, *, schema: bool = False):
        engine = fresh_database(admin_url)
        try:
            if schema:
                prepare_schema(engine)
            return timer(engine)
        finally:
            drop_database(admin_url, engine)

    with tempfile.TemporaryDirectory(prefix="creditwh-bench-") as work_name:
        work = Path(work_name)
        data_dir = work / "data"
        generate(data_dir, records=args.records, seed=args.seed, defect_rate=0.02, as_of=as_of)
        flat = flatten_sources(data_dir, work / "flat")
        rows = sum(n for _, n in flat.values())
        for run in range(args.runs):
            if not args.ours_only:
                results["floor"].append(on_fresh_database(lambda e: time_floor(e, flat)))
                results["contract"].append(
                    on_fresh_database(lambda e: time_contract_floor(e, flat, args.workers)[0], schema=True))
                results["tutorial"].append(on_fresh_database(lambda e: time_tutorial(e, flat)))
                if with_dlt:
                    results["dlt"].append(on_fresh_database(lambda e: time_dlt(e, flat)))
            run_data = work / f"run{run}"
            subprocess.run(["cp", "-a", str(data_dir), str(run_data)], check=True)

            def full_then_increment(engine: sa.Engine, run_data: Path = run_data, run: int = run) -> None:
                url = engine.url.render_as_string(hide_password=False)
                seconds, peak_mb = run_ours(url, run_data, work / f"var{run}", args.workers)
                results["ours"].append(seconds)
                results["memory"].append(peak_mb)
                phases.append(phase_seconds(engine))
                if args.ours_only:
                    return
                extra = add_one_percent(run_data, args.records, args.seed, as_of, work / f"inc{run}")
                waited = wait_for_autovacuum(engine)
                print(f"run {run + 1}: no autovacuum worker for 3 s after {waited:.1f} s"
                      + (" (gave up waiting)" if waited >= 300 else ""), flush=True)
                results["increment"].append(run_ours(url, run_data, work / f"var{run}", args.workers)[0])
                # The same 1% alone into an empty warehouse: what the increment would cost if the warehouse
                # did not matter.
                results["increment_empty"].append(on_fresh_database(
                    lambda e: run_ours(e.url.render_as_string(hide_password=False), extra, work / f"incvar{run}",
                                       args.workers)[0], schema=True))

            on_fresh_database(full_then_increment, schema=True)
            subprocess.run(["rm", "-rf", str(run_data), str(work / f"var{run}"), str(work / f"inc{run}"),
                            str(work / f"incvar{run}")], check=True)
            if not args.ours_only and run < without_gx_runs:
                # The same ingest with the SQL rules alone (CREDITWH_GX=off), to show what GX costs.
                plain_data = work / f"plain{run}"
                subprocess.run(["cp", "-a", str(data_dir), str(plain_data)], check=True)
                results["ours_without_gx"].append(on_fresh_database(
                    lambda e, plain_data=plain_data, run=run: run_ours(
                        e.url.render_as_string(hide_password=False), plain_data, work / f"plainvar{run}",
                        args.workers, gx=False)[0], schema=True))
                subprocess.run(["rm", "-rf", str(plain_data), str(work / f"plainvar{run}")], check=True)
            print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in results.items() if v), flush=True)

    command = (f"python bench/ingest_bench.py --records {args.records} --runs {args.runs} --workers {args.workers}"
               + (" --ours-only" if args.ours_only else "")
               + (f" --without-gx-runs {without_gx_runs}" if without_gx_runs != args.runs and not args.ours_only
                  else ""))
    head = [
        f"# Ingest benchmark — {rows:,} records, {args.runs} runs" + (" (our ingest only)" if args.ours_only else ""),
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; server: {get_engine().url.host}:{get_engine().url.port}",
        f"- command: `{command}`",
        "",
        "| figure | median (min, max) | rows/s (median) | target |",
        "|---|---|---|---|",
    ]

    def seconds_row(label: str, key: str) -> list[str]:
        values = results[key]
        if not values:
            return []
        return [f"| {label}, s | {summarise(values)} | {rows / statistics.median(values):,.0f} | |"]

    def ratio_row(label: str, numerator: str, denominator: str, target: str = "") -> list[str]:
        if not (results[numerator] and results[denominator]):
            return []
        ratios = [n / d for n, d in zip(results[numerator], results[denominator], strict=True)]
        return [f"| {label} | {summarise(ratios)} | | {target} |"]

    lines = [
        *head,
        *seconds_row("plain COPY (floor)", "floor"),
        *seconds_row(f"COPY + fact insert on {args.workers} connections (contract floor, bench/contract_floor.py)",
                     "contract"),
        *seconds_row("tutorial path (read_csv → GX pandas → to_sql)", "tutorial"),
        *seconds_row("dlt 1.x peer (dict rows, merge on the document number, COPY, 2 normalize workers)", "dlt"),
        *seconds_row("our ingest (extract → load, 26 departments)", "ours"),
        *seconds_row(f"our ingest without the GX run (SQL rules only; {len(results['ours_without_gx'])} of the runs)",
                     "ours_without_gx"),
        *seconds_row("1% new records into the loaded warehouse", "increment"),
        *seconds_row("the same 1% into an empty warehouse", "increment_empty"),
        *ratio_row("ours ÷ contract floor", "ours", "contract", "≤ 2.5"),
        *ratio_row("ours ÷ floor (plain COPY)", "ours", "floor"),
        *ratio_row("tutorial ÷ ours (speed-up)", "tutorial", "ours", "≥ 2"),
        *ratio_row("dlt ÷ ours (ours faster above 1)", "dlt", "ours", "> 1"),
        *ratio_row("1% into the loaded warehouse ÷ into an empty one", "increment", "increment_empty", "≤ 1.3"),
        f"| peak memory of our ingest, MB | {summarise(results['memory'])} | | ≤ 400 |",
        *phase_table(phases),
    ]
    write_report(args.out, lines)


def write_report(out: Path, lines: list[str]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
