"""Landing: keep the source's bytes unchanged, with sha256 and a manifest, and register the batch.

The same bytes from the same feed are one batch however often they arrive (unique on department,
feed and sha256): a replay finds the existing batch and, if it was loaded, does nothing. A dropped file
whose file-system signature is the one recorded when it was landed (`audit.drop_file_seen`) is known
without reading it: drop folders keep every delivery, and reading them all each run grows with them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl import config
from etl.catalog import Department, Feed
from etl.extract.base import RACY_SECONDS, ExtractedSource
from etl.extract.file import open_dropped
from etl.output import replaced_when_complete

CHUNK = 1 << 20


@dataclass(frozen=True)
class Batch:
    batch_id: int
    department_code: str
    feed_code: str
    record_type_code: str
    source_name: str
    sha256: str
    landed_path: Path
    source_format: str
    source_encoding: str | None
    watermark_kind: str
    watermark_to: str | None
    status: str
    is_new: bool


def _safe_name(name: str) -> str:
    """A file-system-safe version of a source name (API and SQL sources have descriptive names)."""
    return re.sub(r"[^\w.\-]+", "_", name, flags=re.UNICODE).strip("_")[:120] or "source"


def _landed_path(directory: Path, feed: Feed, source: ExtractedSource, sha256: str) -> Path:
    return directory / f"{feed.code}__{sha256[:16]}__{_safe_name(source.source_name)}"


@contextmanager
def _reading(source: ExtractedSource) -> Iterator[BinaryIO]:
    """The source's bytes: a department's dropped file as `open_dropped` reads it (no link followed, nothing
    changed while read), a connector's own work file directly."""
    if source.file_signature is None:
        with source.path.open("rb") as reader:
            yield reader
    else:
        with open_dropped(source.path, source.file_signature) as reader:
            yield reader


def _hash(source: ExtractedSource, copy_to: BinaryIO | None = None) -> tuple[str, int]:
    """sha256 and size of a source's bytes, read once (and written to `copy_to` on the way)."""
    digest = hashlib.sha256()
    size = 0
    with _reading(source) as reader:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            if copy_to is not None:
                copy_to.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _hash_and_copy(source: ExtractedSource, target: Path) -> tuple[str, int]:
    # A refused or changed file leaves nothing behind; a crash never a half-landed file under its real name.
    with replaced_when_complete(target) as writer:
        sha256, size = _hash(source, copy_to=writer)
    return sha256, size


def landing_root() -> Path:
    return config.settings().var_dir / "landing"


def _landing_day() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def land(engine: Engine, department: Department, feed: Feed, source: ExtractedSource) -> Batch:
    """Copy the source's bytes under var/landing/<department>/<date>/ and register (or find) its batch."""
    started = time.monotonic()
    # Bytes landed before, on any day (a drop folder keeps its old files), are recognised by their
    # signature or else by one read, and are not copied again.
    known = _known_sha256(engine, department, feed, source)
    sha256, size = (known, source.file_signature.size) if known else _hash(source)
    landed = _landed_batch(engine, department, feed, sha256)
    if landed is not None and Path(landed.landed_path).exists():
        if source.file_signature is not None and not known:
            with engine.begin() as conn:
                _remember_signature(conn, department, feed, source, sha256)
        return _batch(department, feed, source, sha256, Path(landed.landed_path), landed, is_new=False)

    directory = landing_root() / department.code / _landing_day()
    directory.mkdir(parents=True, exist_ok=True)
    target = _landed_path(directory, feed, source, sha256)
    if not target.exists():
        staging_copy = directory / f".incoming-{os.getpid()}-{_safe_name(source.source_name)}"
        sha256, size = _hash_and_copy(source, staging_copy)  # the bytes copied are the bytes named
        target = _landed_path(directory, feed, source, sha256)
        if target.exists():
            staging_copy.unlink()
        else:
            staging_copy.replace(target)
    manifest = {
        "department": department.code, "feed": feed.code, "record_type": feed.record_type,
        "source_name": source.source_name, "sha256": sha256, "bytes": size, "format": source.format,
        "encoding": source.encoding, "landed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "watermark_kind": source.watermark_kind, "watermark_to": source.watermark_to,
    }
    manifest_path = target.with_name(target.name + ".manifest.json")
    if not manifest_path.exists():
        manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")

    with engine.begin() as conn:
        row = conn.execute(sa.text("""
            INSERT INTO audit.batch (department_code, feed_code, record_type_code, source_name, sha256, byte_count,
                                     landed_path, source_format, source_encoding, watermark_kind, watermark_to,
                                     land_ms)
            VALUES (:department, :feed, :record_type, :source_name, :sha256, :bytes, :path, :format, :encoding,
                    :watermark_kind, :watermark_to, :ms)
            ON CONFLICT (department_code, feed_code, sha256) DO NOTHING
            RETURNING batch_id, status
        """), {**manifest, "path": str(target), "ms": int((time.monotonic() - started) * 1000)}).one_or_none()
        is_new = row is not None
        if row is None:
            # Known bytes whose landed copy is gone (var/ restored or cleaned): the batch keeps this copy.
            row = conn.execute(sa.text("""
                UPDATE audit.batch SET landed_path = :path, updated_at = now()
                 WHERE department_code = :department AND feed_code = :feed AND sha256 = :sha256
                RETURNING batch_id, status
            """), {**manifest, "path": str(target)}).one()
        if source.file_signature is not None and not known:
            _remember_signature(conn, department, feed, source, sha256)
    return _batch(department, feed, source, sha256, target, row, is_new=is_new)


def _landed_batch(engine: Engine, department: Department, feed: Feed, sha256: str) -> sa.Row | None:
    with engine.connect() as conn:
        return conn.execute(sa.text("""
            SELECT batch_id, status, landed_path FROM audit.batch
             WHERE department_code = :department AND feed_code = :feed AND sha256 = :sha256
        """), {"department": department.code, "feed": feed.code, "sha256": sha256}).one_or_none()


def _batch(department: Department, feed: Feed, source: ExtractedSource, sha256: str, landed_path: Path,
           row: sa.Row, *, is_new: bool) -> Batch:
    return Batch(
        batch_id=row.batch_id, department_code=department.code, feed_code=feed.code,
        record_type_code=feed.record_type, source_name=source.source_name, sha256=sha256, landed_path=landed_path,
        source_format=source.format, source_encoding=source.encoding, watermark_kind=source.watermark_kind,
        watermark_to=source.watermark_to, status=row.status, is_new=is_new,
    )


def _known_sha256(engine: Engine, department: Department, feed: Feed, source: ExtractedSource) -> str | None:
    """The sha256 of a dropped file landed before with the signature it has now; None for anything else."""
    signature = source.file_signature
    if signature is None:
        return None
    with engine.connect() as conn:
        return conn.scalar(sa.text("""
            SELECT sha256 FROM audit.drop_file_seen
             WHERE department_code = :department AND feed_code = :feed AND file_name = :name
               AND byte_count = :size AND modified_ns = :modified_ns AND changed_ns = :changed_ns
               AND inode = :inode AND device = :device
               AND landed_at >= to_timestamp(:changed_ns / 1e9) + make_interval(secs => :racy)
        """), {"department": department.code, "feed": feed.code, "name": source.source_name,
               "racy": RACY_SECONDS, **signature._asdict()})


def _remember_signature(conn: sa.Connection, department: Department, feed: Feed, source: ExtractedSource,
                        sha256: str) -> None:
    """Record the signature the file had when listed, with its bytes' sha256. Bytes read after a change
    are recorded under the signature from before it, which the file no longer has: it is read next time."""
    conn.execute(sa.text("""
        INSERT INTO audit.drop_file_seen AS s (department_code, feed_code, file_name, byte_count, modified_ns,
                                               changed_ns, inode, device, sha256)
        VALUES (:department, :feed, :name, :size, :modified_ns, :changed_ns, :inode, :device, :sha256)
        ON CONFLICT (department_code, feed_code, file_name) DO UPDATE
           SET byte_count = EXCLUDED.byte_count, modified_ns = EXCLUDED.modified_ns,
               changed_ns = EXCLUDED.changed_ns, inode = EXCLUDED.inode, device = EXCLUDED.device,
               sha256 = EXCLUDED.sha256, landed_at = now()
    """), {"department": department.code, "feed": feed.code, "name": source.source_name, "sha256": sha256,
           **source.file_signature._asdict()})


def read_batch(engine: Engine, batch_id: int) -> Batch:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM audit.batch WHERE batch_id = :id"), {"id": batch_id}).one()
    return Batch(
        batch_id=row.batch_id, department_code=row.department_code, feed_code=row.feed_code,
        record_type_code=row.record_type_code, source_name=row.source_name, sha256=row.sha256,
        landed_path=Path(row.landed_path), source_format=row.source_format, source_encoding=row.source_encoding,
        watermark_kind=row.watermark_kind, watermark_to=row.watermark_to, status=row.status, is_new=False,
    )


def remove_work_file(source: ExtractedSource, work_dir: Path) -> None:
    """Connector temp files (API/SQL pulls) go once landed; department drop files are left alone."""
    if source.path.is_relative_to(work_dir):
        source.path.unlink(missing_ok=True)
