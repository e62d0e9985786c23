"""Where an ingest's time goes, by phase: one `creditwh sim ingest --all --data` on a fresh database.

    python bench/phase_times.py --records 300000                       # this checkout
    python bench/phase_times.py --records 300000 --tree /tmp/old       # another checkout of the project
    python bench/phase_times.py --data /tmp/gen300k --tree A --tree B  # the same data, trees back to back

Generates the records once (or takes `--data`), then for each tree: a fresh database on the server of
ADMIN_URL (default: the PostgreSQL 15 service on 127.0.0.1:5432), `python -m etl init`, and the timed ingest
with two workers (files taken at once: settle 0). Prints the wall time and the worker-seconds per phase that
`audit.batch` records for every batch (stage, rules, GX, load). Comparing trees on the same data, back to
back, is what tells a change from this machine's drift (~10% between runs minutes apart).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
PHASES = """
    SELECT count(*) AS batches, sum(rows_in) AS rows_in,
           -- through to_jsonb: a checkout from before these two columns has none (NULL)
           round(sum((to_jsonb(b) ->> 'land_ms')::int) / 1000.0, 1) AS land,
           round(sum(stage_ms) / 1000.0, 1) AS stage, round(sum(validate_ms) / 1000.0, 1) AS rules,
           round(sum(gx_ms) / 1000.0, 1) AS gx, round(sum(load_ms) / 1000.0, 1) AS load,
           round(sum((to_jsonb(b) ->> 'outbox_ms')::int) / 1000.0, 1) AS outbox
      FROM audit.batch b"""


def run_tree(tree: Path, data: Path, admin_url: str, work: Path) -> str:
    name = f"phase_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    copy = work / name
    try:
        shutil.copytree(data, copy, symlinks=True)
        env = {**os.environ, "PYTHONPATH": str(tree), "WAREHOUSE_URL": url,
               "CREDITWH_VAR_DIR": str(work / f"{name}-var"), "CREDITWH_FILE_SETTLE_SECONDS": "0"}
        subprocess.run([sys.executable, "-m", "etl", "init"], cwd=tree, env=env, check=True, capture_output=True)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "etl", "sim", "ingest", "--all", "--data", str(copy), "--workers", "2"],
                       cwd=tree, env=env, capture_output=True, check=False)
        wall = time.monotonic() - started
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            p = conn.execute(sa.text(PHASES)).one()
        engine.dispose()
        return (f"{tree}: wall {wall:.1f} s; {p.batches} batches, {p.rows_in:,} rows; worker-seconds: land {p.land}, "
                f"stage {p.stage}, rules {p.rules}, GX {p.gx}, load {p.load} (of which outbox {p.outbox})")
    finally:
        shutil.rmtree(copy, ignore_errors=True)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--data", type=Path, help="generated data to use (default: generate --records)")
    parser.add_argument("--tree", type=Path, action="append", help="a checkout of the project (repeatable)")
    parser.add_argument("--admin-url", default=os.environ.get("ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    trees = [t.resolve() for t in (args.tree or [ROOT])]
    with tempfile.TemporaryDirectory(prefix="phase-times-") as work_dir:
        work = Path(work_dir)
        data = args.data
        if data is None:
            data = work / "data"
            subprocess.run([sys.executable, "-m", "etl", "generate", "--out", str(data), "--records", str(args.records),
                            "--seed", str(args.seed), "--no-progress"], cwd=ROOT, check=True, capture_output=True)
        for tree in trees:
            print(run_tree(tree, data, args.admin_url, work), flush=True)


if __name__ == "__main__":
    main()
