"""The 双公示 publicity policy (etl/catalog/publicity_policy.yml) and the SQL it compiles to.

Which penalties are published and for how long changed on 2026-04-01; the rules live in the
policy file with effective dates, and this module turns them into set-based SQL over the fact
table, so the load computes every window in the same statement for the whole batch.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from etl import config
from etl.catalog import _describe, _read_yaml
from etl.errors import UserError
from etl.sqltext import literal

POLICY_FILE = "publicity_policy.yml"
PlatformCode = Literal["provincial", "national"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Platform(_Strict):
    code: PlatformCode
    name_zh: str
    connection_id: str


TierName = Literal["minor", "ordinary", "serious"]


class Period(_Strict):
    """Whether a tier's penalties are published and for how long (months from the decision date)."""

    tier: TierName
    published: bool
    min_months: Annotated[int, Field(ge=0)]
    max_months: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _bounds(self) -> Period:
        if self.max_months < self.min_months:
            raise ValueError(f"tier {self.tier}: max_months is below min_months")
        if self.published and self.max_months == 0:
            raise ValueError(f"tier {self.tier}: a published tier needs max_months above 0")
        return self


class TypeRule(_Strict):
    """A fallback on penalty types: the tier when the department declared neither severity nor procedure."""

    tier: TierName
    only_types: tuple[str, ...] = ()  # every penalty type of the decision is one of these
    any_type: tuple[str, ...] = ()    # at least one penalty type is one of these

    @model_validator(mode="after")
    def _one_condition(self) -> TypeRule:
        if bool(self.only_types) == bool(self.any_type):
            raise ValueError(f"a fallback to {self.tier} needs exactly one of only_types and any_type")
        return self


class PenaltyEdition(_Strict):
    name: str
    effective_from: dt.date
    confirmed: bool = True  # false: the figures come from an unconfirmed source (the YAML says which)
    periods: tuple[Period, ...]
    summary_procedure_tier: TierName | None = None  # the tier of a decision made by 简易程序
    fallback: tuple[TypeRule, ...] = ()
    default: TierName | None = None  # None: a decision nothing places is quarantined (severity_undeclared)

    @model_validator(mode="after")
    def _every_tier_once(self) -> PenaltyEdition:
        if sorted(p.tier for p in self.periods) != sorted(("minor", "ordinary", "serious")):
            raise ValueError(f"edition {self.name}: give the periods of minor, ordinary and serious once each")
        return self

    def period(self, tier: str) -> Period:
        return next(p for p in self.periods if p.tier == tier)


class LicensePolicy(_Strict):
    record_type: Literal["license"]
    publicity_end_field: str


class PenaltyPolicy(_Strict):
    record_type: Literal["penalty"]
    types_field: str
    department_end_field: str | None = None
    severity_field: str
    severity_tiers: dict[str, TierName]
    procedure_field: str
    summary_procedure: str
    editions: tuple[PenaltyEdition, ...]

    @model_validator(mode="after")
    def _ordered(self) -> PenaltyPolicy:
        dates = [e.effective_from for e in self.editions]
        if not dates or dates != sorted(set(dates)):
            raise ValueError("editions must be listed oldest first, with distinct effective_from dates")
        return self

    def edition_for(self, decision_date: dt.date) -> PenaltyEdition:
        applicable = [e for e in self.editions if e.effective_from <= decision_date]
        return applicable[-1] if applicable else self.editions[0]


class PublicityPolicy(_Strict):
    platforms: tuple[Platform, ...]
    due_working_days: Annotated[int, Field(ge=1, le=60)]
    license: LicensePolicy
    penalty: PenaltyPolicy

    @property
    def record_types(self) -> tuple[str, ...]:
        return (self.license.record_type, self.penalty.record_type)

    def platform(self, code: str) -> Platform:
        for platform in self.platforms:
            if platform.code == code:
                return platform
        raise UserError(f"未知的平台 {code!r}，公示策略文件中只有 {', '.join(p.code for p in self.platforms)} / "
                        f"Unknown platform {code!r}; the policy file lists "
                        f"{', '.join(p.code for p in self.platforms)}.")


def load_policy(directory: Path | None = None) -> PublicityPolicy:
    """Read and validate the policy file; a mistake is reported with the file and field, as for the catalog."""
    document = _read_yaml((directory or config.settings().catalog_dir) / POLICY_FILE)
    try:
        return PublicityPolicy.model_validate(document)
    except ValidationError as exc:
        raise UserError(_describe(exc, dict.fromkeys(PublicityPolicy.model_fields, POLICY_FILE))) from None


@functools.cache
def policy() -> PublicityPolicy:
    """The project's publicity policy, loaded once per process."""
    return load_policy()


# -- SQL ---------------------------------------------------------------------------------------------

def _text_array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(literal(v) for v in values) + "]::text[]"


def _type_condition(rule: TypeRule, types: str) -> str:
    if rule.only_types:
        return f"({types} <@ {_text_array(rule.only_types)})"
    return f"({types} && {_text_array(rule.any_type)})"


def edition_sql(penalty: PenaltyPolicy, decision_date: str) -> str:
    """The effective date of the edition in force on the decision date (the earliest for older decisions)."""
    later = [e.effective_from for e in penalty.editions[1:]]
    cases = " ".join(f"WHEN {decision_date} >= DATE '{day.isoformat()}' THEN DATE '{day.isoformat()}'"
                     for day in reversed(later))
    first = f"DATE '{penalty.editions[0].effective_from.isoformat()}'"
    return f"(CASE {cases} ELSE {first} END)" if cases else first


def penalty_tier_sql(penalty: PenaltyPolicy, decision_date: str, types: str, severity: str, procedure: str) -> str:
    """The tier of one penalty, or NULL where nothing places it: the severity the department declares, else
    its 简易程序 declaration, else the edition's fallback on penalty types, else the edition's default."""
    declared = " ".join(f"WHEN {literal(label)} THEN {literal(tier)}" for label, tier in penalty.severity_tiers.items())
    by_edition = []
    for edition in reversed(penalty.editions):
        steps = []
        if edition.summary_procedure_tier:
            steps.append(f"WHEN {procedure} = {literal(penalty.summary_procedure)} "
                         f"THEN {literal(edition.summary_procedure_tier)}")
        steps.extend(f"WHEN {_type_condition(rule, types)} THEN {literal(rule.tier)}" for rule in edition.fallback)
        default = literal(edition.default) if edition.default else "NULL::text"
        inner = f"CASE {' '.join(steps)} ELSE {default} END" if steps else default
        by_edition.append((edition.effective_from, inner))
    first = by_edition.pop()  # the earliest edition: also decisions before it
    cases = " ".join(f"WHEN {decision_date} >= DATE '{day.isoformat()}' THEN {inner}" for day, inner in by_edition)
    placed = f"CASE {cases} ELSE {first[1]} END" if cases else first[1]
    return f"coalesce(CASE {severity} {declared} END, {placed})"


def periods_sql(penalty: PenaltyPolicy) -> str:
    """Every edition's periods as a VALUES list `(edition_from, tier, published, min_months, max_months)`."""
    rows = ", ".join(f"(DATE '{e.effective_from.isoformat()}', {literal(p.tier)}, {str(p.published).lower()}, "
                     f"{p.min_months}, {p.max_months})" for e in penalty.editions for p in e.periods)
    return f"(VALUES {rows}) AS p(edition_from, tier, published, min_months, max_months)"
