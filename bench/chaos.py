"""Chaos run of the nightly cycle: ingest all 26 departments, push 双公示 to both platforms, submit indicators —
while processes are killed with SIGKILL, department APIs fail and lag, the platforms fail 30% of requests
and warehouse connections are dropped mid-transaction. Then resume until done, and compare with a
clean run of the same data.

    python bench/chaos.py --records 10000 --seed 7          # make chaos
    python bench/chaos.py --records 1200 --kills 20         # the CI size (tests/e2e/test_chaos.py)

Each step runs as its own `python -m etl ...` process, as the scheduler would run it. Compared after the
chaos: facts, subjects, history, quarantine, batches and watermarks (by natural keys); what each platform
publishes; indicator values. Checked as well: every outbox item accepted, each exactly once on its platform
(the platform's stored items = our accepted items, no conflicting duplicates), the accounting identity
for every batch, no unfinished or duplicate batch, no watermark pointing past a loaded batch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from etl.catalog import catalog  # noqa: E402
from etl.migrate import migrate  # noqa: E402
from etl.reference import seed_reference_data  # noqa: E402
from etl.warehouse import get_engine  # noqa: E402
from simulators.departments import DepartmentSimulator, Faults  # noqa: E402
from simulators.generate import generate  # noqa: E402
from simulators.platform import PlatformFaults, PlatformSimulator  # noqa: E402

INGEST_POINTS = ("extract.page", "extract.chunk", "land.after_commit", "stage.before_commit",
                 "validate.before_commit", "load.before_commit", "load.after_commit")
PUSH_POINTS = ("push.after_mark_sent", "push.before_receipts")
PLATFORMS = ("provincial", "national")
PLATFORM_FAULTS = PlatformFaults(error_rate=0.1, timeout_rate=0.1, reset_rate=0.1, timeout_seconds=1.5, seed=11)
DEPARTMENT_FAULTS = Faults(error_rate=0.15, latency_ms=20, latency_jitter_ms=80, rate_limit_every=9, seed=5)
MAX_ATTEMPTS = 200


@dataclass
class ChaosLog:
    kills: list[str] = field(default_factory=list)
    connection_drops: int = 0
    failed_runs: int = 0
    steps: int = 0


def fresh_warehouse(admin_url: str) -> sa.Engine:
    name = f"chaos_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = get_engine(sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False))
    migrate(engine)
    seed_reference_data(engine, catalog())
    return engine


def drop_warehouse(admin_url: str, engine: sa.Engine) -> None:
    name = engine.url.database
    engine.dispose()
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class ConnectionDropper:
    """Terminates the warehouse's busy backends now and then, up to a budget: a dropped connection mid-transaction."""

    def __init__(self, engine: sa.Engine, budget: int, rng: random.Random) -> None:
        self.engine, self.budget, self.rng = engine, budget, rng
        self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ConnectionDropper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        admin = sa.create_engine(self.engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            while self.dropped < self.budget and not self._stop.wait(self.rng.uniform(0.2, 1.5)):
                with admin.connect() as conn:
                    killed = conn.scalar(sa.text("""
                        SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                         WHERE datname = :db AND pid <> pg_backend_pid()
                           AND state IN ('active', 'idle in transaction')
                    """), {"db": self.engine.url.database})
                if killed:
                    self.dropped += 1
        finally:
            admin.dispose()


def run_step(args: list[str], env: dict[str, str], crash_at: str | None = None) -> subprocess.CompletedProcess:
    step_env = {**env, **({"CREDITWH_CRASH_AT": crash_at} if crash_at else {})}
    return subprocess.run([sys.executable, "-m", "etl", *args], cwd=ROOT, env=step_env, capture_output=True,
                          text=True, timeout=1800)


def killed(result: subprocess.CompletedProcess) -> bool:
    """SIGKILL of the process itself, or of one of its worker processes (the pool then breaks)."""
    return result.returncode == -9 or "BrokenProcessPool" in result.stderr


def outstanding(engine: sa.Engine, platform: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.text("SELECT count(*) FROM outbox.publicity_item WHERE platform = :p "
                                   "AND status NOT IN ('accepted', 'rejected', 'superseded')"), {"p": platform})


def nightly_cycle(engine: sa.Engine, env: dict[str, str], period: str, *, chaos: ChaosLog | None = None,
                  kills: int = 0, rng: random.Random | None = None) -> None:
    """Ingest, push, indicators; with `chaos`, kill processes at random points until `kills` is reached."""
    ingest = ["ingest", "--all", "--workers", "2"]
    attempts = 0
    ingest_kills = max(kills - kills // 3, 0)  # the rest while pushing
    while True:  # ingest until a run completes
        attempts += 1
        crash = None
        if chaos is not None and len(chaos.kills) < ingest_kills:
            # Early in the run (the 1st-3rd time a point is reached), so the kill happens before the run ends.
            crash = f"{rng.choice(INGEST_POINTS)}:{rng.randint(1, 3)}"
        result = run_step(ingest, env, crash)
        if chaos is not None:
            chaos.steps += 1
            if killed(result):
                chaos.kills.append(crash)
                continue
        if result.returncode == 0:
            break
        if chaos is None or attempts > MAX_ATTEMPTS:
            raise RuntimeError(f"ingest failed: {result.stderr[-2000:]}")
        chaos.failed_runs += 1  # a source that failed for good this time, or a dropped connection
    for platform in PLATFORMS:
        attempts = 0
        while True:
            attempts += 1
            crash = None
            if chaos is not None and len(chaos.kills) < kills:
                # The first time: a run with items left is always killed before it can finish them.
                crash = f"{rng.choice(PUSH_POINTS)}:1"
            result = run_step(["push", "publicity", "--platform", platform, "--batch-size", "10",
                               "--concurrency", "2"], env, crash)
            if chaos is not None:
                chaos.steps += 1
                if killed(result):
                    chaos.kills.append(crash)
                    continue
            if result.returncode == 0 and not outstanding(engine, platform):
                break
            if attempts > MAX_ATTEMPTS:
                raise RuntimeError(f"push to {platform} did not finish: {result.stderr[-2000:]}")
            if chaos is not None and result.returncode != 0:
                chaos.failed_runs += 1
    attempts = 0
    while True:
        attempts += 1
        result = run_step(["indicators", "--period", period, "--push"], env)
        if result.returncode == 0:
            break
        if attempts > 20:
            raise RuntimeError(f"indicators failed: {result.stderr[-2000:]}")


def snapshot(engine: sa.Engine, platforms: dict[str, PlatformSimulator]) -> dict[str, object]:
    """What the clean and the chaotic run must agree on, by natural keys."""
    queries = {
        "facts": """SELECT f.record_uid::text, f.content_hash, f.status, f.document_number, s.subject_code,
                           d.department_code, t.record_type_code, f.decision_date_key, f.fine_amount::text,
                           f.publicity_tier, f.publicity_start, f.publicity_end, f.publicity_due
                      FROM dw.fact_credit_record f JOIN dw.dim_subject s USING (subject_key)
                      JOIN dw.dim_department d USING (department_key) JOIN dw.dim_record_type t USING (record_type_key)
                     ORDER BY 1""",
        "subjects": """SELECT subject_code, name, subject_type, legal_representative, id_type, attributes_hash,
                              is_current FROM dw.dim_subject ORDER BY subject_code, valid_from""",
        "history": """SELECT f.record_uid::text, h.content_hash, h.status, h.change_reason
                        FROM dw.fact_credit_record_history h JOIN dw.fact_credit_record f USING (record_key)
                       ORDER BY 1, 2""",
        "quarantine": """SELECT b.department_code, b.feed_code, b.sha256, q.row_no, q.field, q.rule, q.message
                           FROM audit.quarantine q JOIN audit.batch b USING (batch_id) ORDER BY 1, 2, 3, 4, 5, 6""",
        "batches": """SELECT department_code, feed_code, sha256, status, rows_in, rows_loaded, rows_unchanged,
                             rows_quarantined FROM audit.batch ORDER BY 1, 2, 3""",
        "watermarks": "SELECT department_code, feed_code, watermark_value FROM audit.watermark ORDER BY 1, 2",
        "outbox": """SELECT platform, record_uid::text, action, content_hash, status FROM outbox.publicity_item
                      WHERE status <> 'superseded' ORDER BY 1, 2, 3, 4""",
        "indicators": """SELECT period, indicator_code, department_code, value::text, points_awarded::text
                           FROM dw.fact_indicator_value ORDER BY 1, 2, 3""",
    }
    with engine.connect() as conn:
        result: dict[str, object] = {name: [tuple(r) for r in conn.execute(sa.text(sql))]
                                     for name, sql in queries.items()}
    for code, sim in platforms.items():
        with sqlite3.connect(sim.store_path) as db:
            result[f"published_{code}"] = sorted(db.execute(
                "SELECT record_type, record_uid, state FROM publicity_current").fetchall())
    return result


def invariants(engine: sa.Engine, platforms: dict[str, PlatformSimulator]) -> list[str]:
    """Promises that hold after any run, chaotic or not; returns what is broken."""
    problems = []
    with engine.connect() as conn:
        checks = {
            "unfinished or failed batches": "SELECT count(*) FROM audit.batch WHERE status NOT IN ('loaded', 'held')",
            "batches breaking the accounting identity": """SELECT count(*) FROM audit.batch WHERE status = 'loaded'
                AND rows_in <> rows_loaded + rows_unchanged + rows_quarantined""",
            "duplicate batches": """SELECT count(*) FROM (SELECT 1 FROM audit.batch GROUP BY department_code, feed_code,
                sha256 HAVING count(*) > 1) d""",
            "watermarks ahead of their data": """SELECT count(*) FROM audit.watermark w
                LEFT JOIN audit.batch b ON b.batch_id = w.batch_id WHERE b.status IS DISTINCT FROM 'loaded'""",
            "outbox items without a receipt": """SELECT count(*) FROM outbox.publicity_item
                WHERE status NOT IN ('accepted', 'rejected', 'superseded')""",
        }
        for name, sql in checks.items():
            if n := conn.scalar(sa.text(sql)):
                problems.append(f"{n} {name}")
        accepted = dict(conn.execute(sa.text("""SELECT platform, count(*) FROM outbox.publicity_item
                                                 WHERE status = 'accepted' GROUP BY platform""")).all())
    for code, sim in platforms.items():
        stats = sim.stats()
        if stats["conflicting_duplicates"]:
            problems.append(f"{code}: {stats['conflicting_duplicates']} conflicting duplicates")
        with sqlite3.connect(sim.store_path) as db:
            stored = db.execute("SELECT count(*), count(DISTINCT idempotency_key) FROM publicity_items").fetchone()
        if stored[0] != stored[1] or stored[0] != accepted.get(code, 0):
            problems.append(f"{code}: platform stored {stored[0]} items ({stored[1]} keys), "
                            f"warehouse has {accepted.get(code, 0)} accepted: not exactly once")
    return problems


def run(records: int, seed: int, kills: int, gx: bool, work: Path, admin_url: str, log=print) -> dict:
    as_of = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    period = as_of.strftime("%Y-%m")
    data = work / "data"
    generate(data, records=records, seed=seed, defect_rate=0.05, as_of=as_of)
    rng = random.Random(seed)
    outcomes = {}
    for mode in ("clean", "chaos"):
        started = time.monotonic()
        engine = fresh_warehouse(admin_url)
        run_data = work / f"data-{mode}"
        subprocess.run(["cp", "-a", str(data), str(run_data)], check=True)
        chaos = ChaosLog() if mode == "chaos" else None
        department_faults = DEPARTMENT_FAULTS if chaos else Faults()
        platform_faults = PLATFORM_FAULTS if chaos else PlatformFaults()
        try:
            with DepartmentSimulator(run_data, faults=department_faults) as departments, \
                    PlatformSimulator("provincial", work / f"{mode}-provincial.sqlite", faults=platform_faults) as p, \
                    PlatformSimulator("national", work / f"{mode}-national.sqlite", faults=platform_faults) as n:
                env = {**os.environ, **departments.connection_env(), **p.connection_env(), **n.connection_env(),
                       "WAREHOUSE_URL": engine.url.render_as_string(hide_password=False),
                       "CREDITWH_VAR_DIR": str(work / f"var-{mode}"),
                       "CREDITWH_DROP_DIR": str(departments.file_drop_dir), "CREDITWH_GX": "on" if gx else "off"}
                env.pop("CREDITWH_CRASH_AT", None)
                platforms = {"provincial": p, "national": n}
                if chaos:
                    with ConnectionDropper(engine, budget=max(3, kills // 4), rng=rng) as dropper:
                        nightly_cycle(engine, env, period, chaos=chaos, kills=kills, rng=rng)
                    chaos.connection_drops = dropper.dropped
                    # Faults off for the last word: whatever the chaos left is finished cleanly.
                    departments.faults, p.faults, n.faults = Faults(), PlatformFaults(), PlatformFaults()
                nightly_cycle(engine, env, period)
                outcomes[mode] = {"snapshot": snapshot(engine, platforms), "problems": invariants(engine, platforms),
                                  "seconds": round(time.monotonic() - started, 1), "log": chaos}
        finally:
            drop_warehouse(admin_url, engine)
        log(f"{mode}: {outcomes[mode]['seconds']} s" + (f", {len(chaos.kills)} kills, {chaos.connection_drops} "
                                                          f"connection drops, {chaos.failed_runs} failed runs, "
                                                          f"{chaos.steps} steps" if chaos else ""))
    clean, chaotic = outcomes["clean"], outcomes["chaos"]
    differences = {name: (len(clean["snapshot"][name]), len(chaotic["snapshot"][name]))
                   for name in clean["snapshot"] if clean["snapshot"][name] != chaotic["snapshot"][name]}
    return {"records": records, "seed": seed, "kills": chaotic["log"].kills,
            "connection_drops": chaotic["log"].connection_drops, "failed_runs": chaotic["log"].failed_runs,
            "clean_seconds": clean["seconds"], "chaos_seconds": chaotic["seconds"],
            "differences": differences, "problems": {"clean": clean["problems"], "chaos": chaotic["problems"]},
            "compared": {name: len(rows) for name, rows in clean["snapshot"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kills", type=int, default=24, help="SIGKILLs to inject (at least 20 for the promise)")
    parser.add_argument("--gx", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "chaos.md")
    args = parser.parse_args()
    admin_url = get_engine().url.set(database="postgres").render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory(prefix="creditwh-chaos-") as work:
        report = run(args.records, args.seed, args.kills, args.gx, Path(work), admin_url)
    ok = not report["differences"] and not any(report["problems"].values())
    lines = [
        f"# Chaos run — {args.records:,} records, seed {args.seed}",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; command: `python bench/chaos.py --records "
        f"{args.records} --seed {args.seed} --kills {args.kills}{'' if args.gx else ' --no-gx'}`",
        f"- faults: SIGKILL at {len(report['kills'])} points; {report['connection_drops']} warehouse connection drops; "
        f"department APIs 15% 5xx, every 9th request 429, 20–100 ms latency; platforms 10% 500, 10% timeouts, "
        f"10% connection resets; {report['failed_runs']} runs ended in an error and were resumed",
        f"- clean run {report['clean_seconds']} s, chaotic run {report['chaos_seconds']} s (incl. resumption)",
        f"- kill points: {', '.join(report['kills'])}",
        "",
        f"**Result: {'identical to the clean run, every promise held' if ok else 'DIFFERENCES FOUND'}.**",
        "",
        "| compared | rows | identical |",
        "|---|---|---|",
        *[f"| {name} | {n:,} | {'no' if name in report['differences'] else 'yes'} |"
          for name, n in report["compared"].items()],
        "",
        f"Invariants after the chaotic run: {'; '.join(report['problems']['chaos']) or 'all hold'} "
        "(accounting identity per batch, no unfinished or duplicate batch, no watermark ahead of its data, "
        "every outbox item with a receipt, each item stored exactly once on its platform).",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(json.dumps(report["differences"]))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
