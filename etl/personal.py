"""Personal identity numbers: found in any text and masked, by the rules of `catalog/personal_data.yml`.

One set of rules, two implementations that must agree character for character: this module (feedback
workbooks, batch reasons, command output, logs, reports, the platform simulator's compliance check) and
the SQL functions of schema pii (`pii.mask_text`, `pii.mask_id`: mart views, outbox payloads), which
`creditwh init` generates from the same rules (`install_sql`). tests/integration/test_personal_sql.py
compares the two on generated texts.

How a text is masked: full-width digits and letters are read as half-width (one character for one, so
positions do not move); every pattern is searched from every position where a match may start; a match whose number
passes its check has its letters and digits hidden but for the type's visible head and tail; the text comes
back with exactly those characters replaced by `*`. Hiding is a union, so the order of the patterns does not
matter, and a text without a number is returned unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from etl import config
from etl.codes import ID_PROVINCES, WHITESPACE, id_check_char
from etl.errors import UserError

MASK = "*"
# Full-width forms of what a number is made of (digits, letters, the hyphen and the ideographic space) read as
# half-width, one character for one so positions do not move. Full-width punctuation (，（）) is left alone:
# it separates numbers either way, and translating it would cost every Chinese text the slow path.
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
FULLWIDTH = "".join(chr(ord(c) + 0xFEE0) for c in _ALNUM) + "－\u3000"
HALFWIDTH = _ALNUM + "- "
_HALFWIDTH_TABLE = str.maketrans(FULLWIDTH, HALFWIDTH)
# What people and programs put between the groups of a number: spaces of every Unicode width (thin, narrow,
# ideographic …), the invisible ones (zero-width space and joiners, word joiner, BOM, soft hyphen), line breaks,
# dashes and the minus sign, dots, slashes and underscores (410523 19850612 0021, 410523-19850612-0021,
# 410523/19850612/0021, a number wrapped at a line end, one pasted from a web page with a zero-width space).
# A pattern writes `{sep}` for "at most a few of these"; they are removed before the check.
SEPARATORS = (" \t\n\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
              "\u202f\u205f\u3000\u200b\u200c\u200d\u2060\ufeff\u00ad"
              "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212.\u00b7/_")
_SEPARATOR_CLASS = SEPARATORS.replace("-", "") + "-"  # a hyphen last in a bracket expression is itself
SEP = "[" + _SEPARATOR_CLASS + "]{0,3}"
EDGES = {"digits": "0-9", "alphanumeric": "0-9A-Za-z"}
# A text can hold a number only if it has a run of six digits, or a run of digits and separators long enough
# for a spaced-out identity number; every other text is returned as it is without running a pattern.
CANDIDATE = "[0-9０-９]{6}|[0-9０-９][0-9０-９" + _SEPARATOR_CLASS + "]{13,}[0-9０-９]"

# An organisation code that is in fact a citizen ID number has a province code and a birth date where a USCC
# has its division code: one regular expression tells, without calling anything (the check follows).
ID_SHAPE = (f"^({'|'.join(sorted(ID_PROVINCES))})[0-9]{{4}}(18|19|20)[0-9]{{2}}(0[1-9]|1[0-2])[0-9]{{5}}"
            f"[0-9Xx]$")

Check = Literal["gb11643", "gb11643_15", "gb11643_foreign", "none"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Visible(_Strict):
    keep_head: int = Field(ge=0)
    keep_tail: int = Field(ge=0)


class IdPattern(_Strict):
    number: str
    edge: Literal["digits", "alphanumeric"]
    check: Check
    after: str | None = None

    def regex(self) -> str:
        """The pattern with its number as capture group 1, the same text for Python's re and PostgreSQL."""
        edge = EDGES[self.edge]
        number = self.number.replace("{sep}", SEP)
        return f"{self.after or ''}(?<![{edge}])({number})(?![{edge}])"


class IdType(Visible):
    code: str
    name_zh: str
    name_en: str
    labels: tuple[str, ...]
    patterns: tuple[IdPattern, ...] = ()


class Rules(_Strict):
    min_hidden_share: float = Field(gt=0, lt=1)
    unrecognised: Visible
    id_types: tuple[IdType, ...]

    @functools.cached_property
    def compiled(self) -> list[tuple[IdType, IdPattern, re.Pattern]]:
        return [(t, p, re.compile(p.regex())) for t in self.id_types for p in t.patterns]

    @functools.cached_property
    def by_label(self) -> dict[str, IdType]:
        return {label: t for t in self.id_types for label in t.labels}


def load_rules(directory: Path | None = None) -> Rules:
    from etl.catalog import _read_yaml

    path = (directory or config.settings().catalog_dir) / "personal_data.yml"
    try:
        return Rules.model_validate(_read_yaml(path))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(f"目录文件 personal_data.yml 的 {where} 有误 / catalog file personal_data.yml: field {where}: "
                        f"{first['msg']}.") from None


@functools.cache
def rules() -> Rules:
    return load_rules()


def halfwidth(text: str) -> str:
    return text.translate(_HALFWIDTH_TABLE)


def _birth_date_ok(year: int, month: int, day: int) -> bool:
    if not (1900 <= year <= 2999 and 1 <= month <= 12 and day >= 1):
        return False
    leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0
    days = 29 if month == 2 and leap else 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31
    return day <= days


def number_passes(number: str, check: Check) -> bool:
    """Whether a found number (separators removed, upper case) passes the pattern's check."""
    if check == "none":
        return True
    if check == "gb11643_15":
        return (len(number) == 15 and number.isascii() and number.isdigit() and number[:2] in ID_PROVINCES
                and _birth_date_ok(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12])))
    if len(number) != 18 or not (number[:17].isascii() and number[:17].isdigit()) or number[17] not in "0123456789X":
        return False
    if id_check_char(number[:17]) != number[17]:
        return False
    if check == "gb11643" and number[:2] not in ID_PROVINCES:
        return False
    return _birth_date_ok(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def _visible(count: int, rule: Visible, min_hidden_share: float) -> tuple[int, int]:
    """How many of a number's `count` letters and digits stay visible at its head and its tail."""
    head, tail = rule.keep_head, rule.keep_tail
    most = int(count * (1 - min_hidden_share))
    while head + tail > most:
        if tail > 0:
            tail -= 1
        else:
            head -= 1
    return head, tail


def _hide(span: range, text: str, rule: Visible, share: float, hidden: set[int]) -> None:
    """Mark the letters and digits of `span` for hiding, but for the rule's visible head and tail."""
    positions = [i for i in span if halfwidth(text[i]).isascii() and halfwidth(text[i]).isalnum()]
    head, tail = _visible(len(positions), rule, share)
    hidden.update(positions[head:len(positions) - tail])


def _normal(token: str) -> str:
    return "".join(c for c in token if c not in SEPARATORS).upper()


def find_numbers(text: str, rules_: Rules | None = None) -> list[tuple[IdType, int, int]]:
    """Every identity number in `text` that passes its check: (type, start, end), possibly overlapping."""
    rules_ = rules_ or rules()
    if not text or not re.search(CANDIDATE, text):
        return []
    half = halfwidth(text)
    found = []
    for id_type, pattern, regex in rules_.compiled:
        position = 0
        while (match := regex.search(half, position)) is not None:
            start, end = match.span(1)
            if number_passes(_normal(half[start:end]), pattern.check):
                found.append((id_type, start, end))
            position = start + 1
    return found


def mask_text(text: str | None, rules_: Rules | None = None) -> str | None:
    """The text with every identity number in it masked; anything else unchanged."""
    if not text:
        return text
    rules_ = rules_ or rules()
    found = find_numbers(text, rules_)
    if not found:
        return text
    hidden: set[int] = set()
    for id_type, start, end in found:
        _hide(range(start, end), text, id_type, rules_.min_hidden_share, hidden)
    return "".join(MASK if i in hidden else c for i, c in enumerate(text))


def id_type_of(value: str, label: str | None, rules_: Rules | None = None) -> Visible:
    """The rule for a value of an ID field: the declared document type's, else the type whose pattern the whole
    value matches, else the rule for unrecognised numbers."""
    rules_ = rules_ or rules()
    if label is not None and label.strip(WHITESPACE) in rules_.by_label:
        return rules_.by_label[label.strip(WHITESPACE)]
    trimmed = halfwidth(value).strip(WHITESPACE)
    for id_type, start, end in find_numbers(trimmed, rules_):
        if start == 0 and end == len(trimmed):
            return id_type
    return rules_.unrecognised


def mask_id(value: str | None, label: str | None = None, rules_: Rules | None = None) -> str | None:
    """A value of an ID field masked by its document type's rule (`label` is the 证件类型 sent with it)."""
    if not value:
        return value
    rules_ = rules_ or rules()
    hidden: set[int] = set()
    _hide(range(len(value)), value, id_type_of(value, label, rules_), rules_.min_hidden_share, hidden)
    return "".join(MASK if i in hidden else c for i, c in enumerate(value))


def could_be_id_number(code: str) -> bool:
    """Whether a code someone typed has the shape of a citizen ID number (province, birth date), check character
    right or wrong, or is a 15-digit old one: a mistyped ID number is still a person's number."""
    compact = re.sub(f"[{_SEPARATOR_CLASS}]", "", halfwidth(code or ""))
    return bool(re.match(ID_SHAPE, compact)) or bool(re.fullmatch("[0-9]{15}", compact))


def mask_json(value: object) -> object:
    """Every string in a JSON-like document masked (keys too: a department's own header can be a number)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {mask_text(k) if isinstance(k, str) else k: mask_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_json(v) for v in value]
    return value


class MaskPersonalData(logging.Filter):
    """A log handler filter: the message and any traceback of each record, with identity numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def mask_log_handlers(logger: logging.Logger | None = None) -> None:
    """Put the masking filter on every handler of `logger` (the root logger by default), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, MaskPersonalData) for f in handler.filters):
            handler.addFilter(MaskPersonalData())


# -- the SQL twin ------------------------------------------------------------------------------------------


def masked_attributes_sql(attributes: str, record_types) -> str:  # noqa: ANN001 - catalog RecordTypes
    """SQL for a record's attributes as a payload leaves the warehouse (`pii.mask_attributes`). Records whose
    texts hold no long digit run and that have no ID field are passed through without taking them apart."""
    from etl.catalog import FieldType

    fields = [f for rt in record_types for f in rt.fields]
    id_fields = [f for f in fields if f.personal]
    codes = sorted({f.code for f in fields if f.type == FieldType.USCC})

    def array(values) -> str:  # noqa: ANN001
        return "ARRAY[" + ", ".join(_literal(v) for v in values) + "]::text[]"

    ids, types = array([f.code for f in id_fields]), array([f.id_type_field or "" for f in id_fields])
    id_shape = _literal(ID_SHAPE)
    code_is_id = " OR ".join(f"({attributes} ->> {_literal(code)}) ~ {id_shape}" for code in codes) or "false"
    return (f"CASE WHEN {attributes} ?| {ids} OR ({attributes} - {array(codes)})::text ~ {_literal(CANDIDATE)} "
            f"OR {code_is_id} "
            f"THEN pii.mask_attributes({attributes}, {ids}, {types}, {array(codes)}) ELSE {attributes} END")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _visible_sql(rule: Visible) -> str:
    return f"ARRAY[{rule.keep_head}, {rule.keep_tail}]"


def install_sql(rules_: Rules | None = None) -> str:
    """The statements that (re)define schema pii's functions with these rules compiled in."""
    rules_ = rules_ or rules()
    share = repr(rules_.min_hidden_share)
    id_shape = _literal(ID_SHAPE)
    provinces = "ARRAY[" + ", ".join(_literal(p) for p in sorted(ID_PROVINCES)) + "]"
    searches = []
    for id_type, pattern, _ in rules_.compiled:
        searches.append(f"""
    pos := CASE WHEN half ~ {_literal(pattern.regex())} THEN 1 ELSE 0 END;  -- one test spares the search
    WHILE pos > 0 LOOP
        hit := regexp_instr(half, {_literal(pattern.regex())}, pos, 1, 0, '', 1);
        EXIT WHEN hit = 0;
        finish := regexp_instr(half, {_literal(pattern.regex())}, pos, 1, 1, '', 1);
        IF pii.number_passes(upper(translate(substr(half, hit, finish - hit), {_literal(SEPARATORS)}, '')),
                             {_literal(pattern.check)})
        THEN
            hidden := pii.hide(half, hit, finish, {_visible_sql(id_type)}, hidden);
        END IF;
        pos := hit + 1;
    END LOOP;""")
    label_cases = "\n".join(f"        WHEN {_literal(label)} THEN RETURN {_visible_sql(t)};"
                            for t in rules_.id_types for label in t.labels)
    whole = []
    for id_type, pattern, _ in rules_.compiled:
        whole.append(f"""
    IF regexp_instr(half, {_literal(pattern.regex())}, 1, 1, 0, '', 1) = 1
       AND regexp_instr(half, {_literal(pattern.regex())}, 1, 1, 1, '', 1) = char_length(half) + 1
       AND pii.number_passes(upper(translate(half, {_literal(SEPARATORS)}, '')), {_literal(pattern.check)}) THEN
        RETURN {_visible_sql(id_type)};
    END IF;""")
    fingerprint = hashlib.sha256((rules_.model_dump_json() + SEPARATORS).encode()).hexdigest()
    return f"""
-- translate() over a long list is slow on multi-byte text: most texts have no full-width character at all.
CREATE OR REPLACE FUNCTION pii.halfwidth(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    SELECT CASE WHEN t ~ '[０-９Ａ-Ｚａ-ｚ－　]' THEN translate(t, {_literal(FULLWIDTH)}, {_literal(HALFWIDTH)})
                ELSE t END
$fn$;

CREATE OR REPLACE FUNCTION pii.number_passes(n text, kind text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    total integer := 0;
    weights constant integer[] := ARRAY[7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    born text;
BEGIN
    IF kind = 'none' THEN
        RETURN true;
    END IF;
    IF kind = 'gb11643_15' THEN
        IF n !~ '^[0-9]{{15}}$' OR NOT substr(n, 1, 2) = ANY ({provinces}) THEN
            RETURN false;
        END IF;
        born := '19' || substr(n, 7, 6);
    ELSE
        IF n !~ '^[0-9]{{17}}[0-9X]$' THEN
            RETURN false;
        END IF;
        FOR i IN 1..17 LOOP
            total := total + substr(n, i, 1)::integer * weights[i];
        END LOOP;
        IF substr('10X98765432', mod(total, 11) + 1, 1) <> substr(n, 18, 1) THEN
            RETURN false;
        END IF;
        IF kind = 'gb11643' AND NOT substr(n, 1, 2) = ANY ({provinces}) THEN
            RETURN false;
        END IF;
        born := substr(n, 7, 8);
    END IF;
    RETURN substr(born, 1, 4)::integer BETWEEN 1900 AND 2999
       AND substr(born, 5, 2)::integer BETWEEN 1 AND 12
       AND substr(born, 7, 2)::integer BETWEEN 1 AND CASE
           WHEN substr(born, 5, 2)::integer = 2 THEN
               CASE WHEN (mod(substr(born, 1, 4)::integer, 4) = 0 AND mod(substr(born, 1, 4)::integer, 100) <> 0)
                         OR mod(substr(born, 1, 4)::integer, 400) = 0 THEN 29 ELSE 28 END
           WHEN substr(born, 5, 2)::integer IN (4, 6, 9, 11) THEN 30
           ELSE 31 END;
END
$fn$;

-- Positions [first, finish) of `half` to hide: its letters and digits but for `keep` = (head, tail), at least
-- the share of personal_data.yml hidden (taken from the tail first, then from the head).
CREATE OR REPLACE FUNCTION pii.hide(half text, first integer, finish integer, keep integer[], hidden integer[])
RETURNS integer[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
    positions integer[] := '{{}}';
    head integer := keep[1];
    tail integer := keep[2];
    most integer;
BEGIN
    FOR i IN first..finish - 1 LOOP
        IF strpos('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', substr(half, i, 1)) > 0 THEN
            positions := positions || i;
        END IF;
    END LOOP;
    most := floor(coalesce(cardinality(positions), 0) * (1 - {share}))::integer;
    WHILE head + tail > most LOOP
        IF tail > 0 THEN tail := tail - 1; ELSE head := head - 1; END IF;
    END LOOP;
    RETURN hidden || coalesce(positions[head + 1 : coalesce(cardinality(positions), 0) - tail], '{{}}');
END
$fn$;

CREATE OR REPLACE FUNCTION pii.mask_positions(t text, hidden integer[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
    masked text := t;
    p integer;
BEGIN
    FOREACH p IN ARRAY coalesce(hidden, '{{}}') LOOP
        masked := overlay(masked PLACING {_literal(MASK)} FROM p FOR 1);
    END LOOP;
    RETURN masked;
END
$fn$;

CREATE OR REPLACE FUNCTION pii.mask_text_found(t text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    half text := pii.halfwidth(t);
    hidden integer[] := '{{}}';
    pos integer;
    hit integer;
    finish integer;
BEGIN{"".join(searches)}
    IF cardinality(hidden) = 0 THEN
        RETURN t;
    END IF;
    RETURN pii.mask_positions(t, hidden);
END
$fn$;

-- Every identity number in a text masked (personal_data.yml); texts without a long run of digits are
-- returned at once, without running a pattern.
CREATE OR REPLACE FUNCTION pii.mask_text(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE WHEN t ~ {_literal(CANDIDATE)} THEN pii.mask_text_found(t) ELSE t END
$fn$;
COMMENT ON FUNCTION pii.mask_text(text) IS
    '文本中的证件号码脱敏（规则见 personal_data.yml）/ Identity numbers in a text masked (rules: personal_data.yml)';

CREATE OR REPLACE FUNCTION pii.id_visible(value text, label text) RETURNS integer[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
    half text := btrim(pii.halfwidth(value), {_literal(WHITESPACE)});
BEGIN
    CASE btrim(label, {_literal(WHITESPACE)})
{label_cases}
        ELSE NULL;
    END CASE;{"".join(whole)}
    RETURN {_visible_sql(rules_.unrecognised)};
END
$fn$;

-- A value of an ID field masked by its document type's rule (label: the 证件类型 sent with it).
CREATE OR REPLACE FUNCTION pii.mask_id(value text, label text DEFAULT NULL) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE WHEN value IS NULL OR value = '' THEN value
                ELSE pii.mask_positions(value, pii.hide(pii.halfwidth(value), 1, char_length(value) + 1,
                                                         pii.id_visible(value, label), '{{}}'))
           END
$fn$;
COMMENT ON FUNCTION pii.mask_id(text, text) IS
    '证件号码字段脱敏：按证件类型保留首尾若干位（规则见 personal_data.yml）/ '
    'An ID field masked by its document type''s rule (personal_data.yml)';

-- A record's standard fields for a payload that leaves the warehouse: ID fields masked by their document
-- type (type_fields[i] names the field holding id_fields[i]'s type), organisation codes shown unless they
-- are in fact citizen ID numbers, every other text scanned for identity numbers.
CREATE OR REPLACE FUNCTION pii.mask_attributes(attributes jsonb, id_fields text[], type_fields text[],
                                               code_fields text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
    masked jsonb := attributes;
    field record;
BEGIN
    -- Only the values that need it are rewritten; the document is not taken apart and rebuilt.
    FOR field IN SELECT e.key, e.value FROM jsonb_each_text(attributes) AS e
                  WHERE e.key = ANY (id_fields)
                     OR CASE WHEN e.key = ANY (code_fields) THEN e.value ~ {id_shape}
                             ELSE e.value ~ {_literal(CANDIDATE)} END LOOP
        masked := jsonb_set(masked, ARRAY[field.key], to_jsonb(CASE
            WHEN field.key = ANY (id_fields)
                THEN pii.mask_id(field.value, attributes ->> type_fields[array_position(id_fields, field.key)])
            WHEN field.key = ANY (code_fields)
                THEN CASE WHEN pii.number_passes(upper(field.value), 'gb11643') THEN pii.mask_id(field.value)
                          ELSE field.value END
            ELSE pii.mask_text(field.value) END));
    END LOOP;
    RETURN masked;
END
$fn$;

COMMENT ON FUNCTION pii.halfwidth(text) IS
    '全角数字、字母、连字符与全角空格转半角（位置不变）/ Full-width digits, letters, hyphen and space as half-width';
COMMENT ON FUNCTION pii.number_passes(text, text) IS
    '证件号码校验（GB 11643 等，见 personal_data.yml）/ Whether a found number passes its check (personal_data.yml)';
COMMENT ON FUNCTION pii.hide(text, integer, integer, integer[], integer[]) IS
    '需隐去的字符位置 / Positions of a number to hide, but for its visible head and tail';
COMMENT ON FUNCTION pii.mask_positions(text, integer[]) IS '将指定位置替换为 * / The text with these positions starred';
COMMENT ON FUNCTION pii.mask_text_found(text) IS
    '按全部规则查找并隐去文本中的证件号码 / Search a text with every pattern and hide the numbers found';
COMMENT ON FUNCTION pii.id_visible(text, text) IS
    '证件号码字段按证件类型保留的首尾位数 / Visible head and tail of an ID field by its document type';
COMMENT ON FUNCTION pii.mask_attributes(jsonb, text[], text[], text[]) IS
    '上报内容脱敏：证件号码字段按类型、其他文本中的证件号码 / A payload''s ID fields and texts masked';

COMMENT ON SCHEMA pii IS
    '个人信息脱敏函数，规则版本 {fingerprint[:16]}（personal_data.yml）/ '
    'Personal-data masking functions, rules {fingerprint[:16]}';
"""
