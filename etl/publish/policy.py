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


class Tier(_Strict):
    """A penalty tier; the first tier whose condition holds applies (a tier without one is the default)."""

    tier: Literal["minor", "ordinary", "serious"]
    published: bool
    only_types: tuple[str, ...] = ()  # every penalty type of the decision is one of these
    any_type: tuple[str, ...] = ()    # at least one penalty type is one of these
    fine_at_least: Annotated[float, Field(ge=0)] | None = None  # 万元
    min_months: Annotated[int, Field(ge=0)]
    max_months: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _bounds(self) -> Tier:
        if self.max_months < self.min_months:
            raise ValueError(f"tier {self.tier}: max_months is below min_months")
        if self.published and self.max_months == 0:
            raise ValueError(f"tier {self.tier}: a published tier needs max_months above 0")
        return self

    @property
    def is_default(self) -> bool:
        return not (self.only_types or self.any_type or self.fine_at_least is not None)


class PenaltyEdition(_Strict):
    name: str
    effective_from: dt.date
    tiers: tuple[Tier, ...]

    @model_validator(mode="after")
    def _default_last(self) -> PenaltyEdition:
        defaults = [t for t in self.tiers if t.is_default]
        if len(defaults) != 1 or not self.tiers[-1].is_default:
            raise ValueError(f"edition {self.name}: exactly one tier without conditions, and it must come last")
        return self


class LicensePolicy(_Strict):
    record_type: Literal["license"]
    publicity_end_field: str


class PenaltyPolicy(_Strict):
    record_type: Literal["penalty"]
    types_field: str
    department_end_field: str | None = None
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
    document = _read_yaml((directory or config.catalog_dir()) / POLICY_FILE)
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


def _tier_condition(tier: Tier, types: str, fine: str) -> str:
    conditions = []
    if tier.only_types:
        conditions.append(f"({types} <@ {_text_array(tier.only_types)})")
    if tier.any_type:
        conditions.append(f"({types} && {_text_array(tier.any_type)})")
    if tier.fine_at_least is not None:
        conditions.append(f"(coalesce({fine}, 0) >= {float(tier.fine_at_least)!r})")
    return " OR ".join(conditions) or "true"


def penalty_tiers_sql(penalty: PenaltyPolicy, decision_date: str, types: str, fine: str) -> str:
    """A subquery `(edition_from, tier, published, min_months, max_months)` for one penalty:
    the edition in force on the decision date, and the first of its tiers that applies."""
    branches = []
    for index, edition in enumerate(penalty.editions):
        later = penalty.editions[index + 1].effective_from if index + 1 < len(penalty.editions) else None
        in_force = []
        if index > 0:  # the earliest edition also covers decisions made before it
            in_force.append(f"{decision_date} >= DATE '{edition.effective_from.isoformat()}'")
        if later:
            in_force.append(f"{decision_date} < DATE '{later.isoformat()}'")
        cases = " ".join(f"WHEN {_tier_condition(t, types, fine)} THEN {position}"
                         for position, t in enumerate(edition.tiers))
        rows = ", ".join(f"({position}, {literal(t.tier)}, {str(t.published).lower()}, {t.min_months}, "
                         f"{t.max_months})" for position, t in enumerate(edition.tiers))
        branches.append(
            f"SELECT DATE '{edition.effective_from.isoformat()}' AS edition_from, t.tier, t.published, "
            f"t.min_months, t.max_months "
            f"FROM (VALUES {rows}) AS t(position, tier, published, min_months, max_months) "
            f"WHERE {' AND '.join(in_force) or 'true'} AND t.position = (CASE {cases} END)")
    return "(" + " UNION ALL ".join(branches) + ")"
