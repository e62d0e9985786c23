"""Landing keeps a source's bytes unchanged, once: the same bytes again find their batch without a copy."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from etl.catalog import catalog
from etl.extract.base import ExtractedSource
from etl.land import land

pytestmark = pytest.mark.integration


def _source(path) -> ExtractedSource:
    return ExtractedSource(source_name=path.name, path=path, format="csv", encoding=None, watermark_kind="file",
                           watermark_to=path.name)


def test_bytes_are_landed_once_and_recognised_without_a_copy(warehouse, tmp_path, monkeypatch):
    department = catalog().department_by_code["tax"]
    feed = next(f for f in department.feeds if f.code == "commitment")
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
