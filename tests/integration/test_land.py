"""Landing keeps a source's bytes unchanged, once: the same bytes again find their batch without a copy,
and a dropped file landed before is recognised by its file-system signature without being read."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from etl import land as land_module
from etl.catalog import catalog
from etl.extract.base import ExtractedSource, FileSignature
from etl.land import land, read_batch

pytestmark = pytest.mark.integration


def _signature(path) -> FileSignature:
    return FileSignature.from_stat(os.lstat(path))


def _source(path, signed: bool = False) -> ExtractedSource:
    return ExtractedSource(source_name=path.name, path=path, format="csv", encoding=None, watermark_kind="file",
                           watermark_to=path.name, file_signature=_signature(path) if signed else None)


def _commitment_feed():
    department = catalog().department_by_code["tax"]
    return department, next(f for f in department.feeds if f.code == "commitment")


def test_bytes_are_landed_once_and_recognised_without_a_copy(warehouse, tmp_path, monkeypatch):
    department, feed = _commitment_feed()
    dropped = tmp_path / "commitment_20261125.csv"
    dropped.write_bytes(f"承诺人名称\n示范 {uuid.uuid4()}\n".encode())

    first = land(warehouse, department, feed, _source(dropped))
    assert first.is_new and first.landed_path.read_bytes() == dropped.read_bytes()
    assert first.sha256 == hashlib.sha256(dropped.read_bytes()).hexdigest()
    landed = sorted(p.name for p in first.landed_path.parent.iterdir())

    def no_copy(*_):
        raise AssertionError("known bytes were copied again")

    monkeypatch.setattr("etl.land._hash_and_copy", no_copy)
    again = land(warehouse, department, feed, _source(dropped))
    assert (again.batch_id, again.is_new, again.landed_path) == (first.batch_id, False, first.landed_path)
    assert sorted(p.name for p in first.landed_path.parent.iterdir()) == landed  # nothing new, no leftovers

    monkeypatch.undo()
    dropped.write_bytes(dropped.read_bytes() + "另一行\n".encode())  # the same name, other bytes: a new batch
    changed = land(warehouse, department, feed, _source(dropped))
    assert changed.is_new and changed.batch_id != first.batch_id
    assert changed.landed_path.read_bytes() == dropped.read_bytes() and first.landed_path.exists()


def _reading_refused(*_):
    raise AssertionError("a dropped file landed before, unchanged, was read again")


def _no_racy_window(monkeypatch) -> None:
    # These files changed milliseconds before they were landed; a real drop file has settled for longer than
    # the window in which a recorded signature is not trusted (see the racy test below).
    monkeypatch.setattr("etl.land.RACY_SECONDS", 0)


def test_a_dropped_file_landed_before_is_known_by_its_signature_without_reading_it(warehouse, tmp_path,
                                                                                   monkeypatch):
    _no_racy_window(monkeypatch)
    department, feed = _commitment_feed()
    dropped = tmp_path / "commitment_20261124.csv"
    dropped.write_bytes(f"承诺人名称\n示范 {uuid.uuid4()}\n".encode())
    first = land(warehouse, department, feed, _source(dropped, signed=True))
    assert first.is_new

    monkeypatch.setattr("etl.land._hash", _reading_refused)
    monkeypatch.setattr("etl.land._hash_and_copy", _reading_refused)
    again = land(warehouse, department, feed, _source(dropped, signed=True))
    assert (again.batch_id, again.is_new, again.sha256, again.landed_path) == \
        (first.batch_id, False, first.sha256, first.landed_path)


def test_a_dropped_file_rewritten_with_its_old_size_and_modification_time_is_read_and_landed_again(
        warehouse, tmp_path, monkeypatch):
    _no_racy_window(monkeypatch)
    department, feed = _commitment_feed()
    dropped = tmp_path / "commitment_20261123.csv"
    dropped.write_bytes(f"承诺人名称\n示范 {uuid.uuid4()}\n".encode())
    first = land(warehouse, department, feed, _source(dropped, signed=True))

    # Other bytes of the same length, with the modification time put back (as `touch -r` or a restore
    # would): only the change time tells them apart, and it must.
    before = dropped.stat()
    dropped.write_bytes(f"承诺人名称\n示范 {uuid.uuid4()}\n".encode())
    os.utime(dropped, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = _signature(dropped)
    assert (after.size, after.modified_ns) == (before.st_size, before.st_mtime_ns)
    assert after.changed_ns != before.st_ctime_ns

    changed = land(warehouse, department, feed, _source(dropped, signed=True))
    assert changed.is_new and changed.batch_id != first.batch_id
    assert changed.sha256 == hashlib.sha256(dropped.read_bytes()).hexdigest()
    assert changed.landed_path.read_bytes() == dropped.read_bytes()

    monkeypatch.setattr("etl.land._hash", _reading_refused)  # and that signature is now the known one
    assert land(warehouse, department, feed, _source(dropped, signed=True)).batch_id == changed.batch_id


def test_bytes_landed_on_an_earlier_day_are_neither_read_nor_copied_again(warehouse, tmp_path, monkeypatch):
    # A drop folder keeps its old files: the nightly run of a later day must not copy them into that day's folder.
    _no_racy_window(monkeypatch)
    department, feed = _commitment_feed()
    dropped = tmp_path / "commitment_20261122.csv"
    dropped.write_bytes(f"承诺人名称\n示范 {uuid.uuid4()}\n".encode())
    first = land(warehouse, department, feed, _source(dropped, signed=True))

    monkeypatch.setattr("etl.land._landing_day", lambda: "2099-01-01")
    monkeypatch.setattr("etl.land._hash", _reading_refused)
    monkeypatch.setattr("etl.land._hash_and_copy", _reading_refused)
    later = land(warehouse, department, feed, _source(dropped, signed=True))
    assert (later.batch_id, later.is_new, later.landed_path) == (first.batch_id, False, first.landed_path)
    assert not (first.landed_path.parent.parent / "2099-01-01").exists()


def test_known_bytes_whose_landed_copy_is_gone_are_landed_again_for_their_batch(warehouse, tmp_path):
    department, feed = _commitment_feed()
    dropped = tmp_path / "commitment_20261121.csv"
    dropped.write_bytes(f"承诺人名称\n示范 {uuid.uuid4()}\n".encode())
    first = land(warehouse, department, feed, _source(dropped))
    first.landed_path.unlink()  # var/ cleaned or restored without it

    again = land(warehouse, department, feed, _source(dropped))
    assert (again.batch_id, again.is_new) == (first.batch_id, False)
    assert again.landed_path.read_bytes() == dropped.read_bytes()
    assert read_batch(warehouse, first.batch_id).landed_path == again.landed_path


def test_a_signature_recorded_right_after_the_files_last_change_is_not_trusted(warehouse, tmp_path, monkeypatch):
    # As git treats "racy" index entries: a clock coarser than the change (FAT keeps 2 s) could let a rewrite
    # in the same tick keep the signature, so a file changed within RACY_SECONDS of its landing is read again.
    department, feed = _commitment_feed()
    dropped = tmp_path / "commitment_20261120.csv"
    dropped.write_bytes(f"承诺人名称\n示范 {uuid.uuid4()}\n".encode())
    first = land(warehouse, department, feed, _source(dropped, signed=True))  # within the window: racy

    reads = []
    original = land_module._hash
    monkeypatch.setattr("etl.land._hash", lambda source: reads.append(source.path) or original(source))
    again = land(warehouse, department, feed, _source(dropped, signed=True))
    assert again.batch_id == first.batch_id and reads == [dropped]
