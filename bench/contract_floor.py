"""The warehouse contract's own floor: what writing the same rows into dw.fact_credit_record costs at least.

    python bench/contract_floor.py --records 1000000 --runs 3

The ingest benchmark's floor is a COPY into unindexed text tables. No ingest that keeps the warehouse
contract of shared/DESIGN.md can beat the cheapest way of putting the same rows into the contract's
fact table: this benchmark times that, side by side with the plain COPY, on fresh databases of the
same server, per run:

  * floor           - the ingest benchmark's floor (bench/ingest_bench.py `time_floor`);
  * contract floor  - the same COPY, then one INSERT ... SELECT per record type into the migrated
                      warehouse's dw.fact_credit_record (its indexes as migrated), each fact with
                      its standard fields as jsonb and their SHA-256, as every fact carries; the
                      record types dealt out to two connections at once, as our ingest's two
                      workers use the machine's two cores (--connections).

The contract floor leaves out everything else an ingest must do: extracting and landing, parsing and
normalising in the pipeline, the quarantine rules and GX, subjects (SCD2), history, publicity and its
outbox, per-batch transactions and audit rows. Each left-out step only adds time, so
contract floor / floor is a lower bound of ours / floor for this schema on this server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest_bench import (  # noqa: E402
    _figure,
    copy_into_floor_tables,
    create_floor_tables,
    drop_database,
    flatten_sources,
    fresh_database,
    prepare_schema,
    summarise,
    time_floor,
    write_report,
)

from etl.catalog import Role, catalog  # noqa: E402
from etl.sqltext import jsonb_object, literal  # noqa: E402
from etl.warehouse import get_engine  # noqa: E402
from simulators.generate import generate  # noqa: E402


def _copy_and_insert(engine: sa.Engine, flat: dict[str, tuple[Path, int]], codes: list[str],
                     keys: dict[str, int], department_key: int) -> tuple[float, float]:
    """COPY the record types' rows, then insert them as facts, on one connection; seconds of each part."""
    cat = catalog()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        started = time.perf_counter()
        copy_into_floor_tables(cursor, flat, codes)
        copied = time.perf_counter()
        for code in codes:
            record_type = cat.record_type_by_code[code]
            document = record_type.role(Role.DOCUMENT_NUMBER)
            document_column = f"t.{document.code.lower()}" if document else "NULL"
            pairs = [f"{literal(f.code)}, t.{f.code.lower()}" for f in record_type.fields]
            cursor.execute(f"""
                INSERT INTO dw.fact_credit_record
                       (record_uid, subject_key, record_type_key, department_key, decision_date_key,
                        document_number, status, attributes, content_hash, batch_id, source_row_no)
                SELECT md5('{code}' || s.n)::uuid, 1, {int(keys[code])}, {int(department_key)}, 20260101,
                       coalesce(s.document, s.n::text), 'active', s.attributes,
                       encode(sha256(convert_to(s.attributes::text, 'UTF8')), 'hex'), 1, s.n
                  FROM (SELECT row_number() OVER () AS n, {document_column} AS document,
                               jsonb_strip_nulls({jsonb_object(pairs)}) AS attributes
                          FROM floor_{code} t) s
            """)
        raw.commit()
        return copied - started, time.perf_counter() - copied
    finally:
        raw.close()


def time_contract_floor(engine: sa.Engine, flat: dict[str, tuple[Path, int]], connections: int) -> tuple[float, float]:
    """Wall seconds for COPY plus the fact inserts over `connections` connections at once (the record
    types dealt out by size), and the inserts' share of the connections' time."""
    with engine.begin() as conn:
        keys = dict(conn.execute(sa.text("SELECT record_type_code, record_type_key FROM dw.dim_record_type")).all())
        department_key = conn.scalar(sa.text("SELECT min(department_key) FROM dw.dim_department"))
        create_floor_tables(conn, flat)
    shares: list[list[str]] = [[] for _ in range(connections)]
    loads = [0] * connections
    for code in sorted(flat, key=lambda c: -flat[c][1]):  # largest first, each to the least loaded connection
        least = loads.index(min(loads))
        shares[least].append(code)
        loads[least] += flat[code][1]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=connections) as pool:  # the driver lets go of the GIL in each statement
        parts = list(pool.map(lambda codes: _copy_and_insert(engine, flat, codes, keys, department_key),
                              [codes for codes in shares if codes]))
    wall = time.perf_counter() - started
    with engine.connect() as conn:  # untimed: every row became a fact, or the figure means nothing
        facts = conn.scalar(sa.text("SELECT count(*) FROM dw.fact_credit_record"))
    rows = sum(rows for _, rows in flat.values())
    if facts != rows:
        raise RuntimeError(f"the contract floor wrote {facts} facts for {rows} rows")
    copy_seconds, insert_seconds = sum(p[0] for p in parts), sum(p[1] for p in parts)
    return wall, insert_seconds / (copy_seconds + insert_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--connections", type=int, default=2,
                        help="connections inserting at once (our ingest runs two workers on two cores)")
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results/contract_floor_<records>.md")
    args = parser.parse_args()
    args.out = args.out or ROOT / "bench" / "results" / f"contract_floor_{args.records}.md"
    admin_url = get_engine().url.set(database="postgres").render_as_string(hide_password=False)
    floor: list[float] = []
    contract: list[float] = []
    insert_share: list[float] = []
    with tempfile.TemporaryDirectory(prefix="creditwh-floor-") as work_name:
        work = Path(work_name)
        generate(work / "data", records=args.records, seed=args.seed, defect_rate=0.02, as_of=dt.date.today())
        flat = flatten_sources(work / "data", work / "flat")
        rows = sum(n for _, n in flat.values())
        for run in range(args.runs):
            engine = fresh_database(admin_url)
            try:
                floor.append(time_floor(engine, flat))
            finally:
                drop_database(admin_url, engine)
            engine = fresh_database(admin_url)
            try:
                prepare_schema(engine)
                seconds, share = time_contract_floor(engine, flat, args.connections)
                contract.append(seconds)
                insert_share.append(share)
            finally:
                drop_database(admin_url, engine)
            print(f"run {run + 1}: floor {floor[-1]:.2f} s, contract floor {contract[-1]:.2f} s", flush=True)
    ratio = [c / f for c, f in zip(contract, floor, strict=True)]
    server = get_engine().url
    write_report(args.out, [
        f"# Contract floor — {rows:,} records, {args.runs} runs",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; server: {server.host}:{server.port}",
        f"- command: `python bench/contract_floor.py --records {args.records} --runs {args.runs} "
        f"--connections {args.connections}` (the contract floor's COPY and inserts on {args.connections} "
        "connections at once; the plain COPY on one, as the ingest benchmark times it)",
        "",
        "| figure | median (min, max) | rows/s (median) |",
        "|---|---|---|",
        f"| plain COPY (floor), s | {summarise(floor)} | {rows / statistics.median(floor):,.0f} |",
        f"| COPY + fact insert (contract floor), wall s | {summarise(contract)} | "
        f"{rows / statistics.median(contract):,.0f} |",
        f"| fact insert's share of the contract floor's statement time | {summarise(insert_share)} | |",
        f"| contract floor ÷ floor (a lower bound of ours ÷ floor) | {summarise(ratio)} | |",
        "",
        "The ingest benchmark measures the contract floor again beside our ingest, in the same run, for its target "
        f"ours ÷ contract floor ≤ 2.5; here the fact insert alone is {_figure(statistics.median(ratio))}× the plain "
        "COPY.",
    ])


if __name__ == "__main__":
    main()
