"""The joint rewards and punishments list (etl/catalog/measures.yml): conditions, measures, legal basis.

Validated with pydantic on load (a mistake names the file and the field), and copied into
dw.dim_check_condition / dw.dim_measure by `seed_measures`, which `creditwh init` calls, so the SQL
check (`mart.credit_check`) and the report apply the same list.
"""

from __future__ import annotations

import functools
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import Engine

from etl import config
from etl.catalog import _read_yaml
from etl.errors import UserError

FILE_NAME = "measures.yml"
CODE = r"^[a-z][a-z0-9_]*$"


class ConditionCode(StrEnum):
    """The conditions the warehouse can judge; warehouse_sql/013_credit_check.sql knows how."""

    SERIOUS_DISHONESTY = "serious_dishonesty"
    DISHONEST_DEBTOR = "dishonest_debtor"
    ACTIVE_PENALTY = "active_penalty"
    ABNORMAL_OPERATION = "abnormal_operation"
    LOW_RATING = "low_rating"
    RED_LIST = "red_list"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    code: ConditionCode
    name_zh: Annotated[str, Field(min_length=1)]
    name_en: Annotated[str, Field(min_length=1)]
    polarity: Literal["negative", "positive"]
    lookback_months: int | None = Field(default=None, gt=0, le=120)
    grades: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _parameters(self) -> Condition:
        if (self.code == ConditionCode.ACTIVE_PENALTY) != (self.lookback_months is not None):
            raise ValueError("`lookback_months` is given for active_penalty, and only for it")
        if (self.code == ConditionCode.LOW_RATING) != bool(self.grades):
            raise ValueError("`grades` (a non-empty list) is given for low_rating, and only for it")
        expected = "positive" if self.code == ConditionCode.RED_LIST else "negative"
        if self.polarity != expected:
            raise ValueError(f"condition {self.code.value} is {expected}")
        return self


class Measure(_Strict):
    code: Annotated[str, Field(pattern=CODE)]
    condition: ConditionCode
    kind: Literal["punishment", "reward"]
    verdict: Literal["veto", "review", "none"]
    name_zh: Annotated[str, Field(min_length=1)]
    name_en: Annotated[str, Field(min_length=1)]
    legal_basis: Annotated[str, Field(min_length=4)]
    unless: tuple[ConditionCode, ...] = ()

    @field_validator("legal_basis")
    @classmethod
    def _one_line(cls, value: str) -> str:
        """YAML folds long lines with spaces; Chinese text takes none around its punctuation."""
        value = " ".join(value.split())
        return re.sub(r"\s*([；，。、（）《》〔〕])\s*", r"\1", value)

    @model_validator(mode="after")
    def _consistent(self) -> Measure:
        if self.kind == "reward" and self.verdict != "none":
            raise ValueError("a reward cannot veto or ask for review; give verdict none")
        if self.condition in self.unless:
            raise ValueError("a measure cannot be suspended by its own condition")
        return self


class QueryLimits(_Strict):
    """What one database user may ask of the credit check (measures.yml: query_limits)."""

    max_codes_per_call: int = Field(gt=0)
    max_id_numbers_per_call: int = Field(gt=0)
    max_id_numbers_per_day: int = Field(gt=0, lt=10_000_000)
    max_same_masked_per_day: int = Field(gt=0)


class MeasureList(_Strict):
    query_limits: QueryLimits
    conditions: tuple[Condition, ...]
    measures: tuple[Measure, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _complete(self) -> MeasureList:
        codes = [c.code for c in self.conditions]
        missing = sorted(set(ConditionCode) - set(codes))
        if missing:
            raise ValueError(f"conditions {missing} are missing; every condition needs a name")
        if len(set(codes)) != len(codes):
            raise ValueError("a condition is listed twice")
        measure_codes = [m.code for m in self.measures]
        repeated = sorted({c for c in measure_codes if measure_codes.count(c) > 1})
        if repeated:
            raise ValueError(f"measure codes {repeated} repeat")
        polarity = {c.code: c.polarity for c in self.conditions}
        for measure in self.measures:
            expected = "reward" if polarity[measure.condition] == "positive" else "punishment"
            if measure.kind != expected:
                raise ValueError(f"measure {measure.code}: a {polarity[measure.condition]} condition "
                                 f"carries a {expected}")
        return self

    @functools.cached_property
    def condition_by_code(self) -> dict[str, Condition]:
        return {c.code.value: c for c in self.conditions}


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    path = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return (f"目录文件 {FILE_NAME} 的字段 {path or '（顶层）'} 有误，请修改后重试 / "
            f"Catalog file {FILE_NAME}: field {path or '(top level)'}: {message}.")


def load_measures(directory: Path | None = None) -> MeasureList:
    """Read and validate measures.yml; raises UserError naming the file and field on a mistake."""
    document = _read_yaml((directory or config.settings().catalog_dir) / FILE_NAME)
    try:
        return MeasureList.model_validate(document)
    except ValidationError as exc:
        raise UserError(_describe(exc)) from None


@functools.cache
def measures() -> MeasureList:
    """The project's measures list, loaded once per process."""
    return load_measures()


def seed_measures(engine: Engine, measure_list: MeasureList | None = None) -> int:
    """Bring dw.dim_check_condition and dw.dim_measure in line with measures.yml (one transaction);
    returns the number of active measures. Also the query limits, and the check functions' grant to the
    credit_checker role."""
    measure_list = measure_list or measures()
    conditions = [
        {"code": c.code.value, "zh": c.name_zh, "en": c.name_en, "polarity": c.polarity,
         "lookback": c.lookback_months, "grades": list(c.grades) if c.grades else None, "sort": i}
        for i, c in enumerate(measure_list.conditions, start=1)
    ]
    rows = [
        {"code": m.code, "condition": m.condition.value, "kind": m.kind, "verdict": m.verdict, "zh": m.name_zh,
         "en": m.name_en, "basis": m.legal_basis, "unless": [u.value for u in m.unless], "sort": i}
        for i, m in enumerate(measure_list.measures, start=1)
    ]
    with engine.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO dw.dim_check_condition (condition_code, name_zh, name_en, polarity, lookback_months, grades,
                                                sort_order)
            VALUES (:code, :zh, :en, :polarity, :lookback, CAST(:grades AS text[]), :sort)
            ON CONFLICT (condition_code) DO UPDATE
               SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en, polarity = EXCLUDED.polarity,
                   lookback_months = EXCLUDED.lookback_months, grades = EXCLUDED.grades,
                   sort_order = EXCLUDED.sort_order, updated_at = now()
             WHERE (dw.dim_check_condition.name_zh, dw.dim_check_condition.name_en, dw.dim_check_condition.polarity,
                    dw.dim_check_condition.lookback_months, dw.dim_check_condition.grades,
                    dw.dim_check_condition.sort_order)
                   IS DISTINCT FROM (EXCLUDED.name_zh, EXCLUDED.name_en, EXCLUDED.polarity, EXCLUDED.lookback_months,
                                     EXCLUDED.grades, EXCLUDED.sort_order)
        """), conditions)
        conn.execute(sa.text("""
            INSERT INTO dw.dim_measure (measure_code, condition_code, kind, verdict, name_zh, name_en, legal_basis,
                                        unless_conditions, sort_order, is_active)
            VALUES (:code, :condition, :kind, :verdict, :zh, :en, :basis, CAST(:unless AS text[]), :sort, true)
            ON CONFLICT (measure_code) DO UPDATE
               SET condition_code = EXCLUDED.condition_code, kind = EXCLUDED.kind, verdict = EXCLUDED.verdict,
                   name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en, legal_basis = EXCLUDED.legal_basis,
                   unless_conditions = EXCLUDED.unless_conditions, sort_order = EXCLUDED.sort_order,
                   is_active = true, updated_at = now()
             WHERE (dw.dim_measure.condition_code, dw.dim_measure.kind, dw.dim_measure.verdict, dw.dim_measure.name_zh,
                    dw.dim_measure.name_en, dw.dim_measure.legal_basis, dw.dim_measure.unless_conditions,
                    dw.dim_measure.sort_order, dw.dim_measure.is_active)
                   IS DISTINCT FROM (EXCLUDED.condition_code, EXCLUDED.kind, EXCLUDED.verdict, EXCLUDED.name_zh,
                                     EXCLUDED.name_en, EXCLUDED.legal_basis, EXCLUDED.unless_conditions,
                                     EXCLUDED.sort_order, true)
        """), rows)
        # A measure dropped from the list stops applying; its row stays for the record.
        conn.execute(sa.text("""
            UPDATE dw.dim_measure SET is_active = false, updated_at = now()
             WHERE is_active AND measure_code <> ALL(:codes)
        """), {"codes": [m.code for m in measure_list.measures]})
        conn.execute(sa.text("""
            INSERT INTO dw.credit_query_limit (limit_code, value) VALUES (:code, :value)
            ON CONFLICT (limit_code) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
             WHERE dw.credit_query_limit.value <> EXCLUDED.value
        """), [{"code": code, "value": value} for code, value in measure_list.query_limits.model_dump().items()])
        conn.execute(sa.text("SELECT dw.grant_credit_check()"))
    return len(rows)
