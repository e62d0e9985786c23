"""The project's Great Expectations expectation: the catalog's row rules, all counted in one pass.

`ExpectNoRowsBreakingRules` holds every row rule of a record type — its field, rule, reason and
the SQL predicate a breaking row satisfies — and one query that counts, in a single scan of the
batch, the rows breaking each (field, rule) pair: `count(*) FILTER (WHERE <predicate>)` per pair.
Success means every count is zero; the result lists the non-zero counts by field and rule, which
compare one to one with the quarantine's findings, and Data Docs show the rules and the counts.

Why one expectation and not one per rule (`UnexpectedRowsExpectation` each): GX spends its own
Python on every expectation of every batch — resolving metric dependencies, copying and
serialising configurations and results, rendering them — about 6 ms per expectation, and each
expectation was a scan of the batch of its own. With ~40 rules per record type that was ~0.4 s per
batch whatever its size, and most of a 100,000-record ingest (see `bench/RESULTS.md`).

Importing this module registers the type and its metric with GX (their metaclasses do so on class
creation): the suites in `expectations/` name it, so `etl.validate.gx_suites` imports it before
reading them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from great_expectations.compatibility import pydantic
from great_expectations.compatibility.sqlalchemy import sqlalchemy as sa
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.expectation import BatchExpectation
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.query_metric_provider import QueryMetricProvider
from great_expectations.render import RenderedStringTemplateContent
from great_expectations.render.components import LegacyDiagnosticRendererType, LegacyRendererType
from great_expectations.render.renderer.renderer import renderer

METRIC = "rule_counts_query.counts"


class RuleBreakingCounts(QueryMetricProvider):
    """The one row of `rule_counts_query` (over `{batch}`): a count per rule, in the query's column order."""

    metric_name = METRIC
    value_keys = ("rule_counts_query",)
    query_param_name: ClassVar[str] = "rule_counts_query"

    @metric_value(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, execution_engine: SqlAlchemyExecutionEngine, metric_domain_kwargs: dict,
                    metric_value_kwargs: dict, metrics: dict[str, Any], runtime_configuration: dict) -> list[int]:
        batch_selectable, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs,
                                                                     domain_type=MetricDomainTypes.TABLE)
        query = cls._get_substituted_batch_subquery_from_query_and_batch_selectable(
            query=cls._get_query_from_metric_value_kwargs(metric_value_kwargs),
            batch_selectable=batch_selectable, execution_engine=execution_engine)
        row = execution_engine.execute_query(sa.text(query)).fetchone()
        return [int(value or 0) for value in row]


class ExpectNoRowsBreakingRules(BatchExpectation):
    """No row of the batch breaks any of `rules`; `rule_counts_query` counts the breaking rows of each."""

    rule_counts_query: str = pydantic.Field(description="One row: per rule, the batch's rows breaking it.")
    rules: list[dict[str, str]] = pydantic.Field(
        description="The rules in the query's column order: field, rule, description (Chinese / English).")

    metric_dependencies: ClassVar[tuple[str, ...]] = (METRIC,)
    success_keys: ClassVar[tuple[str, ...]] = ("rule_counts_query",)
    domain_keys: ClassVar[tuple[str, ...]] = ("batch_id", "row_condition", "condition_parser")

    @pydantic.validator("rules")
    def _rules_are_described(cls, rules: list[dict[str, str]]) -> list[dict[str, str]]:
        for rule in rules:
            missing = {"field", "rule", "description"} - set(rule)
            if missing:
                raise ValueError(f"rule {rule} lacks {sorted(missing)}")
        return rules

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                  execution_engine: Any = None) -> dict:
        counts = metrics[METRIC]
        if len(counts) != len(self.rules):
            raise ValueError(f"the query counted {len(counts)} rules, the expectation lists {len(self.rules)}")
        broken = [{"field": rule["field"], "rule": rule["rule"], "rows": count}
                  for rule, count in zip(self.rules, counts, strict=True) if count]
        return {"success": not broken,
                "result": {"observed_value": sum(b["rows"] for b in broken), "details": {"broken_rules": broken}}}

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(cls, configuration=None, result=None, runtime_configuration=None, **kwargs):
        rules = (configuration.kwargs if configuration else {}).get("rules", [])
        lines = "\n".join(f"• {rule['field']} {rule['rule']}: {rule['description']}" for rule in rules)
        return [RenderedStringTemplateContent(content_block_type="string_template", string_template={
            "template": f"没有行违反以下 {len(rules)} 条规则 / No row breaks any of these {len(rules)} rules:\n$rules",
            "params": {"rules": lines},
            "styling": {"params": {"rules": {"styles": {"white-space": "pre-wrap"}}}},
        })]

    @classmethod
    @renderer(renderer_type=LegacyDiagnosticRendererType.OBSERVED_VALUE)
    def _diagnostic_observed_value_renderer(cls, configuration=None, result=None, runtime_configuration=None,
                                            **kwargs):
        if result is None or result.result is None:
            return "--"
        broken = (result.result.get("details") or {}).get("broken_rules") or []
        if not broken:
            return "0"
        return "; ".join(f"{b['field']} {b['rule']}: {b['rows']}" for b in broken)


EXPECTATION_TYPE = ExpectNoRowsBreakingRules.expectation_type
