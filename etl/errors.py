"""Errors meant for people: one sentence naming the problem and the fix, shown without a traceback."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A problem the person running the command can fix (configuration, input, environment)."""


def one_printable_line(text: str) -> str:
    """`text` as one line of the screen: a character that would break the line or drive the terminal (a newline
    or an escape sequence in a dropped file's name) is shown escaped, as Python writes it (`\\n`, `\\x1b`)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def check_writable(path: Path) -> None:
    """Fail before any work is done when `path` cannot be written: one line naming the file, in Chinese and
    English (a failure while saving would leave half a file and a library's traceback)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.with_name(f".{path.name}.probe")
        with probe.open("wb"):
            pass
        probe.unlink()
    except OSError as exc:
        raise UserError(f"无法写入 {path}（{exc.strerror or exc}） / cannot write {path}: {exc.strerror or exc}; "
                        f"choose another --out") from None
