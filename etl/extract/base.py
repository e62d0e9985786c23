"""What every connector produces and receives: transport-neutral types."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from etl.catalog import Department, Feed

SourceFormat = Literal["csv", "xlsx", "jsonl"]
WatermarkKind = Literal["file", "cursor", "updated_at"]


@dataclass(frozen=True)
class ExtractedSource:
    """One unit to land as a batch: a dropped file, an API pull, or a SQL time window.

    `path` holds the bytes to land (the drop file itself, or a file the connector wrote under
    `work_dir`); `watermark_to` is where the feed's watermark moves once this batch's load commits.
    """

    source_name: str
    path: Path
    format: SourceFormat
    encoding: str | None
    watermark_kind: WatermarkKind
    watermark_to: str | None
    rows_hint: int | None = None


@dataclass(frozen=True)
class FeedContext:
    department: Department
    feed: Feed
    watermark: str | None
    work_dir: Path
    file_drop_dir: Path | None = None


class Connector(Protocol):
    def extract(self, context: FeedContext) -> list[ExtractedSource]: ...
