"""Failures a person meets at the command line: one bilingual line on stderr and a non-zero exit, never a
traceback, whatever the library underneath does when it fails."""

from __future__ import annotations

import re
import resource
import signal

import pytest

from tests.e2e.conftest import creditwh

pytestmark = pytest.mark.e2e

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def one_line(result, *expected: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, result.stdout
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout and CHINESE.search(lines[0]) and "/ " in lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_outputs_that_cannot_be_written_are_one_line_before_any_work(fresh_pg15_url, tmp_path):
    env = {"WAREHOUSE_URL": fresh_pg15_url, "CREDITWH_VAR_DIR": str(tmp_path / "var")}
    assert creditwh("init", env=env).returncode == 0
    firms = tmp_path / "firms.csv"
    firms.write_text("统一社会信用代码\n914403001922038216\n", encoding="utf-8")
    # /proc takes no new files, not even for root; a path under a regular file is no folder at all
    for out in ("/proc/creditwh/result.xlsx", "/etc/hostname/result.xlsx"):
        one_line(creditwh("check", "--file", str(firms), "--out", out, "--purpose", "测试", env=env),
                 "无法写入", "cannot write", out)
        one_line(creditwh("report", "914403001922038216", "--out", out.replace(".xlsx", ".html"),
                          "--purpose", "测试", env=env), "无法写入", "cannot write")
    one_line(creditwh("check", "914403001922038216", env=env), "--purpose")  # no purpose, no query
    one_line(creditwh("check", "--file", str(tmp_path / "missing.csv"), "--purpose", "测试", env=env))
    one_line(creditwh("ingest", "no_such_department", env=env), "no_such_department")
    one_line(creditwh("ingest", "--all", "--file", str(firms), env=env), "--file")
    one_line(creditwh("release", "999999", env=env), "999999")
    one_line(creditwh("no-such-command", env=env), "no-such-command")


def _disk_full_beyond(limit_bytes: int):
    """For a child process: every write that would make a file larger than `limit_bytes` fails with an OS error
    (EFBIG), as a write to a full disk fails with ENOSPC; files written before it started are untouched."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return limit


def test_a_result_the_disk_cannot_hold_is_one_line_and_leaves_nothing_behind(fresh_pg15_url, tmp_path):
    env = {"WAREHOUSE_URL": fresh_pg15_url, "CREDITWH_VAR_DIR": str(tmp_path / "var")}
    assert creditwh("init", env=env).returncode == 0
    firms = tmp_path / "firms.csv"
    firms.write_text("统一社会信用代码\n" + "914403001922038216\n" * 200, encoding="utf-8")
    out = tmp_path / "out"
    # the result workbook is several kilobytes
    one_line(creditwh("check", "--file", str(firms), "--out", str(out / "r.xlsx"), "--purpose", "测试", env=env,
                      preexec_fn=_disk_full_beyond(3000)), "无法", "cannot")
    assert sorted(p.name for p in out.iterdir()) == []  # no half-written result, no .part


def test_a_bad_setting_is_one_line(fresh_pg15_url, tmp_path):
    env = {"WAREHOUSE_URL": fresh_pg15_url, "CREDITWH_VAR_DIR": str(tmp_path / "var")}
    assert creditwh("init", env=env).returncode == 0
    (tmp_path / "drop" / "forestry").mkdir(parents=True)
    one_line(creditwh("ingest", "forestry", env={**env, "CREDITWH_FILE_SETTLE_SECONDS": "soon",
                                                 "CREDITWH_DROP_DIR": str(tmp_path / "drop")}),
             "CREDITWH_FILE_SETTLE_SECONDS", "soon")
