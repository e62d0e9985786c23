"""The file connector on real drop folders: what it takes, what waits, and what it refuses to read.

Real files, links and special files on a real file system: generated deliveries, uploads still being
written (a writer thread appends while the connector looks), symbolic and hard links, FIFOs, sockets,
folders named like data, Windows-cased extensions and old Excel names.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from etl.catalog import Department, catalog
from etl.errors import UserError
from etl.extract.base import FeedContext, FileSignature
from etl.extract.file import DropChanged, DropFolder, DropRefused, FileConnector, feed_matches, open_dropped
from simulators.generate import generate

pytestmark = pytest.mark.integration

AS_OF = dt.date(2024, 6, 28)


def an_hour_later() -> float:
    """The connector's clock an hour from now: every file written so far has been still for an hour (a file's
    change time cannot be set back, so this is how a test finds a delivery made earlier in the day)."""
    return time.time() + 3600


@pytest.fixture(scope="module")
def drop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("departments")
    generate(out, records=2000, seed=3, defect_rate=0.0, as_of=AS_OF)
    return out / "files"


def context(drop: Path | None, department: str, feed: str, work_dir: Path) -> FeedContext:
    dept = catalog().department_by_code[department]
    return FeedContext(department=dept, feed=next(f for f in dept.feeds if f.code == feed), watermark=None,
                       work_dir=work_dir, file_drop_dir=drop)


def settled(path: Path, text: str = "承诺人名称\n示范\n") -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def notices(connector: FileConnector) -> dict[str, str]:
    return {n.name: n.kind for n in connector.notices}


def test_generated_deliveries_carry_completion_flags_and_are_taken_at_once_in_name_order(drop_dir, tmp_path):
    # Generated files were written seconds ago: the default settle period (60 s) would hold them; their .ok
    # flags say they are complete.
    connector = FileConnector(settle_seconds=60)
    for department, feed in [(d.code, f.code) for d, f in catalog().feeds() if f.transport == "file"]:
        sources = connector.extract(context(drop_dir, department, feed, tmp_path))
        settings = next(f for f in catalog().department_by_code[department].feeds if f.code == feed).file
        on_disk = sorted(p.name for p in (drop_dir / department).glob(settings.pattern))
        assert [s.source_name for s in sources] == on_disk and on_disk, (department, feed)
        assert all((drop_dir / department / f"{name}.ok").exists() for name in on_disk)
        for source in sources:
            assert source.path == drop_dir / department / source.source_name
            assert source.format == settings.format and source.encoding is None
            assert source.watermark_kind == "file" and source.watermark_to == source.source_name
        assert not [n for n in connector.notices if n.kind != "waiting"], (department, feed)
    assert not list(tmp_path.iterdir())  # file drops are landed from where they lie


def test_only_finished_matching_files_are_offered_and_the_rest_is_reported(tmp_path):
    folder = tmp_path / "drop" / "tax"
    folder.mkdir(parents=True)
    for name in ("commitment_20240628.csv", "commitment_20240626.csv", "commitment_20240627.csv",
                 ".commitment_20240629.csv", "commitment_20240630.csv.part", "commitment_20240701.csv.tmp",
                 "credit_rating_20240628.csv", "commitment_notes.txt", "Thumbs.db"):
        settled(folder / name)
    (folder / "commitment_archive.csv").mkdir()  # a folder named like data
    (folder / "archive").mkdir()  # a folder the department keeps its old files in: its own business
    settled(folder / "archive" / "notes.txt")
    (folder / "upload").mkdir()  # files meant for loading, dropped one level too deep: said, not read
    settled(folder / "upload" / "credit_rating_20240702.csv")
    connector = FileConnector(settle_seconds=60, clock=an_hour_later)
    first = connector.extract(context(tmp_path / "drop", "tax", "commitment", tmp_path))
    assert [s.source_name for s in first] == ["commitment_20240626.csv", "commitment_20240627.csv",
                                              "commitment_20240628.csv"]
    # commitment is tax's second file feed: the entries of no feed are reported by the first (credit_rating)
    assert notices(connector) == {"commitment_20240630.csv.part": "waiting", "commitment_20240701.csv.tmp": "waiting",
                                  "commitment_archive.csv": "refused"}
    other = FileConnector(settle_seconds=60, clock=an_hour_later)
    assert [s.source_name for s in other.extract(context(tmp_path / "drop", "tax", "credit_rating", tmp_path))] == \
        ["credit_rating_20240628.csv"]
    unmatched = {n.name: n for n in other.notices}
    assert set(unmatched) == {"commitment_notes.txt", "Thumbs.db", "upload/"}
    assert "credit_rating_20240702.csv" in unmatched["upload/"].reason_zh
    assert "put them in the department's folder" in unmatched["upload/"].reason_en
    assert "credit_rating_*.csv" in unmatched["Thumbs.db"].reason_zh
    assert "expected names" in unmatched["Thumbs.db"].reason_en
    assert connector.extract(context(tmp_path / "drop", "tax", "commitment", tmp_path)) == first


def test_extensions_match_case_insensitively_and_excel_feeds_take_old_excel_names(tmp_path):
    department = catalog().department_by_code["statistics"]
    penalty = next(f for f in department.feeds if f.code == "penalty")
    dishonesty = next(f for f in department.feeds if f.code == "serious_dishonesty")
    assert feed_matches(dishonesty, "serious_dishonesty_x.CSV") and feed_matches(dishonesty, "SERIOUS_DISHONESTY_x.Csv")
    assert feed_matches(penalty, "penalty_x.xls") and feed_matches(penalty, "penalty_x.XLSM")
    assert feed_matches(penalty, "Penalty_x.XLSX")
    assert not feed_matches(penalty, "penalty_x.csv") and not feed_matches(dishonesty, "serious_dishonesty_x.xls")
    assert not feed_matches(penalty, "penalty_x.xlsx.bak")


def test_a_name_two_feeds_match_is_refused_not_guessed(tmp_path):
    base = catalog().department_by_code["tax"]
    rating, commitment = base.feeds[0], next(f for f in base.feeds if f.code == "commitment")
    overlapping = Department.model_validate({
        **base.model_dump(), "feeds": [rating.model_dump(),
                                       {**commitment.model_dump(), "file": {**commitment.file.model_dump(),
                                                                            "pattern": "*_2024.csv"}}]})
    folder = tmp_path / "tax"
    folder.mkdir()
    settled(folder / "credit_rating_2024.csv")
    scan = DropFolder(tmp_path, overlapping, settle_seconds=0).scan()
    assert scan.ready == {"credit_rating": [], "commitment": []}
    [notice] = scan.notices
    assert (notice.name, notice.kind, notice.feed) == ("credit_rating_2024.csv", "refused", None)
    assert "credit_rating, commitment" in notice.reason_en


def test_links_special_files_and_swaps_are_refused_and_never_read(tmp_path):
    folder = tmp_path / "drop" / "forestry"
    folder.mkdir(parents=True)
    outside = settled(tmp_path / "secret.csv", "root:x:0:0:root:/root:/bin/bash\n")
    inside = settled(folder / "penalty_20240601.csv")
    (folder / "penalty_20240602.csv").symlink_to("/etc/passwd")
    (folder / "penalty_20240603.csv").symlink_to(outside)
    (folder / "penalty_20240604.csv").symlink_to(inside.name)  # even a link to a file of the folder
    (folder / "penalty_20240605.csv").symlink_to(tmp_path / "nowhere.csv")  # dangling
    os.mkfifo(folder / "penalty_20240606.csv")
    os.link(outside, folder / "penalty_20240607.csv")  # a hard link to a file outside the folder
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(folder / "penalty_20240608.csv"))
        connector = FileConnector(settle_seconds=0)
        started = time.monotonic()
        sources = connector.extract(context(tmp_path / "drop", "forestry", "penalty", tmp_path))
        assert time.monotonic() - started < 5  # nothing was opened: a FIFO would block a reader
    assert [s.source_name for s in sources] == ["penalty_20240601.csv"]
    refused = {n.name: n for n in connector.notices}
    assert set(refused) == {f"penalty_2024060{i}.csv" for i in range(2, 9)}
    assert all(n.kind == "refused" and n.feed == "penalty" for n in refused.values())
    assert "/etc/passwd" in refused["penalty_20240602.csv"].reason_en
    assert "symbolic link" in refused["penalty_20240605.csv"].reason_en
    assert "FIFO" in refused["penalty_20240606.csv"].reason_en
    assert "命名管道" in refused["penalty_20240606.csv"].reason_zh
    assert "hard link" in refused["penalty_20240607.csv"].reason_en
    assert "socket" in refused["penalty_20240608.csv"].reason_en
    assert not any("root:x" in n.reason for n in connector.notices)  # nothing was read

    # a file swapped for a link between the listing and the reading is refused when it is opened
    [source] = sources
    inside.unlink()
    inside.symlink_to("/etc/passwd")
    with pytest.raises(DropRefused), open_dropped(source.path, source.file_signature) as reader:
        reader.read()


def test_a_character_device_is_refused(tmp_path):
    folder = tmp_path / "forestry"
    folder.mkdir()
    try:
        os.mknod(folder / "penalty_20240601.csv", 0o600 | 0o020000, os.makedev(1, 3))  # /dev/null's numbers
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    scan = DropFolder(tmp_path, catalog().department_by_code["forestry"], settle_seconds=0).scan()
    [notice] = scan.notices
    assert notice.kind == "refused" and "a device" in notice.reason_en


def test_a_department_folder_that_is_a_link_is_refused_whole(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    settled(elsewhere / "penalty_20240601.csv")
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "forestry").symlink_to(elsewhere)
    connector = FileConnector(settle_seconds=0)
    # forestry's first file feed (license) reports what belongs to no feed, the folder itself included
    assert connector.extract(context(tmp_path / "drop", "forestry", "license", tmp_path)) == []
    [notice] = connector.notices
    assert notice.kind == "refused" and "symbolic link" in notice.reason_en
    assert connector.extract(context(tmp_path / "drop", "forestry", "penalty", tmp_path)) == []


def test_a_file_still_being_written_waits_until_it_has_been_still_for_the_settle_period(tmp_path):
    folder = tmp_path / "drop" / "hrss"
    folder.mkdir(parents=True)
    settled(folder / "commitment_20240627.csv", "a\n1\n")
    time.sleep(0.3)
    growing = folder / "commitment_20240628.csv"
    stop = threading.Event()
    seen_while_writing: list[list[str]] = []

    def keep_writing() -> None:
        with open(growing, "a", encoding="utf-8") as fh:
            while not stop.is_set():
                fh.write("一行数据,2024-06-28\n")
                fh.flush()
                time.sleep(0.02)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # the connector looks again and again while the writer appends
            connector = FileConnector(settle_seconds=0.3)
            seen_while_writing.append([s.source_name for s in connector.extract(
                context(tmp_path / "drop", "hrss", "commitment", tmp_path))])
            time.sleep(0.05)
        assert notices(connector) == {"commitment_20240628.csv": "waiting"}
        assert "still for 0.3 s" in connector.notices[0].reason_en and ".ok" in connector.notices[0].reason_en
    finally:
        stop.set()
        writer.join()
    assert seen_while_writing and all(seen == ["commitment_20240627.csv"] for seen in seen_while_writing)
    # once the writer is done and the file has been still for the period, it is offered
    time.sleep(0.35)
    later = FileConnector(settle_seconds=0.3).extract(context(tmp_path / "drop", "hrss", "commitment", tmp_path))
    assert [s.source_name for s in later] == ["commitment_20240627.csv", "commitment_20240628.csv"]


@pytest.mark.parametrize("flag", ["commitment_20240628.csv.ok", "commitment_20240628.csv.done",
                                  "commitment_20240628.ok", "COMMITMENT_20240628.CSV.OK"])
def test_a_completion_flag_marks_a_fresh_file_complete(tmp_path, flag):
    folder = tmp_path / "drop" / "hrss"
    folder.mkdir(parents=True)
    (folder / "commitment_20240628.csv").write_text("a\n1\n", encoding="utf-8")
    (folder / "commitment_20240629.csv").write_text("a\n2\n", encoding="utf-8")  # no flag: it waits
    (folder / flag).write_bytes(b"")
    connector = FileConnector(settle_seconds=60)
    sources = connector.extract(context(tmp_path / "drop", "hrss", "commitment", tmp_path))
    assert [s.source_name for s in sources] == ["commitment_20240628.csv"]
    assert notices(connector) == {"commitment_20240629.csv": "waiting"}


def test_a_file_that_changes_while_it_is_read_is_not_taken(tmp_path):
    path = settled(tmp_path / "penalty_20240601.csv", "a,b\n" * 100_000)
    listed = FileSignature.from_stat(os.lstat(path))
    with pytest.raises(DropChanged), open_dropped(path, listed) as reader:
        reader.read(10)
        with open(path, "a", encoding="utf-8") as writer:
            writer.write("1,2\n")
        reader.read()
    # and one that changed between the listing and the reading is refused before a byte is read
    with pytest.raises(DropChanged), open_dropped(path, listed) as reader:
        reader.read()


def test_no_folder_yet_means_nothing_to_do_and_no_drop_dir_is_a_user_error(tmp_path):
    connector = FileConnector(settle_seconds=0)
    assert connector.extract(context(tmp_path / "empty", "tax", "commitment", tmp_path)) == []
    with pytest.raises(UserError, match="no file drop directory"):
        connector.extract(context(None, "tax", "commitment", tmp_path))
    with pytest.raises(UserError, match="not a file feed"):
        connector.extract(context(tmp_path, "tax", "penalty", tmp_path))
