"""Push benchmark: our pusher against the platform simulator's own capacity, with and without faults.

    python bench/push_bench.py --items 100000 --runs 3

For each run, against fresh simulators on loopback:
  * capacity - a bare concurrent client (signed requests from a thread pool, no database, no retries)
               sending the same request bodies: what the simulator can take;
  * ours     - `push_publicity` from the outbox, receipts written back to PostgreSQL;
  * faults   - ours again with 30% of requests failing (10% 500, 10% timeouts, 10% connection resets),
               repeated runs until every item has its receipt; then the simulator's count of published
               records must equal the number of unique idempotency keys (exactly once).
Figures are medians with min and max; ratios are taken within the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from etl.catalog import catalog  # noqa: E402
from etl.migrate import migrate  # noqa: E402
from etl.publicity.outbox import enqueue  # noqa: E402
from etl.publish.client import PlatformClient, RetryPolicy  # noqa: E402
from etl.publish.push import PUBLICITY_PATH, _request_body, push_publicity  # noqa: E402
from etl.publish.signing import sign  # noqa: E402
from etl.reference import seed_reference_data  # noqa: E402
from etl.warehouse import get_engine  # noqa: E402
from simulators.platform import PlatformFaults, PlatformSimulator  # noqa: E402

BATCH = 500
CONCURRENCY = 4
FAULTS = PlatformFaults(error_rate=0.1, timeout_rate=0.1, reset_rate=0.1, timeout_seconds=2.0, seed=42)


def fresh_database(admin_url: str) -> sa.Engine:
    name = f"push_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return get_engine(sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False))


def drop_database(admin_url: str, engine: sa.Engine) -> None:
    name = engine.url.database
    engine.dispose()
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def publishable_penalties(engine: sa.Engine, items: int) -> None:
    """`items` open penalties written straight into the warehouse, then queued by the real enqueue step."""
    migrate(engine)
    seed_reference_data(engine, catalog())
    today = dt.date.today()
    with engine.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO dw.dim_subject (subject_code, code_kind, subject_type, name, attributes_hash, valid_from)
            VALUES ('91410523MA00000000', 'uscc', '法人及非法人组织', '基准测试主体', repeat('0', 64), now())
        """))
        conn.execute(sa.text("""
            INSERT INTO audit.batch (department_code, feed_code, record_type_code, source_name, sha256, byte_count)
            SELECT 'health', 'penalty', 'penalty', 'bench', repeat('a', 64), 0
        """))
        conn.execute(sa.text("""
            INSERT INTO dw.fact_credit_record
                   (record_uid, subject_key, record_type_key, department_key, decision_date_key, document_number,
                    status, publicity_start, publicity_end, publicity_due, attributes, content_hash, batch_id,
                    source_row_no)
            SELECT md5('bench' || g)::uuid, s.subject_key, r.record_type_key, d.department_key,
                   to_char(:decided, 'YYYYMMDD')::integer, '卫罚〔2026〕' || g || '号', 'active', :decided, :ends,
                   :decided, jsonb_build_object(
                       'CF_XDR_MC', '基准测试主体', 'CF_XDR_LB', '法人及非法人组织',
                       'CF_XDR_SHXYM', '91410523MA00000000',
                       'CF_WSH', '卫罚〔2026〕' || g || '号', 'CF_WFXW', '违反卫生管理规定', 'CF_SY', '经查，当事人……',
                       'CF_YJ', '《公共场所卫生管理条例》', 'CF_CFLB', '罚款', 'CF_NR', '罚款人民币二千元',
                       'CF_NR_FK', 0.2, 'CF_JDRQ', to_char(:decided, 'YYYY-MM-DD'), 'CF_CFJG', '县卫生健康委员会',
                       'CF_CFJGDM', '1141052305126433XX', 'CF_SJLY', '县卫生健康委员会',
                       'CF_SJLYDM', '1141052305126433XX'),
                   md5(g::text) || md5(g::text), b.batch_id, g
              FROM generate_series(1, :items) g
             CROSS JOIN (SELECT subject_key FROM dw.dim_subject) s
             CROSS JOIN (SELECT record_type_key FROM dw.dim_record_type WHERE record_type_code = 'penalty') r
             CROSS JOIN (SELECT department_key FROM dw.dim_department WHERE department_code = 'health') d
             CROSS JOIN (SELECT batch_id FROM audit.batch) b
        """), {"items": items, "decided": today - dt.timedelta(days=3), "ends": today + dt.timedelta(days=300)})
        enqueue(conn, "SELECT record_key FROM dw.fact_credit_record", "bench")
        conn.execute(sa.text("DELETE FROM outbox.publicity_item WHERE platform <> 'national'"))
        conn.execute(sa.text("ANALYZE outbox.publicity_item"))


def reset_outbox(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE outbox.publicity_item SET status = 'pending', attempts = 0, receipt_id = NULL,
                                accepted_at = NULL, sent_at = NULL, last_error = NULL"""))


def request_bodies(engine: sa.Engine) -> list[bytes]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("""
            SELECT item_id, idempotency_key, action, record_type_code, record_uid, department_code, decision_date,
                   payload FROM outbox.publicity_item ORDER BY item_id""")).all()
    return [json.dumps(_request_body(rows[i:i + BATCH]), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            for i in range(0, len(rows), BATCH)]


def time_capacity(bodies: list[bytes], work: Path) -> float:
    """The simulator's own capacity: signed requests from a bare thread pool, nothing else."""
    with PlatformSimulator("national", work / f"capacity-{uuid.uuid4().hex}.sqlite") as sim:
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY))

        def send(body: bytes) -> None:
            headers = {"Content-Type": "application/json; charset=utf-8",
                       **sign("POST", PUBLICITY_PATH, body, sim.app_key, sim.secret)}
            response = session.post(sim.base_url + PUBLICITY_PATH, data=body, headers=headers, timeout=60)
            response.raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(send, bodies))
        seconds = time.perf_counter() - started
        session.close()
    return seconds


def time_ours(engine: sa.Engine, work: Path, faults: PlatformFaults | None, items: int) -> tuple[float, int, dict]:
    reset_outbox(engine)
    with PlatformSimulator("national", work / f"ours-{uuid.uuid4().hex}.sqlite", faults=faults) as sim:
        client = PlatformClient(sim.base_url, sim.app_key, sim.secret, read_timeout=1.0 if faults else 60,
                                retry=RetryPolicy(attempts=6, backoff=0.05, backoff_max=1.0, retry_after_max=1.0),
                                pool_size=CONCURRENCY)
        started = time.perf_counter()
        runs = 0
        while True:
            runs += 1
            push_publicity(engine, "national", client=client, batch_size=BATCH, concurrency=CONCURRENCY)
            with engine.connect() as conn:
                left = conn.scalar(sa.text("SELECT count(*) FROM outbox.publicity_item WHERE status <> 'accepted'"))
            if not left or runs >= 20:
                break
        seconds = time.perf_counter() - started
        stats = sim.stats()
        client.close()
    if left or stats["unique_keys"] != items or stats["published"] != items:
        raise RuntimeError(f"delivery was not exactly once: {left} left, simulator {stats}")
    return seconds, runs, stats


def summarise(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "push.md")
    args = parser.parse_args()
    admin_url = get_engine().url.set(database="postgres").render_as_string(hide_password=False)
    engine = fresh_database(admin_url)
    results: dict[str, list[float]] = {"capacity": [], "ours": [], "faults": [], "fault_runs": []}
    injected = []
    try:
        publishable_penalties(engine, args.items)
        bodies = request_bodies(engine)
        with tempfile.TemporaryDirectory(prefix="creditwh-push-bench-") as work_name:
            work = Path(work_name)
            for run in range(args.runs):
                results["capacity"].append(time_capacity(bodies, work))
                results["ours"].append(time_ours(engine, work, None, args.items)[0])
                seconds, runs, stats = time_ours(engine, work, FAULTS, args.items)
                results["faults"].append(seconds)
                results["fault_runs"].append(runs)
                injected.append(stats["faults_injected"])
                print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in results.items()), flush=True)
    finally:
        drop_database(admin_url, engine)
    items = args.items
    ours_vs_capacity = [o / c for o, c in zip(results["ours"], results["capacity"], strict=True)]
    faults_vs_clean = [f / o for f, o in zip(results["faults"], results["ours"], strict=True)]
    lines = [
        f"# Push benchmark — {items:,} publicity items, {args.runs} runs",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; warehouse {engine.url.host}:{engine.url.port or 5432}",
        f"- command: `python bench/push_bench.py --items {items} --runs {args.runs}`; requests of {BATCH} items, "
        f"{CONCURRENCY} in flight; faults: 10% HTTP 500, 10% timeouts (answer after 2 s, half of them processed), "
        f"10% connection resets (half after processing)",
        "",
        "| figure | median (min, max) | items/s (median) | target |",
        "|---|---|---|---|",
        f"| simulator capacity (bare concurrent client), s | {summarise(results['capacity'])} | "
        f"{items / statistics.median(results['capacity']):,.0f} | |",
        f"| our pusher, no faults, s | {summarise(results['ours'])} | "
        f"{items / statistics.median(results['ours']):,.0f} | |",
        f"| our pusher, 30% faults, until all accepted, s | {summarise(results['faults'])} | "
        f"{items / statistics.median(results['faults']):,.0f} | |",
        f"| ours ÷ capacity | {summarise(ours_vs_capacity)} | | ≤ 2 |",
        f"| faults ÷ fault-free | {summarise(faults_vs_clean)} | | ≤ 3 |",
        f"| push runs needed under faults | {summarise(results['fault_runs'])} | | |",
        f"| faults injected by the simulator | {summarise(injected)} | | |",
        "",
        "Every run ended with every item accepted and the simulator's published count equal to its unique "
        "idempotency keys (checked by the benchmark; it fails otherwise).",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
