"""docs/data_dictionary.md is the COMMENT text of a freshly migrated warehouse, and stays so."""

from __future__ import annotations

import difflib

import pytest

from etl.dictionary import DICTIONARY_FILE, REGENERATE, render_dictionary
from etl.migrate import migrate

pytestmark = pytest.mark.integration


def test_data_dictionary_is_current(empty_database):
    migrate(empty_database)
    expected = render_dictionary(empty_database)
    actual = DICTIONARY_FILE.read_text(encoding="utf-8") if DICTIONARY_FILE.exists() else ""
    if actual != expected:
        diff = "\n".join(list(difflib.unified_diff(actual.splitlines(), expected.splitlines(), "committed",
                                                   "from the migrations", lineterm="", n=1))[:40])
        pytest.fail(f"docs/data_dictionary.md is stale (a migration added or changed objects or comments). "
                    f"Regenerate it with `{REGENERATE}` and commit the result.\n{diff}", pytrace=False)


def test_dictionary_documents_every_mart_view_and_the_contract(empty_database):
    migrate(empty_database)
    text = render_dictionary(empty_database)
    for name in ("mart.v_publicity_license", "mart.v_publicity_penalty", "mart.v_subject_profile",
                 "mart.v_department_submission", "mart.v_blacklist_current", "mart.v_redlist_current",
                 "dw.fact_credit_record", "dw.dim_subject", "audit.batch", "audit.quarantine"):
        assert f"`{name}`" in text, name
    assert "| `fine_amount` | numeric(18,6) |  | 罚款金额（万元）/ Fine in units of 10,000 yuan (万元) |" in text
    assert "（无说明 / no comment）" not in text
