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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
NOTES = RESULTS / "notes.md"

# Ingest: the side-by-side comparison (floors, tutorial, dlt, increment) at 100k, 300k and 1M; 3M is a point
# of the scaling series and of peak memory (our ingest alone). The run without GX is a diagnostic, timed in the
# first run only. The 3M point is one run: three would add about an hour on 2 cores.
PROFILES = {
    "full": {"ingest": [{"records": 100_000, "runs": 3}, {"records": 300_000, "runs": 3},
                        {"records": 1_000_000, "runs": 3}, {"records": 3_000_000, "runs": 1, "ours_only": True}],
             "runs": 3, "push_items": 100_000, "mart_facts": 1_000_000, "chaos_records": 10_000,
             "floor_records": 1_000_000},
    "quick": {"ingest": [{"records": 20_000, "runs": 1}, {"records": 60_000, "runs": 1, "ours_only": True}],
              "runs": 1, "push_items": 10_000, "mart_facts": 100_000, "chaos_records": 600, "floor_records": 20_000},
}

BENCHMARKS = ["ingest", "floor", "push", "marts", "dags", "chaos", "make_run"]


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


EMBEDDED_PORT = "54391"


def cli_ingest_seconds(data: Path, log: Path) -> float:
    """The command-line path on `make run`'s own data: `creditwh sim ingest --all --data` into a new database
    of the same (still running) embedded server, two workers, files taken at once."""
    import sqlalchemy as sa

    admin = sa.create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{EMBEDDED_PORT}/postgres",
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS cli_path WITH (FORCE)"))
        conn.execute(sa.text("CREATE DATABASE cli_path"))
    admin.dispose()
    with tempfile.TemporaryDirectory(prefix="creditwh-cli-path-") as var:
        env = {**os.environ, "CREDITWH_VAR_DIR": var, "CREDITWH_FILE_SETTLE_SECONDS": "0",
               "WAREHOUSE_URL": f"postgresql+psycopg2://postgres@127.0.0.1:{EMBEDDED_PORT}/cli_path"}
        subprocess.run([sys.executable, "-m", "etl", "init"], cwd=ROOT, env=env, capture_output=True, check=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "etl", "sim", "ingest", "--all", "--data", str(data),
                                 "--workers", "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
        seconds = time.monotonic() - started
    with log.open("a", encoding="utf-8") as out:
        out.write(result.stdout + result.stderr)
    return seconds


def make_run_wall_time(log: Path) -> tuple[float, str, float | None, float | None]:
    """`creditwh run` from an empty var/ and a new embedded server (the venv exists already); then the command-line
    ingest of the same data: (wall seconds, make run's own summary line, its Airflow seconds, CLI seconds)."""
    with tempfile.TemporaryDirectory(prefix="creditwh-make-run-") as var:
        env = {**os.environ, "CREDITWH_VAR_DIR": var, "CREDITWH_EMBEDDED_PORT": EMBEDDED_PORT}
        env.pop("WAREHOUSE_URL", None)
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "etl", "run"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=3600)
        seconds = time.monotonic() - started
        cli = cli_ingest_seconds(Path(var) / "data", log) if result.returncode == 0 else None
        subprocess.run([sys.executable, "-m", "etl", "db", "stop"], cwd=ROOT, env=env, capture_output=True)
    with log.open("a", encoding="utf-8") as out:
        out.write(result.stdout + result.stderr)
    split = next((line.strip() for line in result.stdout.splitlines() if line.startswith("== done in")), "")
    airflow = re.search(r"Airflow ([0-9.]+) s", split)
    return seconds, split, float(airflow[1]) if airflow else None, cli


TARGET = re.compile(r"^(≤|≥|<|>)\s*([0-9.]+)")
ROW = re.compile(r"^\| (?P<figure>[^|]+?) \| (?P<median>[0-9.]+) \(min (?P<min>[0-9.]+), max (?P<max>[0-9.]+)\) \|"
                 r"[^|]*\| (?P<target>[^|]*?) \|$")


def meets(value: float, target: str) -> bool | None:
    """Whether `value` meets a target such as '≤ 4' or '< 1024'; None when the text is no target."""
    match = TARGET.match(target.strip())
    if not match:
        return None
    bound = float(match.group(2))
    return {"≤": value <= bound, "≥": value >= bound, "<": value < bound, ">": value > bound}[match.group(1)]


def headline(sections: list[str]) -> str:
    """Every figure that has a target, from every section: its median, min and max, target, met or missed."""
    rows = []
    for section in sections:
        title = section.splitlines()[0].lstrip("# ").strip() if section else ""
        for line in section.splitlines():
            match = ROW.match(line.strip())
            if not match or meets(float(match["median"]), match["target"]) is None:
                continue
            ok = meets(float(match["median"]), match["target"])
            rows.append(f"| {title} | {match['figure']} | {match['median']} ({match['min']}–{match['max']}) | "
                        f"{match['target']} | {'met' if ok else '**missed**'} |")
        if title.startswith("Mart"):
            verdicts = re.findall(r"\| (ok|MISSED) \|$", section, flags=re.MULTILINE)
            slow = [v for v in verdicts if v != "ok"]
            verdict = "met" if not slow else "**missed**"
            rows.append(f"| {title} | queries within their latency target (typical, overview) | "
                        f"{len(verdicts) - len(slow)} of {len(verdicts)} | all | {verdict} |")
        if title.startswith("DAG parse"):
            found = re.search(r"fresh process \(as the DAG processor\): median ([0-9]+) ms", section)
            if found:
                rows.append(f"| {title} | all DAG files, fresh process, ms | {found.group(1)} | < 1000 | "
                            f"{'met' if int(found.group(1)) < 1000 else '**missed**'} |")
        if title.startswith("Chaos"):
            same = "identical to the clean run" in section
            rows.append(f"| {title} | warehouse, quarantine and platforms after faults vs a clean run | "
                        f"{'identical' if same else 'different'} | identical | {'met' if same else '**missed**'} |")
    if not rows:
        return ""
    return ("# Headline: figures with a target\n\n| benchmark | figure | median (min–max) | target | |\n"
            "|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def growth_verdict(small: tuple[int, float], large: tuple[int, float]) -> str:
    """How time per record changes from one size to a larger one: linear within 25%, or by how much not."""
    (n1, s1), (n2, s2) = small, large
    growth = (s2 / s1) / (n2 / n1)
    if 0.8 <= growth <= 1.25:
        return f"from {n1:,} to {n2:,} records: linear (time per record x{growth:.2f})"
    shape = "sub-linear" if growth < 1 else "super-linear"
    return f"from {n1:,} to {n2:,} records: {shape}, time per record x{growth:.2f}"


def scaling_section(scaling: list[tuple[int, float, int]]) -> str:
    rows = "\n".join(f"| {n:,} | {s:.1f} ({runs} run{'s' if runs > 1 else ''}) | {n / s:,.0f} |"
                     for n, s, runs in scaling)
    first, last = scaling[0][:2], scaling[-1][:2]
    verdicts = [growth_verdict(first, last)]
    if len(scaling) > 2:
        verdicts.append(growth_verdict(scaling[-2][:2], last))
    return ("# Ingest scaling\n\n| records | our ingest, s (median) | rows/s |\n|---|---|---|\n"
            f"{rows}\n\nGrowth " + "; ".join(verdicts) + ". Time per record falls where a fixed cost per feed "
            "and batch (worker start-up, extraction round trips, the GX run of each batch) is spread over more "
            "rows; where it no longer falls, growth is linear.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS)
    args = parser.parse_args()
    settings = PROFILES[args.profile]
    chosen = set(args.only or BENCHMARKS)
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / "run_all.log"
    python = sys.executable
    sections: list[str] = []
    scaling: list[tuple[int, float, int]] = []
    # Ingest points measured now, or the latest earlier run's files.
    for point in settings["ingest"]:
        size = point["records"]
        out = RESULTS / f"ingest_{size}.md"
        variant = ["--ours-only"] if point.get("ours_only") else ["--without-gx-runs", "1"]
        if "ingest" in chosen:
            run([python, "bench/ingest_bench.py", "--records", str(size), "--runs", str(point["runs"]),
                 "--out", str(out), *variant], log)
        elif not out.exists():
            continue
        text = out.read_text(encoding="utf-8")
        sections.append(text)
        if (seconds := ours_seconds(text)) is not None:
            scaling.append((size, seconds, point["runs"]))
    # What writing the same rows into the contract's fact table costs at least, beside the plain COPY.
    floor_out = RESULTS / f"contract_floor_{settings['floor_records']}.md"
    if "floor" in chosen:
        run([python, "bench/contract_floor.py", "--records", str(settings["floor_records"]), "--runs",
             str(settings["runs"]), "--out", str(floor_out)], log)
    if floor_out.exists():
        sections.append(floor_out.read_text(encoding="utf-8"))
    if "push" in chosen:
        run([python, "bench/push_bench.py", "--items", str(settings["push_items"]), "--runs", str(settings["runs"])],
            log)
    if "marts" in chosen:
        run([python, "bench/mart_bench.py", "--facts", str(settings["mart_facts"]), "--runs", "5"], log)
    if "dags" in chosen:
        out = subprocess.run([python, "bench/dag_parse_bench.py"], cwd=ROOT, capture_output=True, text=True)
        (RESULTS / "dags.md").write_text(
            f"# DAG parse time\n\n- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n"
            "- command: `python bench/dag_parse_bench.py`\n\n```\n" + out.stdout.strip() + "\n```\n",
            encoding="utf-8")
    if "chaos" in chosen:
        run([python, "bench/chaos.py", "--records", str(settings["chaos_records"])], log)
    if "make_run" in chosen:
        # `make run` from scratch, then the CLI ingest of the same data, as many times as the profile's runs: the
        # ratio is taken within each run (same machine state), then its median and range.
        measured = [make_run_wall_time(log) for _ in range(settings["runs"])]
        seconds = statistics.median(m[0] for m in measured)
        text = (f"# make run\n\n- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n- `creditwh run` from an empty "
                f"var/ with a new embedded server (the venv already installed), {len(measured)} runs: median "
                f"**{seconds:.0f} s** wall; each run's own summary line:\n"
                + "".join(f"  - {split}\n" for _, split, _, _ in measured))
        pairs = [(airflow, cli) for _, _, airflow, cli in measured if airflow and cli]
        if pairs:
            ratios = sorted(airflow / cli for airflow, cli in pairs)
            median = statistics.median(ratios)
            text += ("- then `creditwh sim ingest --all --data <its data> --workers 2` into a new database of the "
                     "same server, Airflow phase against it per run: "
                     + ", ".join(f"{airflow:.1f} s ÷ {cli:.1f} s" for airflow, cli in pairs)
                     + f"\n\n| figure | median (min, max) | rows/s (median) | target |\n|---|---|---|---|\n"
                     f"| Airflow phase ÷ CLI ingest, same data | {median:.2f} (min {ratios[0]:.2f}, max "
                     f"{ratios[-1]:.2f}) | | ≤ 3 |\n")
        (RESULTS / "make_run.md").write_text(text, encoding="utf-8")
    # Each benchmark's own file, whether measured now or by an earlier run (its date says which).
    for name in ("push", "marts", "dags", "chaos", "make_run"):
        if (RESULTS / f"{name}.md").exists():
            sections.append((RESULTS / f"{name}.md").read_text(encoding="utf-8"))
    if len(scaling) >= 2:
        sections.insert(0, scaling_section(scaling))
    header = [
        "# Benchmark results",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        f"- command: `python bench/run_all.py --profile {args.profile}"
        + (f" --only {' '.join(sorted(chosen))}`" if args.only else "`") + " (`make bench`); each section names "
        "its own command and date (sections this run did not measure are the latest earlier run's); full output "
        "in bench/results/run_all.log",
        "",
        "",
    ]
    # Single runs and before/after pairs measured by hand while changing the code, each dated with its command.
    if NOTES.exists():
        sections.insert(0, NOTES.read_text(encoding="utf-8"))
    sections.insert(0, headline(sections))
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(header) + "\n\n".join(sections), encoding="utf-8")
    print((ROOT / "bench" / "RESULTS.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
