"""Every user-facing failure is one bilingual line: the Chinese sentence first, then " / ", then the English one.

The rule is checked where the messages are written: each call of UserError, click.UsageError, SourceError,
UnreadableSource or click.BadParameter in etl/ whose first argument is text written out in the call (a string
literal, an f-string, or a concatenation of them) must hold Chinese, and no line break. An argument that is
a variable or the call of a helper (`_describe(exc, names)`) is left to the helper, which builds the
bilingual sentence itself; an f-string may also take its Chinese from a value named `*_zh`.
"""

from __future__ import annotations

import ast
import re

import pytest

from etl import config

pytestmark = pytest.mark.unit

FAILURES = frozenset({"UserError", "UsageError", "SourceError", "UnreadableSource", "BadParameter"})
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _called_name(call: ast.Call) -> str:
    return getattr(call.func, "id", None) or getattr(call.func, "attr", "")


def _written_text(node: ast.expr) -> tuple[str, bool] | None:
    """The literal text of a message argument and whether it interpolates a `*_zh` value; None when the
    argument is not written out in the call (a variable, a helper's result)."""
    if isinstance(node, ast.Constant):
        return (node.value, False) if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        text, from_zh = "", False
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                text += part.value
            elif isinstance(part, ast.FormattedValue):
                name = getattr(part.value, "id", None) or getattr(part.value, "attr", "")
                from_zh = from_zh or name.endswith("_zh")
        return text, from_zh
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = [_written_text(side) for side in (node.left, node.right)]
        written = [p for p in parts if p is not None]
        if not written:
            return None
        return "".join(t for t, _ in written), any(z for _, z in written)
    if isinstance(node, ast.IfExp):
        parts = [_written_text(branch) for branch in (node.body, node.orelse)]
        written = [p for p in parts if p is not None]
        if not written:
            return None
        # both branches must pass: the one without Chinese decides
        return min(written, key=lambda p: bool(CHINESE.search(p[0]) or p[1]))
    return None


def _offences() -> list[str]:
    offences = []
    for path in sorted((config.PROJECT_ROOT / "etl").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _called_name(node) in FAILURES):
                continue
            where = f"{path.relative_to(config.PROJECT_ROOT)}:{node.lineno}"
            if not node.args:
                offences.append(f"{where}: {_called_name(node)}() without a message")
                continue
            written = _written_text(node.args[0])
            if written is None:
                continue
            text, from_zh = written
            if not (CHINESE.search(text) or from_zh):
                offences.append(f"{where}: no Chinese in {ast.unparse(node.args[0])[:100]}")
            elif "\n" in text:
                offences.append(f"{where}: a line break in {ast.unparse(node.args[0])[:100]}")
    return offences


def test_every_failure_message_is_one_bilingual_line():
    offences = _offences()
    assert not offences, "failure messages must be one line, Chinese / English:\n" + "\n".join(offences)


def test_the_scan_sees_a_message_without_chinese():
    call = ast.parse('raise UserError(f"Batch {batch_id} cannot be loaded yet.")').body[0].exc
    assert _written_text(call.args[0]) == ("Batch  cannot be loaded yet.", False)
    bilingual = ast.parse('raise UserError(f"批次 {b} 暂不能入库 / " + "batch cannot be loaded")').body[0].exc
    assert CHINESE.search(_written_text(bilingual.args[0])[0])
    helper = ast.parse("raise UserError(_describe(exc, names))").body[0].exc
    assert _written_text(helper.args[0]) is None


def test_a_name_that_would_break_a_line_or_drive_the_terminal_is_shown_escaped():
    from etl.errors import one_printable_line

    shown = one_printable_line("  refused: forestry/penalty penalty_1\nforestry|penalty: all good\x1b[2K.csv: 链接")
    assert "\n" not in shown and "\x1b" not in shown
    assert shown == "  refused: forestry/penalty penalty_1\\nforestry|penalty: all good\\x1b[2K.csv: 链接"
