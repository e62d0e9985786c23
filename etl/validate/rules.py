"""The catalog's field specs and rules compiled to SQL, in one place.

Two things come out of a record type: how each raw staged text becomes a clean typed value
(`clean_columns`, used to fill staging.<type>_clean), and each row-level rule as a predicate over
that clean row (`row_rules`). The quarantine INSERT and the Great Expectations suite are both
built from the same predicates, so what GX reports and what is quarantined cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from etl.catalog import MULTI_VALUE_SEPARATORS as SEPARATORS
from etl.catalog import CodeLookup, FieldSpec, FieldType, RecordType, Role, Rule
from etl.sqltext import literal
from etl.stage.tables import column
from etl.workdays import CALENDAR_START

AMOUNT_LIMIT = 10**12  # exclusive upper bound of numeric(18, 6)
# Characters trimmed from text values: ASCII whitespace, no-break space and the ideographic space.
TRIM = "E' \\t\\r\\n\\u00a0\\u3000'"


def bad_flag(field: FieldSpec) -> str:
    """Column flagging a value that was given but could not be read as its type."""
    return f"{column(field.code)}__bad"


def yuan_column(text_field_code: str) -> str:
    """Column holding the amounts (in yuan) a text field writes in 元, for the fine-unit rule."""
    return f"{column(text_field_code)}__yuan"


def ambiguous_flag(field: FieldSpec) -> str:
    """Column holding the spelling of an enum value that a code table calls ambiguous (else NULL)."""
    return f"{column(field.code)}__ambiguous"


@dataclass(frozen=True)
class CodeReading:
    """How a batch's enumerated values are read: each field's code table (the feed's choice or the default),
    and the fields that have an `__ambiguous` column (the same for every feed of the record type)."""

    lookups: dict[str, CodeLookup]
    ambiguous_fields: frozenset[str]


def code_reading(record_type: RecordType, feed=None, catalog=None) -> CodeReading:  # noqa: ANN001 - Feed, Catalog
    """The code tables of the record type's fields in `feed` (None: the defaults) in the project catalog."""
    if catalog is None:
        from etl.catalog import catalog as project_catalog

        catalog = project_catalog()
    if record_type.code not in catalog.record_type_by_code:
        return CodeReading({}, frozenset())
    return CodeReading(catalog.code_lookups(record_type, feed), frozenset(catalog.ambiguous_fields(record_type)))


@dataclass(frozen=True)
class CleanColumn:
    name: str
    sql_type: str
    expression: str  # over the raw staging row `s`


def _trimmed(raw: str) -> str:
    return f"NULLIF(btrim({raw}, {TRIM}), '')"


def _date(raw: str) -> str:
    """ISO dates with a day up to 28 are always real: cast them directly, parse everything else."""
    return (f"CASE WHEN {raw} ~ '^[0-9]{{4}}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$' THEN {raw}::date "
            f"ELSE dw.parse_cn_date({raw}) END")


def _is_code(field: FieldSpec) -> bool:
    # Codes (USCC, ID numbers) are compared after full-width -> half-width, trim and upper-case.
    return field.type == FieldType.USCC or field.personal


def _parts(raw: str) -> str:
    """A multi-value text with its separators written as ';' (translate: a fifth of a regexp_replace's cost)."""
    return f"translate({_trimmed(raw)}, {literal(SEPARATORS)}, {literal(';' * len(SEPARATORS))})"


def _element(e: str) -> str:
    """One part of a multi-value text, without the spaces around it, half-width (as spellings are written)."""
    return f"dw.halfwidth(btrim({e}, {TRIM}))"


def _case(value_sql: str, pairs: list[tuple[str, str]]) -> str:
    """CASE <value> WHEN <spelling> THEN <result> … END (NULL when nothing matches); results are SQL."""
    if not pairs:
        return "NULL::text"
    return f"CASE {value_sql} " + " ".join(f"WHEN {literal(k)} THEN {v}" for k, v in pairs) + " END"


def _coded_enum(field: FieldSpec, raw: str, lookup: CodeLookup) -> str:
    """The canonical label of a value read through its code table; a value that is not a spelling stays as sent
    (the allowed-values rule then quarantines it, naming the table). Labels skip the lookup."""
    labels = [(spelling, literal(";".join(labels))) for spelling, labels in lookup.values.items()]
    if field.multi_value:
        # The common value is labels already: one containment test; a lookup per part only for the others.
        parts = _parts(raw)
        return (f"CASE WHEN {parts} IS NULL OR string_to_array({parts}, ';') <@ {_array(field.allowed)} THEN {parts} "
                f"ELSE (SELECT string_agg(coalesce({_case(_element('e'), labels)}, {_element('e')}), ';' ORDER BY i) "
                f"FROM unnest(string_to_array({parts}, ';')) WITH ORDINALITY AS u(e, i)) END")
    value = _trimmed(raw)
    return (f"CASE WHEN {value} IS NULL OR {value} = ANY({_array(field.allowed)}) THEN {value} "
            f"ELSE coalesce({_case(f'dw.halfwidth({value})', labels)}, {value}) END")


def _ambiguous_spelling(field: FieldSpec, raw: str, lookup: CodeLookup | None) -> str:
    """The (first) spelling of the value that the field's code table calls ambiguous, half-width; else NULL."""
    if lookup is None or not lookup.ambiguous:
        return "NULL::text"
    spellings = _array(tuple(lookup.ambiguous))
    if field.multi_value:
        parts = _parts(raw)
        return (f"CASE WHEN {parts} IS NULL OR string_to_array({parts}, ';') <@ {_array(field.allowed)} THEN NULL "
                f"ELSE (SELECT {_element('e')} FROM unnest(string_to_array({parts}, ';')) WITH ORDINALITY AS u(e, i) "
                f"WHERE {_element('e')} = ANY({spellings}) ORDER BY i LIMIT 1) END")
    value = _trimmed(raw)
    return f"CASE WHEN dw.halfwidth({value}) = ANY({spellings}) THEN dw.halfwidth({value}) END"


def repeatable_parts(field: FieldSpec, record_type: RecordType) -> list[str]:
    """The sub-expressions of a field's clean columns that may be written more than once, for
    `_materialise_clean` to compute once per row; one may hold a later one (a multi-value text's parts hold its
    trimmed text), so they are replaced in this order."""
    raw = f"s.{column(field.code)}"
    document = [_document_number(raw, record_type)] if field.role == Role.DOCUMENT_NUMBER else []
    return [*document, _date(raw), _parts(raw), f"dw.halfwidth(btrim({raw}, {TRIM}))", _trimmed(raw)]


def _document_number(raw: str, record_type: RecordType) -> str:
    return f"dw.canonical_document_number({raw}, {literal(record_type.document_brackets)})"


def clean_columns(record_type: RecordType, reading: CodeReading | None = None) -> list[CleanColumn]:
    reading = reading or code_reading(record_type)
    columns: list[CleanColumn] = []
    for field in record_type.fields:
        raw = f"s.{column(field.code)}"
        name = column(field.code)
        if field.type == FieldType.DATE:
            columns.append(CleanColumn(name, "date", _date(raw)))
            columns.append(CleanColumn(bad_flag(field), "boolean",
                                       f"({_trimmed(raw)} IS NOT NULL AND {_date(raw)} IS NULL)"))
        elif field.type == FieldType.DECIMAL:
            # A comma only groups thousands (1,000.5); 0,2 or 1,0 is not a number here, not 2 or 10.
            written = f"dw.halfwidth(btrim({raw}, {TRIM}))"
            valid = f"{written} ~ '^-?([0-9]+|[0-9]{{1,3}}(,[0-9]{{3}})+)(\\.[0-9]+)?$'"
            columns.append(CleanColumn(name, "numeric",
                                       f"CASE WHEN {valid} THEN replace({written}, ',', '')::numeric END"))
            columns.append(CleanColumn(bad_flag(field), "boolean",
                                       f"({_trimmed(raw)} IS NOT NULL AND NOT coalesce({valid}, false))"))
        elif field.role == Role.DOCUMENT_NUMBER:
            # One decision, one number: the form etl.keys gives the record's identity (full-width digits,
            # other brackets, spaces and lower-case letters are the same decision).
            columns.append(CleanColumn(name, "text", _document_number(raw, record_type)))
        elif _is_code(field):
            # Most codes arrive clean: a cheap pattern test spares the full normalisation.
            columns.append(CleanColumn(name, "text", f"CASE WHEN {raw} ~ '^[0-9A-Z]+$' THEN {raw} "
                                                     f"ELSE NULLIF(dw.normalize_code({raw}), '') END"))
        elif field.type == FieldType.YEAR:
            columns.append(CleanColumn(name, "text", f"dw.halfwidth({_trimmed(raw)})"))
        elif field.code in reading.lookups or field.multi_value:
            lookup = reading.lookups.get(field.code) or CodeLookup("", {}, {})
            columns.append(CleanColumn(name, "text", _coded_enum(field, raw, lookup)))
        else:
            columns.append(CleanColumn(name, "text", _trimmed(raw)))
        if field.code in reading.ambiguous_fields:
            columns.append(CleanColumn(ambiguous_flag(field), "text",
                                       _ambiguous_spelling(field, raw, reading.lookups.get(field.code))))
    # The yuan amounts a text states, read only for rows that give an amount checked against it.
    checked_by: dict[str, list[str]] = {}
    for field in record_type.fields:
        if field.unit_check is not None:
            checked_by.setdefault(field.unit_check.written_in, []).append(field.code)
    for text_code, amount_codes in checked_by.items():
        given = " OR ".join(f"s.{column(code)} IS NOT NULL" for code in amount_codes)
        columns.append(CleanColumn(yuan_column(text_code), "numeric[]",
                                   f"CASE WHEN {given} THEN dw.yuan_amounts(s.{column(text_code)}) END"))
    return columns


CODE_CHECK = re.compile(r"«(uscc|id_number):([a-z0-9_]+)»")
# A USCC is accepted when it passes its checksum or is on the reviewed allow-list (migration 014).
CHECK_FUNCTIONS = {"uscc": "dw.is_accepted_uscc", "id_number": "dw.is_valid_id_number"}


def check_sql(kind: str, code_sql: str) -> str:
    """SQL for "the code passes its check". A USCC is first tried against the checksum alone:
    `dw.is_valid_uscc` is inlined by the planner (~4 µs a row), while `dw.is_accepted_uscc`, whose
    allow-list lookup keeps it from being inlined, runs as a function call (~15 µs a row). CASE
    (not OR, whose operands PostgreSQL may evaluate in any order) consults the allow-list only for
    codes failing the checksum; the answer is the same, since accepted = valid OR allow-listed."""
    if kind == "uscc":
        return f"(CASE WHEN dw.is_valid_uscc({code_sql}) THEN true ELSE {CHECK_FUNCTIONS['uscc']}({code_sql}) END)"
    return f"{CHECK_FUNCTIONS[kind]}({code_sql})"


def code_check(kind: str, field_code: str) -> str:
    """A placeholder for "this code passes its checksum", rendered by `RowRule.sql`."""
    return f"«{kind}:{column(field_code)}»"


@dataclass(frozen=True)
class RowRule:
    """One check: rows where `predicate` holds fail `rule` on `field`; details go into the message."""

    field: str
    rule: Rule
    predicate: str  # over the clean row `n`, with code-check placeholders
    detail_zh: str = "''"
    detail_en: str = "''"

    def sql(self, joined_checks: bool = False) -> str:
        """The predicate as SQL: checksum functions inline, or flags from per-batch lookups of
        distinct codes (`code_checks` joined as v_<column>), which spares re-checking repeated codes."""
        if joined_checks:
            return CODE_CHECK.sub(lambda m: f"v_{m.group(2)}.{m.group(1)}_ok", self.predicate)
        return CODE_CHECK.sub(lambda m: check_sql(m.group(1), f"n.{m.group(2)}"), self.predicate)

    def checked_columns(self) -> set[str]:
        return {m.group(2) for m in CODE_CHECK.finditer(self.predicate)}

    def checked_codes(self) -> set[tuple[str, str]]:
        """(kind, column) pairs whose checksum this rule needs."""
        return {(m.group(1), m.group(2)) for m in CODE_CHECK.finditer(self.predicate)}


def _array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(literal(v) for v in values) + "]::text[]"


def _allowed_values_rule(field: FieldSpec, reading: CodeReading) -> RowRule:
    col = f"n.{column(field.code)}"
    if field.multi_value:
        predicate = f"NOT (string_to_array({col}, ';') <@ {_array(field.allowed)})"
    else:
        predicate = f"{col} <> ALL({_array(field.allowed)})"
        for prefix in field.allowed_prefixes:  # "其他-<name>": a label the standard leaves open
            predicate += f" AND NOT (starts_with({col}, {literal(prefix)}) AND length({col}) > {len(prefix)})"
    if field.code in reading.ambiguous_fields:
        predicate += f" AND n.{ambiguous_flag(field)} IS NULL"  # said once, by the ambiguous-code rule
    lookup = reading.lookups.get(field.code)
    if lookup is None:
        return RowRule(field.code, Rule.ALLOWED_VALUES, predicate, f"left({col}, 100)", f"left({col}, 100)")
    return RowRule(field.code, Rule.ALLOWED_VALUES, predicate,
                   f"left({col}, 100) || {literal(f'（代码表 {lookup.table} 未收录此值）')}",
                   f"left({col}, 100) || {literal(f' (not in code table {lookup.table})')}")


def _ambiguous_rule(field: FieldSpec, reading: CodeReading) -> RowRule:
    flag = f"n.{ambiguous_flag(field)}"
    lookup = reading.lookups.get(field.code)
    reasons = lookup.ambiguous.items() if lookup else ()
    why_zh = _case(flag, [(spelling, literal(why.zh)) for spelling, why in reasons])
    why_en = _case(flag, [(spelling, literal(why.en)) for spelling, why in reasons])
    table = lookup.table if lookup else ""
    return RowRule(field.code, Rule.AMBIGUOUS_CODE, f"{flag} IS NOT NULL",
                   f"{flag} || {literal(f'（代码表 {table}）：')} || coalesce({why_zh}, '')",
                   f"{flag} || {literal(f' (code table {table}): ')} || coalesce({why_en}, '')")


def _fine_unit_rule(field: FieldSpec, record_type: RecordType) -> RowRule:
    """An amount in 万元 that is the yuan figure: it equals an amount the text writes in 元 (and the text does not
    also state it in 万元), or it exceeds the plausibility bound without the text stating it."""
    check = field.unit_check
    col, written = f"n.{column(field.code)}", f"n.{yuan_column(check.written_in)}"
    text_name = record_type.field_by_code[check.written_in].name_zh
    bound = f"{check.upper_bound:g}"
    as_yuan = f"coalesce({col} = ANY({written}), false)"
    stated = f"coalesce({col} * 10000 = ANY({written}), false)"
    amounts = f"array_to_string({written}, '、')"
    # (beyond AMOUNT_LIMIT is the amount rule's finding, not this one's)
    mismatch = f" OR coalesce(cardinality({written}), 0) > 0" if check.matches_text else ""
    predicate = (f"{col} > 0 AND {col} < {AMOUNT_LIMIT} AND NOT {stated} "
                 f"AND ({as_yuan} OR {col} > {bound}{mismatch})")
    detail_zh = (f"CASE WHEN {as_yuan} THEN {col}::text || {literal(f'，而{text_name}写明 ')} || {col}::text || "
                 f"'元，即 ' || trim_scale({col} / 10000)::text || ' 万元' "
                 f"WHEN {col} > {bound} THEN {col}::text || "
                 f"{literal(f' 万元超过合理上限 {bound} 万元；如确为该金额，请在{text_name}中')}"
                 f" || '写明（如“罚款' || {col}::text || '万元”），否则请改以万元填报' "
                 f"ELSE {col}::text || ' 万元（' || trim_scale({col} * 10000)::text || "
                 f"{literal(f' 元）与{text_name}写明的金额（')} || {amounts} || ' 元）不符，请核对' END")
    detail_en = (f"CASE WHEN {as_yuan} THEN {col}::text || {literal(f' while {check.written_in} ({text_name}) says ')}"
                 f" || {col}::text || ' yuan, i.e. ' || trim_scale({col} / 10000)::text || ' 万元' "
                 f"WHEN {col} > {bound} THEN {col}::text || "
                 f"{literal(f' 万元 is above the plausibility bound of {bound} 万元; ')} || "
                 f"{literal(f'if it is right, state it in {check.written_in} (e.g. 罚款')} || {col}::text || "
                 f"'万元), else send it in 万元' "
                 f"ELSE {col}::text || ' 万元 (' || trim_scale({col} * 10000)::text || "
                 f"{literal(f' yuan) is not an amount {check.written_in} ({text_name}) states (')} || {amounts} || "
                 f"' yuan); check it' END")
    return RowRule(field.code, Rule.FINE_UNIT, predicate, detail_zh, detail_en)


def _severity_rule(record_type: RecordType) -> RowRule | None:
    """A penalty that neither the department's declarations nor the policy's fallback on penalty types places in
    a publicity tier (publicity_policy.yml): the department is asked to declare it, nothing is guessed."""
    from etl.publicity.policy import penalty_tier_sql, policy

    penalty = policy().penalty
    if record_type.code != penalty.record_type:
        return None
    decision = f"n.{column(record_type.role(Role.DECISION_DATE).code)}"
    types, severity = f"n.{column(penalty.types_field)}", f"n.{column(penalty.severity_field)}"
    tier = penalty_tier_sql(penalty, decision, f"string_to_array({types}, ';')", severity,
                            f"n.{column(penalty.procedure_field)}")
    undecided = [e for e in penalty.editions if e.default is None]
    if not undecided:
        return None
    editions = " ".join(f"WHEN {decision} >= DATE '{e.effective_from.isoformat()}' THEN {literal(e.name)}"
                        for e in reversed(penalty.editions))
    edition = f"CASE {editions} ELSE {literal(penalty.editions[0].name)} END"
    labels = "/".join(penalty.severity_tiers)
    procedure_name = record_type.field_by_code[penalty.procedure_field].name_zh
    severity_name = record_type.field_by_code[penalty.severity_field].name_zh
    return RowRule(
        penalty.severity_field, Rule.SEVERITY_UNDECLARED,
        f"{decision} IS NOT NULL AND {severity} IS NULL AND {tier} IS NULL",
        f"{decision}::text || '的决定适用' || {edition} || '，处罚类别“' || coalesce({types}, '') || "
        f"{literal(f'”不能确定等级；请申报{severity_name}（{labels}）或{procedure_name}')}",
        f"'the decision of ' || {decision}::text || ' falls under ' || {edition} || ' and its penalty types (' || "
        f"coalesce({types}, '') || ') do not decide the tier; declare ' || "
        f"{literal(f'{penalty.severity_field} ({labels}) or {penalty.procedure_field}')}")


def _field_rules(field: FieldSpec, reading: CodeReading, record_type: RecordType) -> list[RowRule]:
    col = f"n.{column(field.code)}"
    rules: list[RowRule] = []
    if field.required:
        given = f"{col} IS NULL AND NOT n.{bad_flag(field)}" if field.type in (
            FieldType.DATE, FieldType.DECIMAL) else f"{col} IS NULL"
        rules.append(RowRule(field.code, Rule.REQUIRED, given))
    if field.max_length and field.type in (FieldType.TEXT, FieldType.ENUM):
        rules.append(RowRule(field.code, Rule.MAX_LENGTH, f"length({col}) > {field.max_length}",
                             literal(str(field.max_length)), literal(str(field.max_length))))
    if field.type == FieldType.ENUM and field.allowed:
        rules.append(_allowed_values_rule(field, reading))
        if field.code in reading.ambiguous_fields:
            rules.append(_ambiguous_rule(field, reading))
    if field.type == FieldType.DATE:
        rules.append(RowRule(field.code, Rule.DATE_FORMAT, f"n.{bad_flag(field)}",
                             f"left(s_raw.{column(field.code)}, 100)", f"left(s_raw.{column(field.code)}, 100)"))
        if field.not_future:
            rules.append(RowRule(field.code, Rule.DATE_FUTURE,
                                 f"{col} > (now() AT TIME ZONE 'Asia/Shanghai')::date"))
        if field.role == Role.DECISION_DATE:
            # The warehouse calendar (dw.dim_date) starts in 2000; older decisions are out of scope.
            rules.append(RowRule(field.code, Rule.DATE_FORMAT, f"{col} < DATE '{CALENDAR_START.isoformat()}'",
                                 f"{col}::text || '（早于 {CALENDAR_START.isoformat()}）'",
                                 f"{col}::text || ' (before {CALENDAR_START.isoformat()})'"))
    if field.type == FieldType.DECIMAL:
        # The warehouse keeps amounts as numeric(18, 6): anything from a trillion 万元 up is a typo, not a fine.
        rules.append(RowRule(field.code, Rule.AMOUNT, f"(n.{bad_flag(field)} OR {col} < 0 OR {col} >= {AMOUNT_LIMIT})",
                             f"left(s_raw.{column(field.code)}, 100)", f"left(s_raw.{column(field.code)}, 100)"))
    if field.unit_check is not None:
        rules.append(_fine_unit_rule(field, record_type))
    if field.type == FieldType.YEAR:
        rules.append(RowRule(field.code, Rule.DATE_FORMAT, f"{col} !~ '^(19|20)[0-9]{{2}}$'",
                             f"left({col}, 100)", f"left({col}, 100)"))
    if field.type == FieldType.USCC:
        rules.append(RowRule(field.code, Rule.USCC_CHECKSUM,
                             f"{col} IS NOT NULL AND NOT {code_check('uscc', field.code)}"))
    return rules


def row_rules(record_type: RecordType, reading: CodeReading | None = None) -> list[RowRule]:
    """Every row-level rule of a record type, in a stable order (predicates the same for every feed; the
    details name the feed's code tables)."""
    reading = reading or code_reading(record_type)
    rules: list[RowRule] = []
    for field in record_type.fields:
        rules.extend(_field_rules(field, reading, record_type))
    fields = record_type.field_by_code
    for order in record_type.date_order:
        start, end = f"n.{column(order.start)}", f"n.{column(order.end)}"
        rules.append(RowRule(order.end, Rule.DATE_ORDER, f"{end} < {start}",
                             f"{start}::text", f"{start}::text"))
    for rule in record_type.rules:
        when = f"n.{column(rule.when.field)} = {literal(rule.when.equals)}"
        condition_zh = f"“{fields[rule.when.field].name_zh}”为“{rule.when.equals}”"
        condition_en = f"{rule.when.field} is {rule.when.equals}"
        if rule.require:
            for code in rule.require:
                rules.append(RowRule(code, rule.rule, f"{when} AND n.{column(code)} IS NULL",
                                     literal(condition_zh), literal(condition_en)))
        elif rule.starts_with is not None:
            col = f"n.{column(rule.field)}"
            rules.append(RowRule(rule.field, rule.rule,
                                 f"{when} AND {col} IS NOT NULL AND left({col}, {len(rule.starts_with)}) <> "
                                 f"{literal(rule.starts_with)}",
                                 literal(f"{condition_zh}时应以 {rule.starts_with} 开头"),
                                 literal(f"must start with {rule.starts_with} when {condition_en}")))
        elif rule.check == "id_number":
            col = f"n.{column(rule.field)}"
            rules.append(RowRule(rule.field, rule.rule,
                                 f"{when} AND {col} IS NOT NULL AND NOT {code_check('id_number', rule.field)}"))
    severity = _severity_rule(record_type)
    if severity is not None:
        rules.append(severity)
    document = record_type.role(Role.DOCUMENT_NUMBER)
    assert document is not None  # the catalog guarantees it
    rules.append(RowRule(document.code, Rule.DUPLICATE_IN_BATCH, "n.first_row_no < n.row_no",
                         "n.first_row_no::text", "n.first_row_no::text"))
    return rules
