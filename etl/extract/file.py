"""File drop connector: every finished file in the department's drop folder that matches the feed's pattern.

Files are offered in name order (departments stamp the delivery date into the name, so name order is
arrival order). Nothing is deduplicated here: the landing step recognises bytes it has landed before
by their sha256 (or their file-system signature, for files it has landed). Files that are still being
written are left for the next run: hidden files, names ending in `.part`/`.tmp`/`.crdownload`, and files
whose signature (size, modification and change time, inode, device) changes between two looks `settle_seconds`
apart.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import time
from pathlib import Path

from etl.errors import UserError
from etl.extract.base import ExtractedSource, FeedContext, FileSignature

log = logging.getLogger(__name__)

IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".filepart")


class FileConnector:
    """Lists the files a department has dropped for a file feed."""

    def __init__(self, settle_seconds: float = 1.0) -> None:
        if settle_seconds < 0:
            raise ValueError("settle_seconds must not be negative")
        self.settle_seconds = settle_seconds

    def extract(self, context: FeedContext) -> list[ExtractedSource]:
        department, feed = context.department, context.feed
        if feed.file is None:
            raise UserError(f"Department {department.code} feed {feed.code} is not a file feed.")
        if context.file_drop_dir is None:
            raise UserError(f"Department {department.code} feed {feed.code}: no file drop directory is configured.")
        folder = Path(context.file_drop_dir) / department.code
        if not folder.is_dir():
            log.info("department %s feed %s: no drop folder %s yet", department.code, feed.code, folder)
            return []
        candidates = self._candidates(folder, feed.file.pattern)
        if not candidates:
            return []
        first = {path: FileSignature.of(path) for path in candidates}
        if self.settle_seconds:
            time.sleep(self.settle_seconds)
        sources = []
        for path in candidates:
            signature = FileSignature.of(path)
            if first[path] is None or signature != first[path]:
                log.info("department %s feed %s: %s is still being written; left for the next run",
                         department.code, feed.code, path.name)
                continue
            sources.append(ExtractedSource(source_name=path.name, path=path, format=feed.file.format,
                                           encoding=None, watermark_kind="file", watermark_to=path.name,
                                           file_signature=signature))
        return sources

    @staticmethod
    def _candidates(folder: Path, pattern: str) -> list[Path]:
        found = []
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or name.lower().endswith(IN_PROGRESS_SUFFIXES):
                    continue
                if not fnmatch.fnmatchcase(name, pattern) or not entry.is_file():
                    continue
                found.append(Path(entry.path))
        return sorted(found, key=lambda p: p.name)
