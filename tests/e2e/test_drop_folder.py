"""Drop folders as a hostile user fills them, through the real command: links and stray files are refused
or reported in one line each and recorded; `--file` says what it expected; a file written while ingest
runs is never loaded half-finished."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from tests.corpus.build import csv_bytes, penalty, table
from tests.e2e.conftest import creditwh

pytestmark = pytest.mark.e2e

PASSWD_MARK = "root:x:0:0"


def forestry_penalties(name: str, rows: int = 2, **overrides: str) -> bytes:
    return csv_bytes(table("forestry", "penalty", [penalty("forestry", name, n, **overrides)
                                                    for n in range(1, rows + 1)]), "gb18030")


def test_links_and_stray_files_are_refused_reported_and_recorded(fresh_pg15_url, tmp_path):
    drop = tmp_path / "drop"
    folder = drop / "forestry"
    folder.mkdir(parents=True)
    (folder / "penalty_20260101.csv").symlink_to("/etc/passwd")
    (folder / "penalty_20260102.csv").write_bytes(forestry_penalties("penalty_20260102.csv"))
    (folder / "LICENSE_20260102.CSV").write_bytes(b"")  # a Windows-cased name: the licence feed's, read
    (folder / "penalty_20260103.txt").write_bytes(b"\xe6\x96\x87")  # no feed takes .txt
    env = {"WAREHOUSE_URL": fresh_pg15_url, "CREDITWH_VAR_DIR": str(tmp_path / "var"), "CREDITWH_DROP_DIR": str(drop)}
    assert creditwh("init", env=env).returncode == 0

    result = creditwh("ingest", "forestry", env=env)
    assert result.returncode == 3, result.stdout + result.stderr  # a refusal needs a person
    everything = result.stdout + result.stderr
    assert PASSWD_MARK not in everything and "Traceback" not in everything
    [refused] = [line for line in result.stdout.splitlines() if line.strip().startswith("refused:")]
    assert "forestry/penalty penalty_20260101.csv" in refused and "符号链接" in refused and "symbolic link" in refused
    [unmatched] = [line for line in result.stdout.splitlines() if line.strip().startswith("unmatched:")]
    assert "penalty_20260103.txt" in unmatched and "penalty_*.csv" in unmatched
    assert "held: forestry/license" in result.stdout  # the empty licence file was taken (and held: no header)

    engine = sa.create_engine(fresh_pg15_url)
    try:
        with engine.connect() as conn:
            notices = {r.entry_name: r for r in conn.execute(sa.text(
                "SELECT entry_name, kind, feed_code, resolved_at FROM audit.drop_notice"))}
            sources = set(conn.scalars(sa.text("SELECT source_name FROM audit.batch")))
            reasons = " ".join(conn.scalars(sa.text("SELECT coalesce(status_reason, '') FROM audit.batch")))
        assert {name: (n.kind, n.feed_code) for name, n in notices.items()} == {
            "penalty_20260101.csv": ("refused", "penalty"), "penalty_20260103.txt": ("unmatched", None)}
        assert sources == {"penalty_20260102.csv", "LICENSE_20260102.CSV"} and PASSWD_MARK not in reasons
        landing = tmp_path / "var" / "landing"
        landed = "".join(p.read_text(encoding="latin-1") for p in landing.rglob("*") if p.is_file())
        assert PASSWD_MARK not in landed
        for workbook in (tmp_path / "var" / "feedback").rglob("*.xlsx"):
            cells = [str(c.value) for ws in load_workbook(workbook) for row in ws.iter_rows() for c in row]
            assert not any(PASSWD_MARK in c for c in cells)

        status = creditwh("status", env=env)
        assert "penalty_20260101.csv" in status.stdout and "refused" in status.stdout

        # the link goes: its notice is resolved on the next scan, and the record stays
        (folder / "penalty_20260101.csv").unlink()
        again = creditwh("ingest", "forestry", env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        with engine.connect() as conn:
            open_notices = set(conn.scalars(sa.text(
                "SELECT entry_name FROM audit.drop_notice WHERE resolved_at IS NULL")))
            kept = conn.scalar(sa.text("SELECT count(*) FROM audit.drop_notice"))
        assert open_notices == {"penalty_20260103.txt"} and kept == 2
    finally:
        engine.dispose()


def test_file_option_takes_only_a_complete_file_of_the_folder_and_says_why_not(fresh_pg15_url, tmp_path):
    drop = tmp_path / "drop"
    folder = drop / "forestry"
    folder.mkdir(parents=True)
    good = folder / "penalty_20260201.csv"
    good.write_bytes(forestry_penalties(good.name))
    (folder / "penalty_20260202.csv").symlink_to("/etc/passwd")
    (folder / "notes.txt").write_text("说明", encoding="utf-8")
    outside = tmp_path / "penalty_20260203.csv"
    outside.write_bytes(forestry_penalties(outside.name))
    env = {"WAREHOUSE_URL": fresh_pg15_url, "CREDITWH_VAR_DIR": str(tmp_path / "var"), "CREDITWH_DROP_DIR": str(drop)}
    assert creditwh("init", env=env).returncode == 0

    def refused(path: Path, *expected: str, settle: str = "0") -> None:
        result = creditwh("ingest", "forestry", "--file", str(path),
                          env={**env, "CREDITWH_FILE_SETTLE_SECONDS": settle})
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and not result.stdout, result.stdout + result.stderr
        assert PASSWD_MARK not in lines[0]
        for text in expected:
            assert text in lines[0], lines[0]

    refused(outside, str(folder), "penalty_*.csv", "license_*.csv", "不在部门", "not in the drop folder")
    refused(folder / "penalty_20260202.csv", "符号链接", "symbolic link")
    refused(folder / "notes.txt", "不符合任何数据源", "expected names: license_*.csv (license), penalty_*.csv",
            str(folder))
    refused(folder / "penalty_20260299.csv", "没有文件", "there is no file")
    refused(good, "静置 600 秒", "still for 600 s", settle="600")  # written seconds ago: not complete yet
    taken = creditwh("ingest", "forestry", "--file", str(good), env=env)
    assert taken.returncode == 0, taken.stdout + taken.stderr
    assert "penalty_20260202" not in taken.stdout  # only the named file is looked at
    again = creditwh("ingest", "forestry", "--file", str(good), env=env)  # named again: answered, not silent
    assert again.returncode == 0 and "already_loaded: forestry/penalty batch" in again.stdout, again.stdout


def test_a_file_written_while_ingest_runs_is_loaded_only_once_complete(fresh_pg15_url, tmp_path):
    """The fine of 150 万元 arrives in two writes ("15" then "0"): no run may load the 15."""
    drop = tmp_path / "drop"
    folder = drop / "forestry"
    folder.mkdir(parents=True)
    data = forestry_penalties("penalty_20260301.csv", rows=1, CF_NR_FK="150", CF_NR="罚款壹佰伍拾万元")
    cut = data.index(b"150") + 2  # ends in the middle of the fine
    env = {"WAREHOUSE_URL": fresh_pg15_url, "CREDITWH_VAR_DIR": str(tmp_path / "var"), "CREDITWH_DROP_DIR": str(drop),
           "CREDITWH_FILE_SETTLE_SECONDS": "2"}
    assert creditwh("init", env=env).returncode == 0
    target = folder / "penalty_20260301.csv"
    written = threading.Event()

    def upload() -> None:  # an SMB copy: the file appears at once and grows in place
        with open(target, "wb") as out:
            for start in range(0, cut, 64):
                out.write(data[start:min(start + 64, cut)])
                out.flush()
                time.sleep(0.05)
            time.sleep(1.0)  # the network stalls half a second and more, mid-field
            out.write(data[cut:])
        written.set()

    uploader = threading.Thread(target=upload)
    uploader.start()
    runs = []
    try:
        while not written.is_set():
            runs.append(creditwh("ingest", "forestry", env=env))
    finally:
        uploader.join()
    assert runs and all("waiting: forestry/penalty penalty_20260301.csv" in r.stdout for r in runs)
    engine = sa.create_engine(fresh_pg15_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT count(*) FROM audit.batch")) == 0
        time.sleep(2.1)
        final = creditwh("ingest", "forestry", env=env)
        assert final.returncode == 0, final.stdout + final.stderr
        with engine.connect() as conn:
            fines = list(conn.scalars(sa.text("SELECT fine_amount FROM dw.fact_credit_record")))
        assert [float(f) for f in fines] == [150.0]
    finally:
        engine.dispose()
