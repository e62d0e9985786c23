"""What every connector produces and receives: transport-neutral types."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, Protocol

from etl.catalog import Department, Feed

SourceFormat = Literal["csv", "xlsx", "jsonl"]
WatermarkKind = Literal["file", "cursor", "updated_at"]


RACY_SECONDS = 2


class FileSignature(NamedTuple):
    """What the file system says about a file without reading it. Any write sets the change time
    (`st_ctime_ns`), which ordinary tools cannot set back, so an equal signature means unchanged bytes, as
    git's index assumes for its working tree; and as git does for "racy" entries, a signature recorded
    within `RACY_SECONDS` of the file's last change is not trusted (coarse clocks, such as FAT's 2 s)."""

    size: int
    modified_ns: int
    changed_ns: int
    inode: int
    device: int

    @classmethod
    def from_stat(cls, stat: os.stat_result) -> FileSignature:
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev)


@dataclass(frozen=True)
class ExtractedSource:
    """One unit to land as a batch: a dropped file, an API pull, or a SQL time window.

    `path` holds the bytes to land (the drop file itself, or a file the connector wrote under
    `work_dir`); `watermark_to` is where the feed's watermark moves once this batch's load commits.
    `file_signature` is a dropped file's signature when it was listed: landing recognises a file it
    has landed before by it, without reading the file again.
    """

    source_name: str
    path: Path
    format: SourceFormat
    encoding: str | None
    watermark_kind: WatermarkKind
    watermark_to: str | None
    rows_hint: int | None = None
    file_signature: FileSignature | None = None


@dataclass(frozen=True)
class FeedContext:
    department: Department
    feed: Feed
    watermark: str | None
    work_dir: Path
    file_drop_dir: Path | None = None


class Connector(Protocol):
    def extract(self, context: FeedContext) -> list[ExtractedSource]: ...
