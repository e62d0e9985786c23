"""The data dictionary's Markdown, from catalog contents given by hand (no server)."""

from __future__ import annotations

import pytest

from etl.dictionary import NO_COMMENT, Column, Function, Relation, Schema, format_dictionary

pytestmark = pytest.mark.unit

SCHEMAS = [
    Schema("dw", "数据仓库层 / Warehouse", (
        Relation("dim_subject", "table", "主体 / Subjects: one row per version", (
            Column("subject_key", "bigint", True, "代理键 / Surrogate key"),
            Column("name", "text", False, "名称 | 含竖线\n换行 / Name with a | and a newline"),
        )),
        Relation("v_x", "view", None, (Column("a", "integer", False, None),)),
    ), (Function("mask_code", "code text, code_kind text", "text", "脱敏 / Masking"),)),
    Schema("mart", "集市层 / Marts", (), ()),
]


def test_groups_by_schema_in_the_given_order_with_types_and_comments():
    text = format_dictionary(SCHEMAS)
    assert text.index("## 模式 schema `dw`") < text.index("## 模式 schema `mart`")
    assert "| `subject_key` | bigint | 是 yes | 代理键 / Surrogate key |" in text
    assert "### 表 table `dw.dim_subject`" in text and "### 视图 view `dw.v_x`" in text
    assert "| `dw.mask_code(code text, code_kind text)` | text | 脱敏 / Masking |" in text
    assert "| [`dw`](#schema-dw) | 数据仓库层 / Warehouse | 1 | 1 | 1 |" in text
    assert "| [`mart`](#schema-mart) | 集市层 / Marts | 0 | 0 | 0 |" in text


def test_cells_stay_on_one_line_and_missing_comments_show():
    text = format_dictionary(SCHEMAS)
    assert "| `name` | text |  | 名称 \\| 含竖线 换行 / Name with a \\| and a newline |" in text
    assert f"| `a` | integer | {NO_COMMENT} |" in text  # views have no not-null column


def test_same_input_same_bytes():
    assert format_dictionary(SCHEMAS) == format_dictionary(list(SCHEMAS))
    assert format_dictionary(SCHEMAS).endswith("集市层 / Marts\n")
