"""Files the pipeline writes for people and for itself appear whole or not at all."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def replaced_when_complete(path: Path) -> Iterator[BinaryIO]:
    """A binary file written beside `path` (`<name>.part`) and renamed to it once complete and on disk.

    Whatever stops the writing (a full disk, a refused source, a crash) leaves no `.part` behind and never a
    half-written file under the real name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    try:
        with temporary.open("wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    temporary.replace(path)


def write_whole(path: Path, render) -> None:
    """Write what `render(buffer)` writes into an in-memory buffer to `path`, whole or not at all.

    Workbook writers write through a zip file: one that fails on a full disk fails again while it is garbage
    collected, and prints tracebacks nobody can act on. Built in memory, only a plain write can fail.
    """
    buffer = io.BytesIO()
    render(buffer)
    with replaced_when_complete(path) as out:
        out.write(buffer.getbuffer())
