"""File drop connector: what a department dropped in its folder, read only when it is complete.

Each department has one folder under the drop directory (`CREDITWH_DROP_DIR/<department>`). A scan
looks at every entry of it once and sorts it:

- a regular file whose name matches one feed's pattern (case-insensitively; an Excel feed takes
  `.xls` and `.xlsm` as well as `.xlsx`) is offered to that feed, in name order (departments stamp the
  delivery date into the name), once it is complete: a companion flag file `<name>.ok` / `<name>.done`
  (or `<stem>.ok` / `<stem>.done`) says so, as government data exchange does, or else it has held still
  (no change to its size, contents or metadata) for the settle period;
- a file that is still arriving (a `.part`/`.tmp`/`.crdownload` name, or changed within the settle
  period) waits for the next run;
- anything that is not a department's own regular file is refused, never read: symbolic links
  (whatever they point at), hard links to other files, FIFOs, sockets, devices, directories named like
  data, and a name that matches two feeds;
- a regular file that matches no feed is reported, so a delivery under a wrong name is not lost.

Refused and unmatched entries are reported by the feed they concern (or the department's first file
feed) and recorded in `audit.drop_notice` by the caller. Landing opens a file with `open_dropped`,
which refuses a link or a swapped file at the moment of reading, and checks afterwards that nothing
changed while it was read.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from etl.catalog import Department, Feed
from etl.errors import UserError
from etl.extract.base import ExtractedSource, FeedContext, FileSignature
from etl.status import BatchStatus

IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".filepart")
COMPLETION_FLAGS = (".ok", ".done")
EXCEL_SUFFIXES = (".xlsx", ".xls", ".xlsm")

NoticeKind = Literal[BatchStatus.REFUSED, BatchStatus.UNMATCHED, BatchStatus.WAITING]  # status.NOT_TAKEN


class DropRefused(Exception):
    """An entry that must not be read (a link, a special file, a file swapped since it was listed)."""

    def __init__(self, reason_zh: str, reason_en: str) -> None:
        super().__init__(f"{reason_zh} / {reason_en}")
        self.reason_zh, self.reason_en = reason_zh, reason_en


class DropChanged(Exception):
    """A file changed while it was read: its bytes are not the ones listed; taken on a later run."""


@dataclass(frozen=True)
class DropNotice:
    """An entry of a drop folder that was not taken, and why (in Chinese and English)."""

    department: str
    feed: str | None
    name: str
    kind: NoticeKind
    reason_zh: str
    reason_en: str

    @property
    def reason(self) -> str:
        return f"{self.reason_zh} / {self.reason_en}"


@dataclass
class DropScan:
    """One look at a department's folder: the files each feed may take, and every entry not taken."""

    ready: dict[str, list[tuple[str, FileSignature]]] = field(default_factory=dict)
    notices: list[DropNotice] = field(default_factory=list)

    def notices_for(self, department: Department, feed: Feed) -> list[DropNotice]:
        """The notices this feed reports: its own, and for its department's first file feed, the ones of no feed."""
        first = next(f.code for f in department.feeds if f.transport == "file")
        return [n for n in self.notices if n.feed == feed.code or (n.feed is None and feed.code == first)]


def feed_matches(feed: Feed, name: str) -> bool:
    """Whether a file name matches the feed's pattern: case-insensitively (Windows writes `.CSV` as readily
    as `.csv`), and for an Excel feed with any Excel extension (`.xls` is read as well as `.xlsx`)."""
    assert feed.file is not None
    lowered, pattern = name.casefold(), feed.file.pattern.casefold()
    if fnmatch.fnmatchcase(lowered, pattern):
        return True
    if feed.file.format == "xlsx" and lowered.endswith(EXCEL_SUFFIXES) and pattern.endswith(EXCEL_SUFFIXES):
        stem, pattern_suffix = lowered.rsplit(".", 1)[0], pattern.rsplit(".", 1)[1]
        return fnmatch.fnmatchcase(f"{stem}.{pattern_suffix}", pattern)
    return False


def _completion_flags(name: str) -> tuple[str, ...]:
    stem = name.rsplit(".", 1)[0]
    return tuple(f"{base}{flag}" for base in (name, stem) for flag in COMPLETION_FLAGS)


def _is_flag(name: str) -> bool:
    return name.casefold().endswith(COMPLETION_FLAGS)


class DropFolder:
    """A department's drop folder, looked at without following any link."""

    def __init__(self, drop_dir: Path, department: Department, settle_seconds: float,
                 clock=time.time) -> None:  # noqa: ANN001 - a time.time-like callable, replaced in tests
        if settle_seconds < 0:
            raise ValueError("settle_seconds must not be negative")
        self.drop_dir = Path(drop_dir)
        self.department = department
        self.path = self.drop_dir / department.code
        self.settle_seconds = settle_seconds
        self._clock = clock
        self._file_feeds = [f for f in department.feeds if f.transport == "file"]

    def _notice(self, feed: str | None, name: str, kind: NoticeKind, zh: str, en: str) -> DropNotice:
        return DropNotice(self.department.code, feed, name, kind, zh, en)

    def folder_problem(self) -> DropNotice | None:
        """Why the department's folder itself cannot be read (a link, not a directory); None when it is fine."""
        try:
            mode = os.lstat(self.path).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(mode):
            return self._notice(None, self.department.code + "/", BatchStatus.REFUSED,
                                f"部门文件夹 {self.path} 是符号链接，拒绝读取（不跟随链接）",
                                f"the department folder {self.path} is a symbolic link; links are never followed")
        if not stat.S_ISDIR(mode):
            return self._notice(None, self.department.code, BatchStatus.REFUSED,
                                f"{self.path} 不是文件夹，拒绝读取", f"{self.path} is not a folder; nothing is read")
        return None

    def scan(self) -> DropScan:
        """Sort every entry of the folder (see the module's docstring); nothing is opened or read."""
        scan = DropScan(ready={f.code: [] for f in self._file_feeds})
        problem = self.folder_problem()
        if problem is not None:
            scan.notices.append(problem)
            return scan
        try:
            entries = sorted(os.listdir(self.path))
        except FileNotFoundError:
            return scan
        flags = {name.casefold() for name in entries if _is_flag(name)}
        now = self._clock()
        for name in entries:
            if name.startswith(".") or _is_flag(name):
                continue  # hidden files (an rsync upload in progress) and completion flags are not deliveries
            in_progress = name.casefold().endswith(IN_PROGRESS_SUFFIXES)
            final_name = name.rsplit(".", 1)[0] if in_progress else name
            feeds = [f for f in self._file_feeds if feed_matches(f, final_name)]
            feed = feeds[0].code if len(feeds) == 1 else None
            try:
                info = os.lstat(self.path / name)
            except FileNotFoundError:
                continue  # gone since the listing
            refusal = self._refusal(name, info, bool(feeds))
            if refusal is not None:
                scan.notices.append(self._notice(feed, name, BatchStatus.REFUSED, *refusal))
                continue
            if stat.S_ISDIR(info.st_mode):
                # Only the folder itself is read. A sub-folder is the department's business (an archive, say),
                # unless it holds files named like data: those were likely meant for loading, and are said.
                nested = self._named_like_data(self.path / name)
                if nested:
                    scan.notices.append(self._notice(
                        None, name + "/", BatchStatus.UNMATCHED,
                        f"子文件夹中的文件不会被读取（{'、'.join(nested[:5])}），请直接放在部门文件夹 {self.path} 中",
                        f"files in a sub-folder are not read ({', '.join(nested[:5])}); put them in the "
                        f"department's folder {self.path} itself"))
                continue
            if in_progress:
                if feed is not None:
                    scan.notices.append(self._notice(feed, name, BatchStatus.WAITING, "文件仍在上传（临时文件名）",
                                                     "still being uploaded (a temporary name)"))
                continue
            if not feeds:
                scan.notices.append(self._unmatched(name))
                continue
            if len(feeds) > 1:
                codes = ", ".join(f.code for f in feeds)
                scan.notices.append(self._notice(None, name, BatchStatus.REFUSED,
                                                 f"文件名同时符合多个数据源（{codes}），无法判断归属",
                                                 f"the name matches several feeds ({codes}); rename it for one"))
                continue
            signature = FileSignature.from_stat(info)
            flagged = any(flag.casefold() in flags for flag in _completion_flags(name))
            age = now - max(info.st_mtime, info.st_ctime)
            if not flagged and age < self.settle_seconds:
                scan.notices.append(self._notice(
                    feed, name, BatchStatus.WAITING,
                    f"文件 {max(age, 0):.0f} 秒前仍有变化，静置 {self.settle_seconds:g} 秒后"
                    f"（或放置 {name}.ok 完成标记后）读取",
                    f"changed {max(age, 0):.0f} s ago; taken once it has been still for {self.settle_seconds:g} s "
                    f"(or once {name}.ok marks it complete)"))
                continue
            scan.ready[feed].append((name, signature))
        return scan

    def _refusal(self, name: str, info: os.stat_result, named_like_data: bool) -> tuple[str, str] | None:
        mode = info.st_mode
        if stat.S_ISLNK(mode):
            try:
                target = os.readlink(self.path / name)
            except OSError:
                target = "?"
            return (f"{name} 是符号链接（指向 {target}），拒绝读取：只读取部门自己放入的文件",
                    f"{name} is a symbolic link (to {target}); links are never followed, only files the "
                    f"department dropped are read")
        if stat.S_ISDIR(mode):
            if named_like_data:
                return (f"{name} 是文件夹而不是数据文件，拒绝读取",
                        f"{name} is a folder named like a data file; not read")
            return None
        if not stat.S_ISREG(mode):
            kind_zh, kind_en = (("命名管道", "a FIFO") if stat.S_ISFIFO(mode) else ("套接字", "a socket")
                                if stat.S_ISSOCK(mode) else ("设备文件", "a device"))
            return f"{name} 是{kind_zh}，不是普通文件，拒绝读取", f"{name} is {kind_en}, not a regular file; not read"
        if info.st_nlink > 1:
            return (f"{name} 是另一文件的硬链接（{info.st_nlink} 个链接），拒绝读取：请放入文件本身的副本",
                    f"{name} is a hard link to another file ({info.st_nlink} links); drop a copy of the file instead")
        return None

    def _named_like_data(self, folder: Path) -> list[str]:
        """Names of the entries of a sub-folder that a feed would take in the department's folder (not followed
        further, nothing opened)."""
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return []
        return [n for n in names if not n.startswith(".") and any(feed_matches(f, n) for f in self._file_feeds)]

    def _unmatched(self, name: str) -> DropNotice:
        patterns = "、".join(f"{f.file.pattern}（{f.code}）" for f in self._file_feeds)
        patterns_en = ", ".join(f"{f.file.pattern} ({f.code})" for f in self._file_feeds)
        return self._notice(None, name, BatchStatus.UNMATCHED,
                            f"文件名不符合任何数据源，未读取；可接收的文件名：{patterns}",
                            f"the name matches no feed and was not read; expected names: {patterns_en}")


def locate_dropped_file(drop_dir: Path, department: Department, path: Path) -> str:
    """The name of `path` as an entry of the department's drop folder, or a UserError naming the folder and
    the feeds' patterns. The folder holding it must be the department's folder itself (compared by real path),
    and the name is looked up there, never resolved: a link named on the command line is refused as a link."""
    folder = Path(drop_dir) / department.code
    patterns = ", ".join(f"{f.file.pattern}" for f in department.feeds if f.transport == "file")
    if not patterns:
        raise UserError(f"部门 {department.code} 没有文件类数据源 / department {department.code} has no file feed; "
                        f"--file applies to file drops only")
    where_zh = f"须位于部门文件夹 {folder} 中，文件名符合：{patterns}"
    where_en = f"it must lie in the department's folder {folder} and be named like: {patterns}"
    try:
        same_folder = os.path.realpath(path.parent) == os.path.realpath(folder) and os.path.isdir(folder)
    except OSError:
        same_folder = False
    if not same_folder:
        raise UserError(f"{path} 不在部门 {department.code} 的投放文件夹中，{where_zh} / {path} is not in the drop "
                        f"folder of department {department.code}: {where_en}")
    return path.name


class FileConnector:
    """Lists the files a department has dropped for a file feed, complete and safe to read."""

    def __init__(self, settle_seconds: float, clock=time.time) -> None:  # noqa: ANN001 - as DropFolder's
        if settle_seconds < 0:
            raise ValueError("settle_seconds must not be negative")
        self.settle_seconds = settle_seconds
        self._clock = clock
        self.notices: list[DropNotice] = []  # this feed's: its own entries, or the department's of no feed
        self.scan_notices: list[DropNotice] = []  # every entry of the folder not taken

    def extract(self, context: FeedContext) -> list[ExtractedSource]:
        department, feed = context.department, context.feed
        if feed.file is None:
            raise UserError(f"部门 {department.code} 的数据源 {feed.code} 不是文件类 / department {department.code} "
                            f"feed {feed.code} is not a file feed.")
        if context.file_drop_dir is None:
            raise UserError(f"部门 {department.code} 数据源 {feed.code} 未配置投放文件夹 / department "
                            f"{department.code} feed {feed.code}: no file drop directory is configured "
                            f"(CREDITWH_DROP_DIR).")
        folder = DropFolder(context.file_drop_dir, department, self.settle_seconds, clock=self._clock)
        scan = folder.scan()
        self.notices = scan.notices_for(department, feed)
        self.scan_notices = scan.notices
        return [ExtractedSource(source_name=name, path=folder.path / name, format=feed.file.format, encoding=None,
                                watermark_kind="file", watermark_to=name, file_signature=signature)
                for name, signature in scan.ready[feed.code]]


@contextmanager
def open_dropped(path: Path, listed: FileSignature) -> Iterator[BinaryIO]:
    """Read a dropped file as it was listed: the folder and the file are opened without following links,
    the file must still be the regular file listed (same device and inode), and once read, unchanged
    (size, modification and change time); DropRefused or DropChanged otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        folder_fd = os.open(path.parent, flags | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise DropRefused(f"无法打开文件夹 {path.parent}（{exc.strerror}）", f"the folder {path.parent} cannot "
                          f"be opened without following links ({exc.strerror})") from None
    try:
        try:
            # O_NONBLOCK: opening a FIFO put in place of the file must not wait for a writer.
            fd = os.open(path.name, flags | os.O_NONBLOCK, dir_fd=folder_fd)
        except OSError as exc:
            raise DropRefused(f"{path.name} 无法按普通文件打开（{exc.strerror}），拒绝读取",
                              f"{path.name} cannot be opened as a regular file without following links "
                              f"({exc.strerror}); not read") from None
    finally:
        os.close(folder_fd)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (listed.device, listed.inode):
            raise DropRefused(f"{path.name} 在列出后被替换，拒绝读取", f"{path.name} was replaced after it was "
                              f"listed; not read")
        if FileSignature.from_stat(opened) != listed:
            raise DropChanged(f"{path.name} changed after it was listed")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as reader:
            yield reader
        if FileSignature.from_stat(os.fstat(fd)) != listed:
            raise DropChanged(f"{path.name} changed while it was read")
    finally:
        os.close(fd)
