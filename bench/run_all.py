"""`make bench`: run every benchmark in bench/ and write bench/RESULTS.md (figures, machine, date, commands).

    python bench/run_all.py                    # the full set (hours on 2 cores: ingest up to 3M records, 3 runs)
    python bench/run_all.py --profile quick    # one run each at small sizes, to check the harness
    python bench/run_all.py --only push marts  # some of them

Each benchmark writes its own table under bench/results/ (a ratio against a baseline measured in the same
run, median with min and max); this script runs them one after another on a quiet machine and gathers
the tables, with the ingest scaling series (time against records, and whether it grows linearly).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

PROFILES = {
    "full": {"ingest_sizes": [100_000, 300_000, 1_000_000, 3_000_000], "runs": 3, "push_items": 100_000,
             "mart_facts": 1_000_000, "chaos_records": 10_000},
    "quick": {"ingest_sizes": [20_000, 60_000], "runs": 1, "push_items": 10_000, "mart_facts": 100_000,
              "chaos_records": 600},
}


def run(command: list[str], log: Path) -> float:
    started = time.monotonic()
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.monotonic() - started


def ours_seconds(markdown: str) -> float | None:
    match = re.search(r"\| our ingest \(extract → load, 26 departments\), s \| ([0-9.]+)", markdown)
    return float(match.group(1)) if match else None


def make_run_wall_time(log: Path) -> tuple[float, str]:
    """`creditwh run` from an empty var/ and a new embedded server (the venv exists already)."""
    with tempfile.TemporaryDirectory(prefix="creditwh-make-run-") as var:
        env = {**os.environ, "CREDITWH_VAR_DIR": var, "CREDITWH_EMBEDDED_PORT": "54391"}
        env.pop("WAREHOUSE_URL", None)
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "etl", "run"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=3600)
        seconds = time.monotonic() - started
        subprocess.run([sys.executable, "-m", "etl", "db", "stop"], cwd=ROOT, env=env, capture_output=True)
    with log.open("a", encoding="utf-8") as out:
        out.write(result.stdout + result.stderr)
    split = next((line.strip() for line in result.stdout.splitlines() if line.startswith("== done in")), "")
    return seconds, split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--only", nargs="*", choices=["ingest", "push", "marts", "dags", "chaos", "make_run"])
    args = parser.parse_args()
    settings = PROFILES[args.profile]
    chosen = set(args.only or ["ingest", "push", "marts", "dags", "chaos", "make_run"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / "run_all.log"
    python = sys.executable
    sections: list[str] = []
    scaling: list[tuple[int, float]] = []
    if "ingest" in chosen:
        for size in settings["ingest_sizes"]:
            out = RESULTS / f"ingest_{size}.md"
            run([python, "bench/ingest_bench.py", "--records", str(size), "--runs", str(settings["runs"]),
                 "--out", str(out)], log)
            text = out.read_text(encoding="utf-8")
            sections.append(text)
            if (seconds := ours_seconds(text)) is not None:
                scaling.append((size, seconds))
    if "push" in chosen:
        run([python, "bench/push_bench.py", "--items", str(settings["push_items"]), "--runs", str(settings["runs"])],
            log)
        sections.append((RESULTS / "push.md").read_text(encoding="utf-8"))
    if "marts" in chosen:
        run([python, "bench/mart_bench.py", "--facts", str(settings["mart_facts"]), "--runs", "5"], log)
        sections.append((RESULTS / "marts.md").read_text(encoding="utf-8"))
    if "dags" in chosen:
        out = subprocess.run([python, "bench/dag_parse_bench.py"], cwd=ROOT, capture_output=True, text=True)
        sections.append("# DAG parse time\n\n- command: `python bench/dag_parse_bench.py`\n\n```\n"
                        + out.stdout.strip() + "\n```\n")
    if "chaos" in chosen:
        run([python, "bench/chaos.py", "--records", str(settings["chaos_records"])], log)
        sections.append((RESULTS / "chaos.md").read_text(encoding="utf-8"))
    if "make_run" in chosen:
        seconds, split = make_run_wall_time(log)
        sections.append(f"# make run\n\n- `creditwh run` from an empty var/ with a new embedded server (the venv "
                        f"already installed): **{seconds:.0f} s** wall; {split}\n")
    if len(scaling) >= 2:
        (small, small_s), (large, large_s) = scaling[0], scaling[-1]
        growth = (large_s / small_s) / (large / small)
        rows = "\n".join(f"| {n:,} | {s:.1f} | {n / s:,.0f} |" for n, s in scaling)
        verdict = ("linear (time per record stays within 25%)" if 0.8 <= growth <= 1.25 else
                   f"not linear: time per record at {large:,} is {growth:.2f}x that at {small:,}")
        sections.insert(0, "# Ingest scaling\n\n| records | our ingest, s (median) | rows/s |\n|---|---|---|\n"
                        f"{rows}\n\nGrowth from {small:,} to {large:,} records: {verdict}.\n")
    header = [
        "# Benchmark results",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        f"- command: `python bench/run_all.py --profile {args.profile}"
        + (f" --only {' '.join(sorted(chosen))}`" if args.only else "`") + " (`make bench`); each section names "
        "its own command; full output in bench/results/run_all.log",
        "",
    ]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(header) + "\n\n".join(sections), encoding="utf-8")
    print((ROOT / "bench" / "RESULTS.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
