"""Clean synthetic records: how many per feed, on which dates, for which subjects, with which values.

Every clean row passes every rule of its record type (required fields, allowed values, lengths,
dates, date order, codes, conditional rules, unique document numbers); the defects module then
breaks a chosen few on purpose.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import holidays

from etl.catalog import Catalog, Department, Feed, FieldType, RecordType, Role
from simulators.generate import content
from simulators.generate.subjects import (
    COOP,
    ENTERPRISE,
    INDIVIDUAL,
    INDIVIDUAL_BUSINESS,
    LEGAL_PERSON,
    NATURAL_PERSON,
    PERSON,
    PROVINCE_ABBREVIATIONS,
    RESIDENT_ID,
    SOCIAL,
    Subject,
    SubjectPool,
    wan_yuan,
    weighted,
)

LONG_TERM = dt.date(2099, 12, 31)
MIN_ROWS_PER_FEED = 3
HISTORY_DAYS = 5 * 365
WORKING_DAY_SHARE = 0.95

# Subject category mix per record type: (法人及非法人组织, 个体工商户, 自然人).
CATEGORY_MIX = {
    "penalty": (60, 25, 15),
    "license": (65, 25, 10),
    "commitment": (80, 20, 0),
    "registration": (75, 25, 0),
    "dishonest_debtor": (40, 0, 60),
    "red_list": (100, 0, 0),
    "credit_rating": (90, 10, 0),
    "serious_dishonesty": (60, 20, 20),
    "abnormal_operation": (70, 30, 0),
}
DEFAULT_CATEGORY_MIX = (70, 20, 10)
DEPARTMENT_CATEGORY_MIX = {"civil_affairs": (100, 0, 0), "public_security": (45, 20, 35)}
# Which kind of organisation a 法人及非法人组织 row is, by department.
ORGANISATION_KINDS = {
    "civil_affairs": ((SOCIAL, 1),),
    "agriculture": ((ENTERPRISE, 60), (COOP, 40)),
    "forestry": ((ENTERPRISE, 70), (COOP, 30)),
    "education": ((ENTERPRISE, 40), (SOCIAL, 60)),
    "market_regulation": ((ENTERPRISE, 90), (COOP, 10)),
}
DEFAULT_ORGANISATION_KINDS = ((ENTERPRISE, 90), (COOP, 6), (SOCIAL, 4))

PENALTY_PRIMARY = (("罚款", 60), ("警告", 12), ("没收违法所得", 6), ("责令停产停业", 3), ("通报批评", 3),
                   ("暂扣许可证件", 2), ("吊销许可证件", 2), ("限制开展生产经营活动", 2), ("没收非法财物", 2),
                   ("降低资质等级", 1), ("责令关闭", 1), ("限制从业", 1), ("其他", 2))  # fmt: skip
PENALTY_SECOND = ("罚款", "没收违法所得", "没收非法财物", "警告", "暂扣许可证件")
# 令第36号 (2025-09 draft's list, publicity_policy.yml): penalty types of serious dishonesty.
SERIOUS_TYPES = frozenset({"吊销许可证件", "限制开展生产经营活动", "责令停产停业", "责令关闭", "限制从业"})
COMMON_FINES = (500, 1000, 2000, 3000, 5000, 5000, 10000, 10000, 20000, 30000, 50000, 100000, 200000, 500000)


# -- volumes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedPlan:
    department: Department
    feed: Feed
    record_type: RecordType
    rows: int


def allocate(total: int, weights: Sequence[float], minimum: Sequence[int]) -> list[int]:
    """Split total in proportion to weights, each part at least its minimum, summing to total exactly."""
    if total < sum(minimum):
        raise ValueError(f"cannot split {total} with minimums summing to {sum(minimum)}")
    pinned: dict[int, int] = {}
    while True:
        free = [i for i in range(len(weights)) if i not in pinned]
        rest = total - sum(pinned.values())
        weight_sum = sum(weights[i] for i in free)
        targets = {i: rest * weights[i] / weight_sum for i in free}
        below = [i for i in free if targets[i] < minimum[i]]
        if not below:
            break
        for i in below:
            pinned[i] = minimum[i]
    parts = [pinned.get(i, 0) for i in range(len(weights))]
    for i, target in targets.items():
        parts[i] = math.floor(target)
    short = total - sum(parts)
    by_remainder = sorted(targets, key=lambda i: (-(targets[i] - math.floor(targets[i])), i))
    for i in by_remainder[:short]:
        parts[i] += 1
    return parts


def plan_volumes(catalog: Catalog, records: int, seed: int) -> list[FeedPlan]:
    """Rows per feed: by record-type share first, then unevenly (seeded) across a type's feeds."""
    feeds = catalog.feeds()
    type_codes = sorted({f.record_type for _, f in feeds}, key=lambda c: (-catalog.record_type_by_code[c].share, c))
    feeds_of = {code: [(d, f) for d, f in feeds if f.record_type == code] for code in type_codes}
    per_type = allocate(
        records,
        [catalog.record_type_by_code[c].share for c in type_codes],
        [MIN_ROWS_PER_FEED * len(feeds_of[c]) for c in type_codes],
    )
    rng = random.Random(f"{seed}:volumes")
    rows: dict[tuple[str, str], int] = {}
    for code, total in zip(type_codes, per_type, strict=True):
        members = feeds_of[code]
        weights = [rng.lognormvariate(0, 0.6) for _ in members]
        for (dept, feed), n in zip(members, allocate(total, weights, [MIN_ROWS_PER_FEED] * len(members)), strict=True):
            rows[(dept.code, feed.code)] = n
    return [FeedPlan(d, f, catalog.record_type_by_code[f.record_type], rows[(d.code, f.code)]) for d, f in feeds]


# -- dates -------------------------------------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


class DateSampler:
    """Decision dates over about five years before as_of, recent years weighted, ~95 % working days."""

    def __init__(self, as_of: dt.date) -> None:
        start = as_of - dt.timedelta(days=HISTORY_DAYS)
        china = holidays.China(years=range(start.year, as_of.year + 1))
        self.working: list[dt.date] = []
        self.other: list[dt.date] = []
        self._working_cum: list[float] = []
        self._other_cum: list[float] = []
        day = start
        while day <= as_of:
            weight = math.exp(-(as_of - day).days / 800)
            days, cum = (
                (self.working, self._working_cum) if china.is_working_day(day) else (self.other, self._other_cum)
            )
            days.append(day)
            cum.append((cum[-1] if cum else 0.0) + weight)
            day += dt.timedelta(days=1)

    def sample(self, rng: random.Random, latest: dt.date) -> dt.date:
        days, cum = (self.working, self._working_cum)
        if rng.random() >= WORKING_DAY_SHARE and self.other:
            days, cum = (self.other, self._other_cum)
        end = bisect.bisect_right(days, latest)
        if end == 0:
            return latest
        return days[bisect.bisect_right(cum, rng.random() * cum[end - 1], 0, end - 1)]


def updated_at_values(rng: random.Random, days: Sequence[dt.date], as_of: dt.date) -> list[str]:
    """ISO UTC timestamps a few days after each decision, never after as_of, non-decreasing."""
    ceiling = dt.datetime.combine(as_of, dt.time(15, 59, 59))  # 23:59:59 in China
    latest = dt.datetime.min
    values = []
    for day in days:
        lag = rng.choice((0, 0, 1, 1, 2, 3, 5, 7, 10))
        moment = dt.datetime.combine(day, dt.time(0, 30)) + dt.timedelta(days=lag, seconds=rng.randrange(9 * 3600))
        latest = max(latest, min(moment, ceiling))
        values.append(latest.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return values


def iso(day: dt.date) -> str:
    return day.isoformat()


# -- rows --------------------------------------------------------------------------------------------


@dataclass
class FeedBuilder:
    """Builds the clean rows of one feed in date order (so document serials rise within a year)."""

    plan: FeedPlan
    pool: SubjectPool
    sampler: DateSampler
    as_of: dt.date
    county_name: str
    division: str
    rng: random.Random
    counters: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        dept, rt = self.plan.department, self.plan.record_type
        self.rt = rt
        self.dept = dept
        self.p = rt.field_prefix
        self.codes = [f.code for f in rt.fields]
        self.abbr = self.county_name[:1] + department_short(dept)
        self.province = PROVINCE_ABBREVIATIONS.get(self.division[:2], "")
        mix = DEPARTMENT_CATEGORY_MIX.get(dept.code) or CATEGORY_MIX.get(rt.code, DEFAULT_CATEGORY_MIX)
        self.mix = [(c, w) for c, w in zip((LEGAL_PERSON, INDIVIDUAL_BUSINESS, NATURAL_PERSON), mix, strict=True) if w]
        self.org_kinds = ORGANISATION_KINDS.get(dept.code, DEFAULT_ORGANISATION_KINDS)
        self.build_specific: Callable[[FeedBuilder, Subject, dt.date], dict] = BUILDERS.get(rt.code, _generic)
        subject_uscc = rt.role(Role.SUBJECT_USCC)
        self.agency = []
        for f in rt.fields:
            if f.type == FieldType.USCC and (subject_uscc is None or f.code != subject_uscc.code):
                self.agency.append((f.code, dept.agency_uscc))
                name_field = rt.field_by_code.get(f.code.removesuffix("DM"))
                if f.code.endswith("DM") and name_field is not None and name_field.type == FieldType.TEXT:
                    self.agency.append((name_field.code, dept.name_zh))
        self.required = [f for f in rt.fields if f.required]
        self.enums = [(f.code, frozenset(f.allowed or ()), f.multi_value, f.allowed) for f in rt.fields
                      if f.type == FieldType.ENUM]  # fmt: skip
        self.limits = [(f.code, f.max_length) for f in rt.fields if f.max_length]
        self.decision = rt.role(Role.DECISION_DATE).code
        self.document = rt.role(Role.DOCUMENT_NUMBER).code
        self.unique_draw = rt.code == "registration"
        self._draw_orders: dict[str, list[int]] = {}

    # helpers used by the record-type builders
    def serial(self, key: object) -> int:
        """Rising serial numbers per key (usually a year), with the odd gap."""
        value = self.counters.get(key, 0) + (1 if self.rng.random() < 0.85 else self.rng.randint(2, 4))
        self.counters[key] = value
        return value

    def subject(self) -> Subject:
        rng = self.rng
        category = weighted(rng, self.mix)
        kind = weighted(rng, self.org_kinds) if category == LEGAL_PERSON else (
            INDIVIDUAL if category == INDIVIDUAL_BUSINESS else PERSON)  # fmt: skip
        if not self.unique_draw:
            return self.pool.draw(rng, kind)
        # registrations: each subject once, cycling through a shuffled order of the pool
        pool = self.pool.pools[kind]
        order = self._draw_orders.get(kind)
        if not order:
            order = list(range(len(pool)))
            rng.shuffle(order)
            self._draw_orders[kind] = order
        return pool[order.pop()]

    def build(self, latest: dt.date) -> tuple[list[dict], list[dt.date]]:
        """All rows of the feed, sorted by decision date, and those dates."""
        rng = self.rng
        days = sorted(self.sampler.sample(rng, latest) for _ in range(self.plan.rows))
        rows = [self.row(day) for day in days]
        return rows, days

    def row(self, day: dt.date) -> dict:
        rng, p = self.rng, self.p
        subject = self.subject()
        values: dict = {f"{p}_XDR_MC": subject.name, f"{p}_XDR_LB": subject.category}
        if subject.uscc:
            values[f"{p}_XDR_SHXYM"] = subject.uscc
            r = rng.random()
            if r < 0.08:
                values[f"{p}_XDR_ZZJG"] = f"{subject.uscc[8:16]}-{subject.uscc[16]}"
            elif r < 0.12:
                values[f"{p}_XDR_SWDJ"] = subject.uscc[2:17]
        if subject.representative is not None:
            values[f"{p}_FRDB"] = subject.representative.name
            if rng.random() < 0.35:
                values[f"{p}_FR_ZJLX"] = RESIDENT_ID
                values[f"{p}_FR_ZJHM"] = subject.representative.id_number
        if subject.person is not None:
            values[f"{p}_XDR_ZJLX"] = subject.person.id_type
            values[f"{p}_XDR_ZJHM"] = subject.person.id_number
        values.update(self.agency)
        values.update(self.build_specific(self, subject, day))
        if rng.random() < 0.03:
            values["BZ"] = rng.choice(content.REMARKS)
        values.setdefault(self.decision, iso(day))
        if not values.get(self.document):
            values[self.document] = f"{self.abbr}〔{day.year}〕{self.serial(('doc', day.year))}号"
        for spec in self.required:
            if values.get(spec.code) in (None, ""):
                values[spec.code] = self.generic_value(spec, day)
        for code, allowed_set, multi, allowed in self.enums:  # guard against catalog edits
            value = values.get(code)
            if value is not None and not (set(value.split(";")) <= allowed_set if multi else value in allowed_set):
                values[code] = rng.choice(allowed)
        for code, limit in self.limits:
            value = values.get(code)
            if isinstance(value, str) and len(value) > limit:
                values[code] = value[:limit]
        return {code: values.get(code) for code in self.codes}

    def generic_value(self, spec, day: dt.date) -> str:
        if spec.type == FieldType.ENUM:
            return self.rng.choice(spec.allowed)
        if spec.type == FieldType.DATE:
            return iso(day)
        if spec.type == FieldType.DECIMAL:
            return "1"
        if spec.type == FieldType.USCC:
            return self.dept.agency_uscc
        if spec.type == FieldType.YEAR:
            return str(day.year)
        return spec.name_zh[: spec.max_length or None]


def department_short(dept: Department) -> str:
    known = content.DEPARTMENT_SHORT.get(dept.code)
    if known:
        return known
    name = dept.name_zh
    for prefix in ("国家税务总局", "市", "县"):
        name = name.removeprefix(prefix)
    for suffix in ("委员会", "中心", "大队", "局"):
        name = name.removesuffix(suffix)
    return name[:2] or dept.code[:2].upper()


# -- record-type builders ----------------------------------------------------------------------------


def _fine(rng: random.Random, small: bool) -> int:
    if rng.random() < 0.6:
        yuan = rng.choice(COMMON_FINES[:6] if small else COMMON_FINES)
    else:
        yuan = round(math.exp(rng.uniform(math.log(500), math.log(50000 if small else 500000))) / 100) * 100
    return max(500, yuan)


def _penalty(b: FeedBuilder, s: Subject, day: dt.date) -> dict:
    rng = b.rng
    behaviour, basis, fact = rng.choice(content.PENALTY_CASES.get(b.dept.code, content.GENERIC_PENALTY_CASES))
    primary = PENALTY_PRIMARY
    if b.dept.code == "public_security" and s.category == NATURAL_PERSON:
        primary = (*PENALTY_PRIMARY, ("行政拘留", 25))
    types = {weighted(rng, primary)}
    if rng.random() < 0.25:
        types.add(rng.choice(PENALTY_SECOND))
    spec = b.rt.field_by_code.get("CF_CFLB")
    order = (spec.allowed if spec else None) or ()
    types_sorted = sorted(types, key=lambda t: order.index(t) if t in order else len(order))
    small = s.category != LEGAL_PERSON
    fine = _fine(rng, small) if "罚款" in types else None
    confiscated = _fine(rng, True) if types & {"没收违法所得", "没收非法财物"} else None
    parts = []
    for t in types_sorted:
        if t == "罚款":
            parts.append(f"罚款人民币{fine}元")
        elif t in ("没收违法所得", "没收非法财物"):
            parts.append(f"{t}人民币{confiscated}元")
        elif t == "行政拘留":
            parts.append(f"行政拘留{rng.choice((3, 5, 7, 10))}日")
        else:
            parts.append(t)
    suspended = None
    if types & {"暂扣许可证件", "吊销许可证件"}:
        kind = rng.choice(content.LICENSE_KINDS.get(b.dept.code, content.GENERIC_LICENSE_KINDS))
        suspended = f"{kind[1] or '许可证'}（编号：{kind[4] or 'XK'}{b.division}{rng.randint(10000, 99999)}）"
    valid_to = add_months(day, weighted(rng, ((3, 15), (6, 20), (12, 40), (24, 15), (36, 10))))
    year = day.year
    # What the deciding department declares (local fields): 简易程序 where 《行政处罚法》 第五十一条 allows it (a
    # warning, or a fine up to 200 yuan for a person and 3,000 yuan for an organisation), and the severity.
    warning_only = types <= {"警告", "通报批评"}
    fine_limit = 200 if s.category == NATURAL_PERSON else 3000
    summary = (warning_only or (types == {"罚款"} and fine is not None and fine <= fine_limit)) and rng.random() < 0.5
    if warning_only:
        severity = "轻微"
    elif types & SERIOUS_TYPES:
        severity = "严重"
    else:
        severity = "严重" if rng.random() < 0.05 else "一般"
    return {
        "CF_WSH": f"{b.abbr}罚〔{year}〕{b.serial(year)}号",
        "CF_WFXW": behaviour,
        "CF_SY": f"经查，当事人{s.name}于{day.year}年{day.month}月{fact}，违反了{basis.split('第')[0]}的相关规定。",
        "CF_YJ": basis,
        "CF_CFLB": ";".join(types_sorted),
        "CF_NR": "；".join(f"{i}.{t}" for i, t in enumerate(parts, 1)) if len(parts) > 1 else parts[0],
        "CF_NR_FK": wan_yuan(fine) if fine else None,
        "CF_NR_WFFF": wan_yuan(confiscated) if confiscated else None,
        "CF_NR_ZKDX": suspended,
        "CF_JDRQ": iso(day),
        "CF_YXQ": iso(valid_to),
        "CF_GSJZQ": iso(valid_to) if rng.random() < 0.7 else None,
        "CF_AJCXLB": "简易程序" if summary else "普通程序",
        "CF_SXYZCD": severity,
    }


def _license(b: FeedBuilder, s: Subject, day: dt.date) -> dict:
    rng = b.rng
    title, certificate, what, kind, number_prefix = rng.choice(
        content.LICENSE_KINDS.get(b.dept.code, content.GENERIC_LICENSE_KINDS)
    )
    spec = b.rt.field_by_code.get("XK_XKLB")
    allowed = (spec.allowed if spec else None) or (kind,)
    if kind not in allowed or rng.random() < 0.1:
        kind = rng.choice(allowed)
    serial = b.serial(day.year)
    valid_to = LONG_TERM if rng.random() < 0.2 else add_months(day, 12 * rng.randint(1, 5)) - dt.timedelta(days=1)
    status = None if rng.random() < 0.05 else ("有效" if valid_to >= b.as_of else "无效")
    return {
        "XK_XKWS": title,
        "XK_WSH": f"{b.abbr}许〔{day.year}〕{serial}号",
        "XK_XKLB": kind,
        "XK_XKZS": certificate or None,
        "XK_XKBH": f"{number_prefix}{b.division}{day.year}{serial:05d}"
        if number_prefix and rng.random() < 0.85
        else None,
        "XK_NR": f"{what}（{s.name}）",
        "XK_JDRQ": iso(day),
        "XK_YXQZ": iso(day),
        "XK_YXQZI": iso(valid_to),
        "XK_ZT": status,
    }


def _commitment(b: FeedBuilder, s: Subject, day: dt.date) -> dict:
    rng = b.rng
    matter = rng.choice(content.COMMITMENT_MATTERS.get(b.dept.code, content.GENERIC_COMMITMENT_MATTERS))
    kind = "信用修复型" if "修复" in matter else weighted(rng, content.COMMITMENT_TYPES)
    return {
        "CN_CNLX": kind,
        "CN_CNSX": matter,
        "CN_CNNR": f"就{matter}事项，{content.COMMITMENT_TEXT}",
        "CN_WSH": f"CN-{day.year}-{b.serial(day.year):06d}",
        "CN_CNRQ": iso(day),
        "CN_LYQK": weighted(rng, (("履约中", 40), ("已履约", 50), ("未履约", 5), (None, 5))),
    }


def _registration_number(b: FeedBuilder) -> str:
    """An old-style 15-digit registration number: division, sequence, ISO 7064 MOD 11,10 check digit."""
    if "registration_base" not in b.counters:
        b.counters["registration_base"] = b.rng.randrange(1_000_000, 4_000_000)
    body = f"{b.division}{b.counters['registration_base'] + b.serial('registration'):08d}"[:14]
    p = 10
    for c in body:
        s = (p + int(c)) % 10 or 10
        p = (s * 2) % 11
    return body + str((11 - p) % 10)


def _registration(b: FeedBuilder, s: Subject, day: dt.date) -> dict:
    rng = b.rng
    social = s.kind == SOCIAL
    return {
        "DJ_DJBH": f"{b.abbr}社证字第{b.serial('registration'):05d}号" if social else _registration_number(b),
        "DJ_QYLX": s.entity_type,
        "DJ_ZCZB": s.capital,
        "DJ_CLRQ": iso(day),
        "DJ_ZS": s.address,
        "DJ_JYFW": s.scope or None,
        "DJ_DJZT": weighted(rng, (("存续", 70), ("在业", 15), ("吊销", 3), ("注销", 10), ("迁出", 2))),
    }


def _red_list(b: FeedBuilder, s: Subject, day: dt.date) -> dict:
    rng = b.rng
    honour, level = rng.choice(content.HONOURS.get(b.dept.code, content.GENERIC_HONOURS))
    if rng.random() < 0.2:
        level = rng.choice(("国家级", "省级", "市级", "县级"))
    return {
        "RY_RYMC": honour,
        "RY_RYJB": level,
        "RY_WSH": f"{b.abbr}表〔{day.year}〕{b.serial(day.year)}号",
        "RY_RDRQ": iso(day),
        "RY_YXQZ": iso(add_months(day, rng.choice((24, 36)))) if rng.random() < 0.6 else None,
    }


def _serious_dishonesty(b: FeedBuilder, s: Subject, day: dt.date) -> dict:
    rng = b.rng
    area, reason = rng.choice(content.DISHONESTY_LISTS.get(b.dept.code, content.GENERIC_DISHONESTY))
    removed = day + dt.timedelta(days=rng.randint(365, 1095))
    return {
        "SX_MDLX": area,
        "SX_LRYY": f"{s.name}{reason}。",
        "SX_WSH": f"{b.abbr}信列〔{day.year}〕{b.serial(day.year)}号",
        "SX_LRRQ": iso(day),
        "SX_YCRQ": iso(removed) if removed <= b.as_of and rng.random() < 0.4 else None,
    }


def _dishonest_debtor(b: FeedBuilder, s: Subject, day: dt.date) -> dict:
    rng = b.rng
    filed = day - dt.timedelta(days=rng.randint(20, 200))
    court = f"{b.province}{b.division[2:]}"
    judged = filed.year - (1 if rng.random() < 0.6 else 0)
    return {
        "ZX_AH": f"（{filed.year}）{court}执{b.serial(('case', filed.year))}号",
        "ZX_ZXFY": b.dept.name_zh,
        "ZX_ZXYJ": f"（{judged}）{court}民初{rng.randint(1, 6000)}号" if rng.random() < 0.85 else None,
        "ZX_LARQ": iso(filed),
        "ZX_FBRQ": iso(day),
        "ZX_SXQX": rng.choice(content.DEBTOR_CONDUCT),
        "ZX_LXQK": weighted(rng, (("全部未履行", 80), ("部分履行", 20))),
    }


def _abnormal_operation(b: FeedBuilder, s: Subject, day: dt.date) -> dict:
    rng = b.rng
    removed = day + dt.timedelta(days=rng.randint(30, 700))
    return {
        "YC_LRYY": weighted(rng, content.ABNORMAL_REASONS),
        "YC_WSH": f"{b.abbr}异列〔{day.year}〕{b.serial(day.year)}号",
        "YC_LRRQ": iso(day),
        "YC_YCRQ": iso(removed) if removed <= b.as_of and rng.random() < 0.35 else None,
    }


def _credit_rating(b: FeedBuilder, s: Subject, day: dt.date) -> dict:
    rng = b.rng
    area, grades = content.RATINGS.get(b.dept.code, content.GENERIC_RATING)
    return {
        "PJ_PJLY": area,
        "PJ_PJDJ": weighted(rng, grades),
        "PJ_PJND": str(day.year - 1 if day.month <= 6 else day.year),
        "PJ_WSH": f"{b.abbr}信评〔{day.year}〕{b.serial(day.year)}号",
        "PJ_PJRQ": iso(day),
        "PJ_YXQZ": iso(dt.date(day.year + 1, 12, 31)) if rng.random() < 0.6 else None,
    }


def _generic(b: FeedBuilder, s: Subject, day: dt.date) -> dict:
    return {}


BUILDERS: dict[str, Callable[[FeedBuilder, Subject, dt.date], dict]] = {
    "penalty": _penalty,
    "license": _license,
    "commitment": _commitment,
    "registration": _registration,
    "red_list": _red_list,
    "serious_dishonesty": _serious_dishonesty,
    "dishonest_debtor": _dishonest_debtor,
    "abnormal_operation": _abnormal_operation,
    "credit_rating": _credit_rating,
}
