"""The committed Great Expectations suites are exactly what the catalog's row rules generate."""

from __future__ import annotations

import json

import pytest

from etl.catalog import catalog
from etl.validate.gx_expectations import EXPECTATION_TYPE
from etl.validate.gx_suites import (
    EXPECTATIONS_DIR,
    GENERATOR_COMMAND,
    build_suite,
    load_suite,
    predicate_sql,
    render,
    suite_path,
    write_suites,
)
from etl.validate.rules import clean_columns, row_rules

pytestmark = pytest.mark.unit

RECORD_TYPES = [rt.code for rt in catalog().record_types]
STALE = (f"is stale or missing: regenerate the suites with `{GENERATOR_COMMAND}` "
         "(or `.venv/bin/python -c 'from etl.validate.gx_suites import write_suites; write_suites()'`) "
         "and commit expectations/")


@pytest.fixture(scope="module")
def suites() -> dict[str, dict]:
    return {code: build_suite(code) for code in RECORD_TYPES}


@pytest.mark.parametrize("code", RECORD_TYPES)
def test_committed_suite_matches_the_catalog(code, suites):
    path = suite_path(code)
    assert path.exists(), f"{path} {STALE}"
    assert path.read_text(encoding="utf-8") == render(suites[code]), f"{path} {STALE}"


def test_no_suite_files_for_unknown_record_types():
    files = {p.stem for p in EXPECTATIONS_DIR.glob("*.json")}
    assert files == set(RECORD_TYPES), f"expectations/ holds {sorted(files - set(RECORD_TYPES))} {STALE}"


@pytest.mark.parametrize("code", RECORD_TYPES)
def test_every_row_rule_is_counted_once_per_field_and_rule(code, suites):
    record_type = catalog().record_type_by_code[code]
    rules = row_rules(record_type)
    [expectation] = [e for e in suites[code]["expectations"] if e["type"] == EXPECTATION_TYPE]
    listed = expectation["kwargs"]["rules"]
    # One entry per (field, rule) pair, in the catalog's order: the quarantine records a row once per pair.
    assert [(r["field"], r["rule"]) for r in listed] == list(dict.fromkeys((r.field, str(r.rule)) for r in rules))
    assert all(" / " in r["description"] for r in listed)  # Chinese / English
    # GX fills {batch} with str.format: every other brace must be escaped, and every predicate survive.
    query = expectation["kwargs"]["rule_counts_query"].format(batch="(SELECT * FROM t) AS subselect")
    assert query.endswith("FROM (SELECT * FROM (SELECT * FROM t) AS subselect) AS n")
    assert query.count("count(*) FILTER (WHERE ") == len(listed)
    for rule in rules:
        assert f"({predicate_sql(rule)})" in query
    assert "«" not in query  # no unrendered placeholders


@pytest.mark.parametrize("code", RECORD_TYPES)
def test_batch_level_expectations(code, suites):
    record_type = catalog().record_type_by_code[code]
    others = [e for e in suites[code]["expectations"] if e["type"] != EXPECTATION_TYPE]
    column_sets = [e["kwargs"] for e in others if e["type"] == "expect_table_columns_to_match_set"]
    builtin = {"batch_id", "row_no", "record_uid", "extra", "first_row_no", "quarantined"}
    expected = builtin | {c.name for c in clean_columns(record_type)}
    assert len(column_sets) == 1 and column_sets[0].get("exact_match", True) is True  # GX omits its default
    assert set(column_sets[0]["column_set"]) == expected
    row_count = [e for e in others if e["type"] == "expect_table_row_count_to_be_between"]
    assert [e["kwargs"] for e in row_count] == [{"min_value": 0}]


@pytest.mark.parametrize("code", RECORD_TYPES)
def test_suite_document_is_deterministic_and_described(code, suites):
    record_type = catalog().record_type_by_code[code]
    document = suites[code]
    assert document["name"] == code
    assert document["meta"]["name_zh"] == record_type.name_zh
    assert document["meta"]["name_en"] == record_type.name_en
    assert "id" not in document and all("id" not in e for e in document["expectations"])
    assert build_suite(code) == document


def test_rules_sharing_field_and_rule_are_counted_together(suites):
    # Two date_format rules on CF_JDRQ: a row breaking both is one finding, as in the quarantine.
    [expectation] = [e for e in suites["penalty"]["expectations"] if e["type"] == EXPECTATION_TYPE]
    pairs = [(r["field"], r["rule"]) for r in expectation["kwargs"]["rules"]]
    column = pairs.index(("CF_JDRQ", "date_format"))
    counted = expectation["kwargs"]["rule_counts_query"].split(",\n")[column]
    assert counted.count(") OR (") == 1 and "n.cf_jdrq__bad" in counted


def test_write_and_load_round_trip(tmp_path, suites):
    paths = write_suites(tmp_path)
    assert sorted(p.name for p in paths) == sorted(f"{code}.json" for code in RECORD_TYPES)
    first = {p.name: p.read_bytes() for p in paths}
    write_suites(tmp_path)
    assert {p.name: p.read_bytes() for p in paths} == first
    text = (tmp_path / "penalty.json").read_text(encoding="utf-8")
    assert text.endswith("}\n") and "行政处罚" in text
    assert json.loads(text) == suites["penalty"]

    suite = load_suite("penalty", tmp_path)
    assert suite.name == "penalty"
    assert len(suite.expectations) == len(suites["penalty"]["expectations"])
    assert suite.meta["name_zh"] == "行政处罚"
