"""Great Expectations suites generated from the catalog: the same row rules the quarantine runs.

Every `RowRule` of `etl.validate.rules.row_rules` is listed in the suite's one
`ExpectNoRowsBreakingRules` (`etl.validate.gx_expectations`), whose query counts, in one scan of the
batch of `staging.<record_type>_clean` that GX hands in as `{batch}`, the rows breaking each
(field, rule) pair. The quarantine INSERT runs the very same predicates, so what GX reports and
what is quarantined cannot drift apart.

The suites are committed as `expectations/<record_type>.json` (regenerate them with
`creditwh expectations build`); a unit test fails when a file no longer matches the catalog.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from etl import config
from etl.catalog import RecordType, catalog
from etl.quarantine import messages
from etl.stage.tables import CLEAN_KEY_COLUMNS, EXTRA_COLUMN, QUARANTINED_COLUMN
from etl.validate.rules import RowRule, clean_columns, row_rules

EXPECTATIONS_DIR = config.PROJECT_ROOT / "expectations"
GENERATOR_COMMAND = "creditwh expectations build"

# The clean table's columns that are not a field's (etl/stage/tables.py); `quarantined` is false on every row GX
# audits, which are the rows the quarantine left.
_BUILTIN_COLUMNS = (*CLEAN_KEY_COLUMNS, EXTRA_COLUMN[0], QUARANTINED_COLUMN[0])


def suite_path(record_type_code: str, directory: Path | None = None) -> Path:
    return (directory or EXPECTATIONS_DIR) / f"{record_type_code}.json"


def _escape_braces(sql: str) -> str:
    # GX fills `{batch}` with str.format: a literal brace (a regex quantifier such as `[0-9]{2}`)
    # must be doubled, or formatting fails at validation time.
    return sql.replace("{", "{{").replace("}", "}}")


def rule_counts_query(conditions: list[str]) -> str:
    """One row over the batch: for each condition (over the clean row `n`), the rows where it holds.

    For a query asset GX substitutes `{batch}` with `(<asset query>) AS subselect`, so the batch
    cannot be aliased directly (`... AS subselect n` is a syntax error); wrapping it in a derived
    table gives the predicates their alias `n` for table and query assets alike. (A query with a
    JOIN is substituted differently: a bare `(<asset query>)`, aliased by the query itself.)
    """
    counts = ",\n       ".join(f"count(*) FILTER (WHERE {_escape_braces(c)}) AS rule_{i}"
                                for i, c in enumerate(conditions))
    return f"SELECT {counts}\n  FROM (SELECT * FROM {{batch}}) AS n"


def predicate_sql(rule: RowRule) -> str:
    """The rule's predicate as plain SQL over `n`, checksum functions called inline.

    Not the quarantine's joined form (each distinct code checked once via a join): a freshly
    staged batch has no planner statistics, the planner then expects one row and picks a nested
    loop that re-runs the distinct-code subquery for every row (many minutes for 100,000 rows,
    where the five inline checksum expectations of a penalty batch take about 3 s).
    """
    render = getattr(rule, "sql", None)
    return render() if callable(render) else rule.predicate


def _sql_literal_text(expression: str) -> str | None:
    """The text of a plain SQL string literal ('...'), or None for any other expression."""
    if len(expression) >= 2 and expression[0] == expression[-1] == "'" and "'" not in expression[1:-1].replace(
            "''", ""):
        return expression[1:-1].replace("''", "'")
    return None


def _detail_text(expression: str) -> str | None:
    """A detail expression for a description: a literal as is, `<row value> || '<suffix>'` as '…<suffix>'."""
    text = _sql_literal_text(expression)
    if text is not None:
        return text
    head, sep, tail = expression.rpartition(" || ")
    suffix = _sql_literal_text(tail) if sep else None
    return None if suffix is None else "…" + suffix


def describe(rule: RowRule, record_type: RecordType) -> str:
    """The quarantine reason in Chinese and English; row-dependent details are shown as '…'."""
    detail_zh = _detail_text(rule.detail_zh)
    detail_en = _detail_text(rule.detail_en) or detail_zh  # as messages(): English falls back to Chinese
    zh, en = messages(rule.rule, rule.field, record_type,
                      "…" if detail_zh in (None, "") else detail_zh,
                      "…" if detail_en in (None, "") else detail_en)
    return f"{zh} / {en}"


def build_suite(record_type: RecordType | str) -> dict[str, Any]:
    """The record type's expectation suite as a JSON-serialisable GX 1.x suite dict."""
    import great_expectations as gx
    from great_expectations import expectations as gxe

    from etl.validate.gx_expectations import ExpectNoRowsBreakingRules

    if isinstance(record_type, str):
        record_type = catalog().record_type_by_code[record_type]
    columns = [*_BUILTIN_COLUMNS, *(c.name for c in clean_columns(record_type))]
    expectations: list[Any] = [
        gxe.ExpectTableRowCountToBeBetween(
            min_value=0, description="批次行数（仅记录）/ Rows in the batch (recorded only)"),
        # One expectation for the whole column set: per-column expectations cost GX ~4 ms of Python each, per batch.
        gxe.ExpectTableColumnsToMatchSet(
            column_set=columns, exact_match=True,
            description="规范化表的列与目录一致 / The clean table has exactly the catalog's columns"),
    ]
    # The quarantine records a row once per (field, rule): rules sharing the pair are counted together.
    by_key: dict[tuple[str, str], list[RowRule]] = {}
    for rule in row_rules(record_type):
        by_key.setdefault((rule.field, str(rule.rule)), []).append(rule)
    conditions = [" OR ".join(f"({predicate_sql(r)})" for r in rules) for rules in by_key.values()]
    described = [{"field": field, "rule": rule,
                  "description": "；".join(dict.fromkeys(describe(r, record_type) for r in rules))}
                 for (field, rule), rules in by_key.items()]
    expectations.append(ExpectNoRowsBreakingRules(
        # No description: Data Docs would show it in place of the rule list the expectation renders.
        rule_counts_query=rule_counts_query(conditions), rules=described))
    suite = gx.ExpectationSuite(
        name=record_type.code,
        expectations=expectations,
        meta={
            "record_type": record_type.code,
            "name_zh": record_type.name_zh,
            "name_en": record_type.name_en,
            "generated_from": "etl/catalog (etl.validate.rules.row_rules)",
            "note_zh": f"由目录自动生成，请勿手工修改；目录变更后运行 `{GENERATOR_COMMAND}` 重新生成。",
            "note_en": f"Generated from the catalog; do not edit by hand. Run `{GENERATOR_COMMAND}` after "
                       "catalog changes.",
        },
    )
    document = suite.to_json_dict()
    if len(document["expectations"]) != len(expectations):
        # ExpectationSuite logs and drops an invalid expectation instead of raising.
        raise ValueError(f"suite {record_type.code}: GX dropped {len(expectations) - len(document['expectations'])} "
                         "invalid expectations")
    return _without_ids(document)


def _without_ids(document: dict[str, Any]) -> dict[str, Any]:
    """GX assigns random ids when a suite is saved in a context; files stay deterministic without them."""
    document = {k: v for k, v in document.items() if k != "id"}
    document["expectations"] = [{k: v for k, v in e.items() if k not in ("id", "rendered_content")}
                                for e in document["expectations"]]
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_suites(directory: Path | None = None) -> list[Path]:
    """Write expectations/<record_type>.json for every record type; returns the paths written."""
    directory = directory or EXPECTATIONS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for record_type in catalog().record_types:
        path = suite_path(record_type.code, directory)
        text = render(build_suite(record_type))
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        paths.append(path)
    return paths


def read_suite_document(record_type_code: str, directory: Path | None = None) -> dict[str, Any]:
    with suite_path(record_type_code, directory).open(encoding="utf-8") as f:
        return json.load(f)


def load_suite(record_type_code: str, directory: Path | None = None):
    """The committed suite as a fresh `gx.ExpectationSuite` (not bound to any context)."""
    import great_expectations as gx

    import etl.validate.gx_expectations  # noqa: F401 - registers the suites' rule expectation type with GX

    document = read_suite_document(record_type_code, directory)
    suite = gx.ExpectationSuite(**document)
    if len(suite.expectations) != len(document["expectations"]):
        raise ValueError(f"{suite_path(record_type_code, directory)}: GX rejected some expectations "
                         f"({len(suite.expectations)} of {len(document['expectations'])} loaded)")
    return suite
