"""Seeded defects: give a chosen fraction of rows exactly one problem each, and say which.

"quarantine" defects must make the validation stage reject the row with that rule on that field;
"normalise" defects (date spellings, code typing variants) must be accepted after normalisation.
Each defect is chosen so that it trips only its own rule: a future decision date moves the paired
end date along, an emptied field is never also checked by another rule, and so on.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from etl.catalog import FieldType, RecordType, Role
from etl.codes import USCC_ALPHABET, id_check_char
from simulators.generate.content import FILLER
from simulators.generate.subjects import uscc

QUARANTINE = "quarantine"
NORMALISE = "normalise"
EXCEL_EPOCH = dt.date(1899, 12, 30)

# Plausible values just off the allowed lists, by the part of the field code after the prefix.
WRONG_VALUES = {
    "XKLB": ("普通许可", "一般许可", "特别许可"),
    "CFLB": ("罚金", "罚没", "责令改正"),
    "ZT": ("正常", "已过期"),
    "CNLX": ("告知承诺", "承诺制"),
    "LYQK": ("已完成", "未知"),
    "DJZT": ("正常", "开业", "存续（在营、开业、在册）"),
    "RYJB": ("区级", "乡镇级"),
    "MDLX": ("失信", "黑名单"),
    "LXQK": ("未履行", "已履行"),
    "LRYY": ("年报未公示", "地址异常"),
    "PJLY": ("纳税", "建筑"),
    "PJDJ": ("AAA", "A级", "优"),
    "ZJLX": ("二代身份证", "身份证件"),
}
GENERIC_WRONG = ("其它", "未知", "不详")


@dataclass(frozen=True)
class Defect:
    index: int  # position of the row in the feed (0-based, across its sources)
    field: str
    rule: str
    outcome: str
    kind: str


def parse_iso(value: object) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _present(value: object) -> bool:
    return value is not None and value != ""


class FeedDefects:
    """Applies defects to the rows of one feed; `bounds[i]` is the first row index of row i's source."""

    def __init__(self, rt: RecordType, as_of: dt.date, rng: random.Random) -> None:
        self.rt, self.as_of, self.rng = rt, as_of, rng
        self.subject_type = rt.role(Role.SUBJECT_TYPE).code
        subject_uscc = rt.role(Role.SUBJECT_USCC)
        self.subject_uscc = subject_uscc.code if subject_uscc else None
        self.decision = rt.role(Role.DECISION_DATE).code
        self.document = rt.role(Role.DOCUMENT_NUMBER).code
        when_fields = {r.when.field for r in rt.rules}
        checked = {r.field for r in rt.rules if r.field}
        self.required = [f.code for f in rt.fields if f.required and f.code not in when_fields]
        self.enums = [f for f in rt.fields if f.type == FieldType.ENUM and f.code not in when_fields]
        self.texts = [f for f in rt.fields if f.type == FieldType.TEXT and f.max_length
                      and f.code not in checked and f.code != self.document]  # fmt: skip
        self.decimals = [f.code for f in rt.fields if f.type == FieldType.DECIMAL]
        self.in_wan_yuan = [f.code for f in rt.fields if f.unit_check is not None]
        self.pairs = [(o.start, o.end) for o in rt.date_order]
        self.not_future = {f.code for f in rt.fields if f.not_future}
        self.kinds: list[tuple[str, str, float, Callable[[list[dict], int], tuple[str, str] | None]]] = [
            ("uscc_checksum", QUARANTINE, 3, self._uscc_checksum),
            ("id_number_checksum", QUARANTINE, 2, self._id_number_checksum),
            ("required", QUARANTINE, 3, self._required),
            ("date_format", QUARANTINE, 2, self._date_format),
            ("date_future", QUARANTINE, 1, self._date_future),
            ("date_order", QUARANTINE, 1, self._date_order),
            ("conditional_required", QUARANTINE, 2, self._conditional_required),
            ("uscc_prefix", QUARANTINE, 1, self._uscc_prefix),
            ("allowed_values", QUARANTINE, 2, self._allowed_values),
            ("max_length", QUARANTINE, 1, self._max_length),
            ("amount", QUARANTINE, 1, self._amount),
            ("fine_unit", QUARANTINE, 1, self._fine_unit),
            ("duplicate_in_batch", QUARANTINE, 2, self._duplicate),
            ("date_variant", NORMALISE, 4, self._date_variant),
            ("code_variant", NORMALISE, 3, self._code_variant),
        ]
        self.bounds: list[int] = []
        self.defective: set[int] = set()

    def apply(self, rows: list[dict], count: int, bounds: list[int]) -> list[Defect]:
        """Give `count` distinct rows one defect each (in place) and describe them."""
        self.bounds = bounds
        chosen = sorted(self.rng.sample(range(len(rows)), count))
        self.defective = set(chosen)
        defects = []
        for index in chosen:
            for rule, outcome, _, attempt in self._kinds_in_random_order():
                result = attempt(rows, index)
                if result is not None:
                    defects.append(Defect(index, result[0], rule, outcome, result[1]))
                    break
            else:  # pragma: no cover - `required` always applies (the subject name is required)
                raise AssertionError(f"no defect applies to row {index} of {self.rt.code}")
        return defects

    def _kinds_in_random_order(self):
        rng = self.rng
        return sorted(self.kinds, key=lambda k: -(rng.random() ** (1 / k[2])))

    def _holding_rules(self, row: dict):
        return [r for r in self.rt.rules if row.get(r.when.field) == r.when.equals]

    # -- quarantine ----------------------------------------------------------------------------------
    def _uscc_checksum(self, rows, i):
        row, code = rows[i], self.subject_uscc
        value = row.get(code) if code else None
        if not _present(value) or len(value) != 18:
            return None
        row[code] = value[:17] + self.rng.choice([c for c in USCC_ALPHABET if c != value[17]])
        return code, "wrong_check_char"

    def _id_number_checksum(self, rows, i):
        row = rows[i]
        candidates = [r.field for r in self._holding_rules(row)
                      if r.check == "id_number" and _present(row.get(r.field)) and len(row[r.field]) == 18]  # fmt: skip
        if not candidates:
            return None
        code = self.rng.choice(candidates)
        value = row[code]
        if self.rng.random() < 0.5:
            row[code] = value[:17] + self.rng.choice([c for c in "0123456789X" if c != value[17]])
            return code, "wrong_check_char"
        body = value[:10] + self.rng.choice(("0230", "1301", "0431", "0010", "0632")) + value[14:17]
        row[code] = body + id_check_char(body)
        return code, "impossible_birth_date"

    def _required(self, rows, i):
        row = rows[i]
        candidates = [c for c in self.required if _present(row.get(c))]
        if not candidates:
            return None
        code = self.rng.choice(candidates)
        row[code] = None
        return code, "empty"

    def _date_format(self, rows, i):
        row = rows[i]
        day = parse_iso(row.get(self.decision))
        if day is None:
            return None
        suffix = self.rng.choice(("-02-30", "-13-01", "-04-31", "-00-15", "-06-31", "-11-31"))
        row[self.decision] = f"{day.year}{suffix}"
        return self.decision, "impossible_date"

    def _date_future(self, rows, i):
        row = rows[i]
        day = parse_iso(row.get(self.decision))
        if day is None:
            return None
        new = self.as_of + dt.timedelta(days=self.rng.randint(30, 400))
        shift = new - day
        moves = {}
        for start, end in self.pairs:
            if start == self.decision and _present(row.get(end)):
                end_day = parse_iso(row[end])
                if end_day is None or end in self.not_future:
                    return None
                moves[end] = (end_day + shift).isoformat()
        row[self.decision] = new.isoformat()
        row.update(moves)
        return self.decision, "after_as_of"

    def _date_order(self, rows, i):
        row = rows[i]
        starts = {s for s, _ in self.pairs}
        candidates = [(s, e) for s, e in self.pairs if parse_iso(row.get(s)) is not None and e not in starts]
        if not candidates:
            return None
        start, end = self.rng.choice(candidates)
        row[end] = (parse_iso(row[start]) - dt.timedelta(days=self.rng.randint(1, 365))).isoformat()
        return end, "end_before_start"

    def _conditional_required(self, rows, i):
        row = rows[i]
        required_anyway = {f.code for f in self.rt.fields if f.required}
        candidates = sorted({c for r in self._holding_rules(row) for c in r.require
                             if _present(row.get(c)) and c not in required_anyway})  # fmt: skip
        if not candidates:
            return None
        code = self.rng.choice(candidates)
        row[code] = None
        return code, "empty"

    def _uscc_prefix(self, rows, i):
        row = rows[i]
        candidates = [r for r in self._holding_rules(row)
                      if r.starts_with and _present(row.get(r.field)) and len(row[r.field]) == 18]  # fmt: skip
        if not candidates:
            return None
        rule = self.rng.choice(candidates)
        value = row[rule.field]
        prefix = "91" if rule.starts_with != "91" else "92"
        row[rule.field] = uscc(prefix[0], prefix[1], value[2:8], value[8:16])
        return rule.field, f"prefix_{prefix}"

    def _allowed_values(self, rows, i):
        if not self.enums:
            return None
        row, spec = rows[i], self.rng.choice(self.enums)
        suffix = spec.code.split("_", 1)[-1].rsplit("_", 1)[-1]
        wrong = [v for v in WRONG_VALUES.get(suffix, GENERIC_WRONG) if v not in (spec.allowed or ())]
        value = self.rng.choice(wrong)
        current = row.get(spec.code)
        if spec.multi_value and _present(current) and self.rng.random() < 0.5:
            value = f"{current};{value}"
        row[spec.code] = value
        return spec.code, "off_list"

    def _max_length(self, rows, i):
        row = rows[i]
        candidates = [f for f in self.texts if _present(row.get(f.code))]
        if not candidates:
            return None
        spec = self.rng.choice(candidates)
        target = spec.max_length + self.rng.randint(1, 50)
        value = row[spec.code]
        row[spec.code] = (value + FILLER * (target // len(FILLER) + 1))[:target]
        return spec.code, "too_long"

    def _amount(self, rows, i):
        row = rows[i]
        candidates = [c for c in self.decimals if _present(row.get(c))]
        if not candidates:
            return None
        code = self.rng.choice(candidates)
        row[code] = f"-{row[code]}"
        return code, "negative"

    def _fine_unit(self, rows, i):
        """The amount sent in yuan, as 处罚内容 writes it (0.2 万元 sent as 2000)."""
        row = rows[i]
        candidates = [c for c in self.in_wan_yuan if _present(row.get(c))]
        if not candidates:
            return None
        code = self.rng.choice(candidates)
        yuan = Decimal(row[code]) * 10000
        row[code] = str(yuan.to_integral_value()) if yuan == yuan.to_integral_value() else str(yuan.normalize())
        return code, "in yuan"

    def _duplicate(self, rows, i):
        start = self.bounds[i]
        if i == start:
            return None
        for _ in range(30):
            j = self.rng.randrange(start, i)
            if j not in self.defective:
                rows[i] = dict(rows[j])
                return self.document, "exact_copy"
        return None

    # -- normalise -----------------------------------------------------------------------------------
    def _date_variant(self, rows, i):
        row = rows[i]
        day = parse_iso(row.get(self.decision))
        if day is None:
            return None
        kind = self.rng.choice(("slash", "compact", "chinese", "excel_serial"))
        row[self.decision] = {
            "slash": f"{day:%Y/%m/%d}",
            "compact": f"{day:%Y%m%d}",
            "chinese": f"{day.year}年{day.month}月{day.day}日",
            "excel_serial": (day - EXCEL_EPOCH).days,
        }[kind]
        return self.decision, kind

    def _code_variant(self, rows, i):
        row, code = rows[i], self.subject_uscc
        value = row.get(code) if code else None
        if not _present(value):
            return None
        options = ["fullwidth", "spaces"] + (["lowercase"] if any(c.isalpha() for c in value) else [])
        chosen = sorted(self.rng.sample(options, self.rng.randint(1, min(2, len(options)))))
        if "lowercase" in chosen:
            value = value.lower()
        if "fullwidth" in chosen:
            start = self.rng.randrange(0, 12)
            value = value[:start] + "".join(chr(ord(c) + 0xFEE0) for c in value[start:])
        if "spaces" in chosen:
            value = self.rng.choice((" ", "  ", "\u3000")) + value + self.rng.choice(("", " ", "\u3000"))
        row[code] = value
        return code, "+".join(chosen)
