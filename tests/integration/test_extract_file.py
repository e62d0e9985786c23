"""The file connector on real drop folders: generated deliveries, files still being written, stray files."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from etl.catalog import catalog
from etl.errors import UserError
from etl.extract.base import FeedContext
from etl.extract.file import FileConnector
from etl.generate import generate

pytestmark = pytest.mark.integration

AS_OF = dt.date(2024, 6, 28)


@pytest.fixture(scope="module")
def drop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("departments")
    generate(out, records=2000, seed=3, defect_rate=0.0, as_of=AS_OF)
    return out / "files"


def context(drop: Path | None, department: str, feed: str, work_dir: Path) -> FeedContext:
    dept = catalog().department_by_code[department]
    return FeedContext(department=dept, feed=next(f for f in dept.feeds if f.code == feed), watermark=None,
                       work_dir=work_dir, file_drop_dir=drop)


def test_generated_deliveries_come_in_name_order(drop_dir, tmp_path):
    connector = FileConnector(settle_seconds=0)
    for department, feed in [(d.code, f.code) for d, f in catalog().feeds() if f.transport == "file"]:
        sources = connector.extract(context(drop_dir, department, feed, tmp_path))
        settings = next(f for f in catalog().department_by_code[department].feeds if f.code == feed).file
        on_disk = sorted(p.name for p in (drop_dir / department).glob(settings.pattern))
        assert [s.source_name for s in sources] == on_disk and on_disk, (department, feed)
        for source in sources:
            assert source.path == drop_dir / department / source.source_name
            assert source.format == settings.format and source.encoding is None
            assert source.watermark_kind == "file" and source.watermark_to == source.source_name
    assert not list(tmp_path.iterdir())  # file drops are landed from where they lie


def test_only_finished_matching_files_are_offered_and_nothing_is_deduplicated(tmp_path):
    folder = tmp_path / "drop" / "tax"
    folder.mkdir(parents=True)
    for name in ("commitment_20240628.csv", "commitment_20240626.csv", "commitment_20240627.csv",
                 ".commitment_20240629.csv", "commitment_20240630.csv.part", "commitment_20240701.csv.tmp",
                 "credit_rating_20240628.csv", "commitment_notes.txt"):
        (folder / name).write_text("承诺人名称\n示范\n", encoding="utf-8")
    (folder / "commitment_archive.csv").mkdir()
    connector = FileConnector(settle_seconds=0.05)
    first = connector.extract(context(tmp_path / "drop", "tax", "commitment", tmp_path))
    assert [s.source_name for s in first] == ["commitment_20240626.csv", "commitment_20240627.csv",
                                              "commitment_20240628.csv"]
    assert connector.extract(context(tmp_path / "drop", "tax", "commitment", tmp_path)) == first


def test_a_file_still_being_written_is_left_for_the_next_run(tmp_path):
    folder = tmp_path / "drop" / "hrss"
    folder.mkdir(parents=True)
    (folder / "commitment_20240627.csv").write_text("a\n1\n", encoding="utf-8")
    growing = folder / "commitment_20240628.csv"
    stop = threading.Event()

    def keep_writing() -> None:
        with open(growing, "a", encoding="utf-8") as fh:
            while not stop.is_set():
                fh.write("一行数据,2024-06-28\n")
                fh.flush()
                time.sleep(0.01)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        time.sleep(0.05)
        sources = FileConnector(settle_seconds=0.2).extract(context(tmp_path / "drop", "hrss", "commitment", tmp_path))
    finally:
        stop.set()
        writer.join()
    assert [s.source_name for s in sources] == ["commitment_20240627.csv"]
    # once the writer is done, the file is offered
    later = FileConnector(settle_seconds=0.05).extract(context(tmp_path / "drop", "hrss", "commitment", tmp_path))
    assert [s.source_name for s in later] == ["commitment_20240627.csv", "commitment_20240628.csv"]


def test_no_folder_yet_means_nothing_to_do_and_no_drop_dir_is_a_user_error(tmp_path):
    connector = FileConnector(settle_seconds=0)
    assert connector.extract(context(tmp_path / "empty", "tax", "commitment", tmp_path)) == []
    with pytest.raises(UserError, match="no file drop directory"):
        connector.extract(context(None, "tax", "commitment", tmp_path))
    with pytest.raises(UserError, match="not a file feed"):
        connector.extract(context(tmp_path, "tax", "penalty", tmp_path))
