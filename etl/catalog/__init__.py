"""The catalog: departments, their feeds, record types with standard fields, and quarantine rules.

Kept as YAML beside this module and validated with pydantic on load, so adding a department is a
YAML change and a typo is reported with the file and the field at start-up, not mid-run.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from etl import config
from etl.codes import halfwidth, is_valid_uscc
from etl.errors import UserError

CODE = r"^[a-z][a-z0-9_]*$"
FIELD_CODE = r"^[A-Z][A-Z0-9_]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Rule(StrEnum):
    """Quarantine rules the pipeline applies; rules.yml must give each a Chinese and English reason."""

    PARSE = "parse"
    REQUIRED = "required"
    ALLOWED_VALUES = "allowed_values"
    MAX_LENGTH = "max_length"
    DATE_FORMAT = "date_format"
    DATE_FUTURE = "date_future"
    DATE_ORDER = "date_order"
    AMOUNT = "amount"
    USCC_CHECKSUM = "uscc_checksum"
    USCC_PREFIX = "uscc_prefix"
    ID_NUMBER_CHECKSUM = "id_number_checksum"
    CONDITIONAL_REQUIRED = "conditional_required"
    DUPLICATE_IN_BATCH = "duplicate_in_batch"
    AMBIGUOUS_CODE = "ambiguous_code"
    FINE_UNIT = "fine_unit"
    SEVERITY_UNDECLARED = "severity_undeclared"


class FieldType(StrEnum):
    TEXT = "text"
    ENUM = "enum"
    DATE = "date"
    DECIMAL = "decimal"
    USCC = "uscc"
    YEAR = "year"


class Role(StrEnum):
    """The part a field plays in the warehouse load (subject dimension, fact columns)."""

    SUBJECT_NAME = "subject_name"
    SUBJECT_TYPE = "subject_type"
    SUBJECT_USCC = "subject_uscc"
    LEGAL_REPRESENTATIVE = "legal_representative"
    ID_TYPE = "id_type"
    ID_NUMBER = "id_number"
    DOCUMENT_NUMBER = "document_number"
    DECISION_DATE = "decision_date"
    VALID_FROM = "valid_from"
    VALID_TO = "valid_to"
    FINE_AMOUNT = "fine_amount"
    RECORD_STATUS = "record_status"


class UnitCheck(Strict):
    """An amount in 万元 that departments often send in yuan: caught when it equals an amount the text field
    `written_in` states in 元, or when it exceeds `upper_bound` (万元) without the text stating it."""

    written_in: str
    upper_bound: float = Field(gt=0)
    # When the text states amounts, this one must be among them (a fine of 2 万元 beside 罚款贰仟元 is 10x off).
    matches_text: bool = False


class FieldSpec(Strict):
    code: Annotated[str, Field(pattern=FIELD_CODE)]
    name_zh: str
    name_en: str
    type: FieldType
    required: bool = False
    max_length: int | None = Field(default=None, gt=0)
    allowed: tuple[str, ...] | None = None
    allowed_prefixes: tuple[str, ...] = Field(default=(), description="an enum value may also start with one of these")
    multi_value: bool = False
    not_future: bool = False
    personal: bool = False
    id_type_field: str | None = Field(default=None, description="a personal field's document type (证件类型)")
    role: Role | None = None
    local: bool = Field(default=False, description="not a 双公示 2.0 field: kept in the warehouse, never sent upward")
    unit_check: UnitCheck | None = None

    @model_validator(mode="after")
    def _enum_has_values(self) -> FieldSpec:
        if (self.type == FieldType.ENUM) != bool(self.allowed):
            raise ValueError("an enum field needs `allowed` values, and only enum fields may have them")
        return self


MULTI_VALUE_SEPARATORS = ";；、,，"


class AmbiguousSpelling(Strict):
    zh: str
    en: str


class CodeTable(Strict):
    """Spellings of an enumerated field's values -> the canonical label (code_tables.yml)."""

    code: Annotated[str, Field(pattern=CODE)]
    name_zh: str
    fields: tuple[str, ...] = Field(min_length=1)
    default: bool
    extends: str | None = None
    values: dict[str, str | tuple[str, ...]] = Field(default_factory=dict)
    ambiguous: dict[str, AmbiguousSpelling] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _spellings_as_read(self) -> CodeTable:
        for spelling in (*self.values, *self.ambiguous):
            if spelling != spelling.strip() or not spelling or spelling != halfwidth(spelling):
                raise ValueError(f"spelling {spelling!r} must be written half-width, without surrounding space")
        both = sorted(set(self.values) & set(self.ambiguous))
        if both:
            raise ValueError(f"spellings {both} are both mapped and ambiguous")
        return self


@dataclass(frozen=True)
class CodeLookup:
    """The code table one field of one feed reads its values with (a table and what it extends)."""

    table: str
    values: dict[str, tuple[str, ...]]
    ambiguous: dict[str, AmbiguousSpelling]


class Condition(Strict):
    field: str
    equals: str


class ConditionalRule(Strict):
    """A rule that applies only when `when` holds: required fields, a code prefix, or an ID check."""

    id: Annotated[str, Field(pattern=CODE)]
    rule: Rule
    when: Condition
    require: tuple[str, ...] = ()
    field: str | None = None
    starts_with: str | None = None
    check: Literal["id_number"] | None = None

    @model_validator(mode="after")
    def _one_consequence(self) -> ConditionalRule:
        consequences = [bool(self.require), self.starts_with is not None, self.check is not None]
        if sum(consequences) != 1:
            raise ValueError("give exactly one of `require`, `starts_with` or `check`")
        if (self.starts_with is not None or self.check is not None) and not self.field:
            raise ValueError("`starts_with` and `check` need the `field` they apply to")
        return self

    def fields(self) -> tuple[str, ...]:
        return (self.when.field, *self.require, *((self.field,) if self.field else ()))


class DateOrder(Strict):
    start: str
    end: str


class RecordType(Strict):
    code: Annotated[str, Field(pattern=CODE)]
    name_zh: str
    name_en: str
    catalog_category: str
    polarity: Literal["positive", "negative", "neutral"]
    is_publicity: bool
    field_prefix: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    share: float = Field(gt=0, le=1, description="share of records in a typical county (generator mix)")
    fields: tuple[FieldSpec, ...]
    rules: tuple[ConditionalRule, ...] = ()
    date_order: tuple[DateOrder, ...] = ()
    status_values: dict[str, Literal["revoked", "corrected"]] = Field(
        default_factory=dict, description="value of the record_status field -> fact status")
    document_brackets: Annotated[str, Field(min_length=2, max_length=2)] = Field(
        default="〔〕", description="the bracket pair of the document number's year, as the warehouse keeps it")

    @functools.cached_property
    def field_by_code(self) -> dict[str, FieldSpec]:
        return {f.code: f for f in self.fields}

    def role(self, role: Role) -> FieldSpec | None:
        return next((f for f in self.fields if f.role == role), None)

    @model_validator(mode="after")
    def _references_exist(self) -> RecordType:
        codes = [f.code for f in self.fields]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise ValueError(f"duplicate field codes {duplicates}")
        names = [f.name_zh for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("two fields share a Chinese name; header mapping would be ambiguous")
        known = set(codes)
        for rule in self.rules:
            missing = [f for f in rule.fields() if f not in known]
            if missing:
                raise ValueError(f"rule {rule.id} refers to unknown fields {missing}")
        for order in self.date_order:
            for code in (order.start, order.end):
                if self.field_by_code.get(code) is None or self.field_by_code[code].type != FieldType.DATE:
                    raise ValueError(f"date_order refers to {code}, which is not a date field")
        for spec in self.fields:
            if spec.unit_check is not None and (spec.type != FieldType.DECIMAL or self.field_by_code.get(
                    spec.unit_check.written_in) is None or self.field_by_code[spec.unit_check.written_in].type
                    != FieldType.TEXT):
                raise ValueError(f"{spec.code}: unit_check belongs on a decimal field and reads a text field")
            if spec.id_type_field is not None and (not spec.personal or spec.id_type_field not in known):
                raise ValueError(f"{spec.code}: id_type_field {spec.id_type_field} must name a field of the record "
                                 f"type, on a personal field")
        roles = [f.role for f in self.fields if f.role]
        if len(set(roles)) != len(roles):
            raise ValueError("a role is given to more than one field")
        for needed in (Role.SUBJECT_NAME, Role.SUBJECT_TYPE, Role.DOCUMENT_NUMBER, Role.DECISION_DATE):
            if needed not in roles:
                raise ValueError(f"no field has role {needed.value}")
        status_field = self.role(Role.RECORD_STATUS)
        if self.status_values and (status_field is None or not set(self.status_values) <= set(status_field.allowed)):
            raise ValueError("status_values need a record_status field whose allowed values include them")
        return self


class FileSource(Strict):
    format: Literal["csv", "xlsx"]
    encoding: Literal["utf-8", "utf-8-sig", "gb18030"] | None = None
    pattern: str

    @model_validator(mode="after")
    def _csv_has_encoding(self) -> FileSource:
        if (self.format == "csv") != (self.encoding is not None):
            raise ValueError("a csv feed needs `encoding`; an xlsx feed has none")
        return self


PARAMETER = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ApiSource(Strict):
    """A department's paged REST API. Two answer shapes: `data` ({"data": [...], "has_more", "next_cursor"})
    and `rows_total` ({"total": N, "rows": [...]}, paged by page number, as platform APIs answer); the
    parameter names and the field holding a record's last change (ISO 8601 or epoch milliseconds) are the
    department's own."""

    connection_id: Annotated[str, Field(pattern=CODE)]
    path: Annotated[str, Field(pattern=r"^/")]
    page_size: int = Field(default=200, gt=0, le=5000)
    incremental: Literal["cursor", "updated_since"]
    shape: Literal["data", "rows_total"] = "data"
    page_param: Annotated[str, Field(pattern=PARAMETER)] = "page"
    size_param: Annotated[str, Field(pattern=PARAMETER)] = "page_size"
    since_param: Annotated[str, Field(pattern=PARAMETER)] = "updated_since"
    updated_field: Annotated[str, Field(pattern=PARAMETER)] = "updated_at"

    @model_validator(mode="after")
    def _pages_by_number(self) -> ApiSource:
        if self.shape == "rows_total" and self.incremental != "updated_since":
            raise ValueError("a rows_total API is paged by page number: incremental must be updated_since")
        return self


class SqlSource(Strict):
    connection_id: Annotated[str, Field(pattern=CODE)]
    table: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    key_column: str
    updated_at_column: str


class Feed(Strict):
    code: Annotated[str, Field(pattern=CODE)]
    record_type: str
    transport: Literal["file", "api", "sql"]
    schedule: str
    header_style: Literal["codes", "standard_zh", "department"] = "standard_zh"
    columns: dict[str, str] = Field(default_factory=dict, description="department header -> standard field code")
    code_tables: dict[str, str] = Field(
        default_factory=dict, description="field code -> the code table its values are read with (not the default)")
    extra_columns: tuple[str, ...] = Field(
        default=(), description="reviewed headers outside the standard, kept with the fact (never published)")
    file: FileSource | None = None
    api: ApiSource | None = None
    sql: SqlSource | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression")
        return value

    @model_validator(mode="after")
    def _transport_settings(self) -> Feed:
        given = {name for name in ("file", "api", "sql") if getattr(self, name) is not None}
        if given != {self.transport}:
            raise ValueError(f"a {self.transport} feed needs exactly the `{self.transport}` settings block")
        if self.header_style == "department" and not self.columns:
            raise ValueError("header_style department needs a `columns` mapping")
        return self


class Department(Strict):
    code: Annotated[str, Field(pattern=CODE)]
    name_zh: str
    name_en: str
    agency_uscc: str
    feeds: tuple[Feed, ...] = Field(min_length=1)

    @field_validator("agency_uscc")
    @classmethod
    def _uscc(cls, value: str) -> str:
        if not is_valid_uscc(value):
            raise ValueError(f"{value!r} is not a valid unified social credit code")
        return value

    @model_validator(mode="after")
    def _unique_feeds(self) -> Department:
        codes = [f.code for f in self.feeds]
        if len(set(codes)) != len(codes):
            raise ValueError("feed codes repeat within the department")
        return self


class QuarantineRule(Strict):
    name_zh: str
    name_en: str
    message_zh: str
    message_en: str


class County(Strict):
    name_zh: str
    division_code: Annotated[str, Field(pattern=r"^\d{6}$")]


class AllowedUscc(Strict):
    """An early pilot code that fails the GB 32100 checksum yet is legal, accepted after review."""

    code: Annotated[str, Field(pattern=r"^[0-9A-Z]{18}$")]
    name_zh: str
    reviewed_by: str
    reviewed_on: dt.date
    reason: str

    @field_validator("code")
    @classmethod
    def _fails_checksum(cls, code: str) -> str:
        if is_valid_uscc(code):
            raise ValueError(f"{code} passes the checksum; only codes that fail it belong on the allow-list")
        return code


class Catalog(Strict):
    county: County
    departments: tuple[Department, ...]
    record_types: tuple[RecordType, ...]
    rules: dict[str, QuarantineRule]
    uscc_allow_list: tuple[AllowedUscc, ...] = ()
    code_tables: tuple[CodeTable, ...] = ()

    @functools.cached_property
    def record_type_by_code(self) -> dict[str, RecordType]:
        return {r.code: r for r in self.record_types}

    @functools.cached_property
    def code_table_by_code(self) -> dict[str, CodeTable]:
        return {t.code: t for t in self.code_tables}

    def code_table_fields(self, table: CodeTable, record_type: RecordType) -> list[str]:
        """The fields of `record_type` that `table` serves ("{p}" is the record type's prefix)."""
        codes = [f.replace("{p}", record_type.field_prefix) for f in table.fields]
        return [code for code in codes if code in record_type.field_by_code]

    def code_lookups(self, record_type: RecordType, feed: Feed | None = None) -> dict[str, CodeLookup]:
        """field code -> the code table its values are read with: the feed's choice, else the default."""
        chosen: dict[str, str] = {}
        for table in self.code_tables:
            if table.default:
                for code in self.code_table_fields(table, record_type):
                    chosen[code] = table.code
        if feed is not None:
            chosen.update(feed.code_tables)
        return {code: self.code_lookup(table) for code, table in chosen.items()}

    def code_lookup(self, code: str) -> CodeLookup:
        """A code table's spellings with those of the tables it extends."""
        return self._code_lookups[code]

    @functools.cached_property
    def _code_lookups(self) -> dict[str, CodeLookup]:
        return {table.code: self._resolve(table.code) for table in self.code_tables}

    def _resolve(self, code: str) -> CodeLookup:
        values: dict[str, tuple[str, ...]] = {}
        ambiguous: dict[str, AmbiguousSpelling] = {}
        chain: list[CodeTable] = []
        table: CodeTable | None = self.code_table_by_code[code]
        while table is not None:
            chain.append(table)
            table = self.code_table_by_code[table.extends] if table.extends else None
        for table in reversed(chain):  # the table itself overrides what it extends
            for spelling, label in table.values.items():
                values[spelling] = (label,) if isinstance(label, str) else tuple(label)
                ambiguous.pop(spelling, None)
            for spelling, why in table.ambiguous.items():
                ambiguous[spelling] = why
                values.pop(spelling, None)
        return CodeLookup(code, values, ambiguous)

    def ambiguous_fields(self, record_type: RecordType) -> list[str]:
        """Fields of the record type that some code table (default or not) gives ambiguous spellings."""
        fields = {code for table in self.code_tables if self.code_lookup(table.code).ambiguous
                  for code in self.code_table_fields(table, record_type)}
        return [f.code for f in record_type.fields if f.code in fields]

    @functools.cached_property
    def department_by_code(self) -> dict[str, Department]:
        return {d.code: d for d in self.departments}

    def feeds(self) -> list[tuple[Department, Feed]]:
        return [(d, f) for d in self.departments for f in d.feeds]

    def find_feed(self, department_code: str, feed_code: str) -> Feed | None:
        department = self.department_by_code.get(department_code)
        return next((f for f in department.feeds if f.code == feed_code), None) if department else None


def _expand_subject_fields(document: dict) -> list[dict]:
    """Give every record type the shared subject fields and rules with its own prefix."""
    shared_fields = document.get("subject_fields", [])
    shared_rules = document.get("subject_rules", [])

    def with_prefix(node, prefix: str):
        if isinstance(node, str):
            return node.replace("{p}", prefix)
        if isinstance(node, list):
            return [with_prefix(n, prefix) for n in node]
        if isinstance(node, dict):
            return {k: with_prefix(v, prefix) for k, v in node.items()}
        return node

    expanded = []
    for rt in document.get("record_types", []):
        rt = dict(rt)
        prefix = rt.get("field_prefix", "")
        rt["fields"] = with_prefix(shared_fields, prefix) + list(rt.get("fields", []))
        rt["rules"] = with_prefix(shared_rules, prefix) + list(rt.get("rules", []))
        expanded.append(rt)
    return expanded


class _UniqueKeyLoader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):
    """The safe loader, refusing a key written twice in one mapping: YAML keeps the last one silently, so a
    second `extra_columns:` pasted into a feed would undo the first without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice in one mapping",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse_yaml(text: str) -> object:
    """A YAML document's data, read by a safe loader: libyaml's where PyYAML was built with it (its wheels
    are), ~7x faster than the pure-Python one; every process that loads the catalog pays for the reading,
    and an ingest's workers each load it at their first feed. A key written twice is an error."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader


def _read_yaml(path: Path) -> dict:
    try:
        document = parse_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"目录文件 {path} 不存在，请从代码库恢复 / "
                        f"Catalog file {path} is missing; restore it from the repository.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        where_zh = f"（第 {mark.line + 1} 行第 {mark.column + 1} 列）" if mark else ""
        raise UserError(f"目录文件 {path.name} 不是有效的 YAML{where_zh}，请修改后重试 / "
                        f"Catalog file {path.name} is not valid YAML{where}: "
                        f"{getattr(exc, 'problem', exc)}.") from None
    if not isinstance(document, dict):
        raise UserError(f"目录文件 {path.name} 的顶层必须是映射 / "
                        f"Catalog file {path.name} must hold a mapping at the top level.")
    return document


def _describe(error: ValidationError, names: dict[str, str]) -> str:
    first = error.errors()[0]
    loc = list(first["loc"])
    file_name = names.get(str(loc[0]), "catalog") if loc else "catalog"
    path = ".".join(str(p) for p in loc)
    message = first["msg"].removeprefix("Value error, ")
    return (f"目录文件 {file_name} 的字段 {path or '（顶层）'} 有误，请修改后重试 / "
            f"Catalog file {file_name}: field {path or '(top level)'}: {message}.")


def load_catalog(directory: Path | None = None) -> Catalog:
    """Read and validate the catalog; raises UserError naming the file and field on a mistake."""
    directory = directory or config.settings().catalog_dir
    departments = _read_yaml(directory / "departments.yml")
    record_types = _read_yaml(directory / "record_types.yml")
    rules = _read_yaml(directory / "rules.yml")
    allow_list = _read_yaml(directory / "uscc_allow_list.yml")
    code_tables = _read_yaml(directory / "code_tables.yml")
    raw = {
        "county": departments.get("county"),
        "departments": departments.get("departments"),
        "record_types": _expand_subject_fields(record_types),
        "rules": rules.get("rules"),
        "uscc_allow_list": allow_list.get("codes") or (),
        "code_tables": code_tables.get("tables") or (),
    }
    names = {"county": "departments.yml", "departments": "departments.yml",
             "record_types": "record_types.yml", "rules": "rules.yml", "uscc_allow_list": "uscc_allow_list.yml",
             "code_tables": "code_tables.yml"}
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        raise UserError(_describe(exc, names)) from None
    _cross_check(catalog)
    return catalog


def _cross_check(catalog: Catalog) -> None:
    """References between the files; each problem names the file where the fix belongs."""
    missing = sorted(str(r) for r in set(Rule) - set(catalog.rules))
    if missing:
        raise UserError(f"目录文件 rules.yml 未给出规则 {missing} 的原因，请补充 / "
                        f"Catalog file rules.yml: no reason is given for rules {missing}; add them.")
    for unique in ("code", "agency_uscc"):
        values = [getattr(d, unique) for d in catalog.departments]
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise UserError(f"目录文件 departments.yml 中多个部门的 {unique} 相同：{repeated}，请修改 / "
                            f"Catalog file departments.yml: departments share {unique} {repeated}.")
    for dept, feed in catalog.feeds():
        where = f"Catalog file departments.yml: department {dept.code}, feed {feed.code}"
        where_zh = f"目录文件 departments.yml 中部门 {dept.code} 数据源 {feed.code}"
        record_type = catalog.record_type_by_code.get(feed.record_type)
        if record_type is None:
            raise UserError(f"{where_zh} 的 record_type {feed.record_type!r} 未定义"
                            f"（已有：{', '.join(catalog.record_type_by_code)}）/ "
                            f"{where}: unknown record_type {feed.record_type!r} "
                            f"(known: {', '.join(catalog.record_type_by_code)}).")
        unknown = sorted(set(feed.columns.values()) - set(record_type.field_by_code))
        if unknown:
            raise UserError(f"{where_zh} 的 `columns` 映射到未定义的字段代码 {unknown} / "
                            f"{where}: `columns` map to unknown field codes {unknown}.")
        index = header_index(record_type, feed)
        standard = sorted(h for h in feed.extra_columns if normalise_header(h) in index)
        if standard:
            raise UserError(f"{where_zh} 的 `extra_columns` 中 {standard} 是标准字段的表头，不能同时作为附加列 / "
                            f"{where}: `extra_columns` {standard} are headers of standard fields, not extras.")
        for field_code, table_code in feed.code_tables.items():
            table = catalog.code_table_by_code.get(table_code)
            if table is None or field_code not in catalog.code_table_fields(table, record_type):
                raise UserError(f"{where_zh} 的 `code_tables` 为字段 {field_code} 指定的代码表 {table_code} 不存在"
                                f"或不适用于该字段 / {where}: `code_tables` gives field {field_code} the code table "
                                f"{table_code!r}, which does not exist or does not serve that field.")
    _check_code_tables(catalog)


def _check_code_tables(catalog: Catalog) -> None:
    """Every table serves enum fields, maps only to their allowed labels, and extends tables that exist."""

    def wrong(problem_zh: str, problem_en: str) -> UserError:
        return UserError(f"目录文件 code_tables.yml：{problem_zh} / Catalog file code_tables.yml: {problem_en}.")

    tables = catalog.code_table_by_code
    if len(tables) != len(catalog.code_tables):
        raise wrong("代码表编号重复", "two tables share a code")
    defaults: dict[tuple[str, str], str] = {}
    for table in catalog.code_tables:
        seen = {table.code}
        parent = table.extends
        while parent is not None:
            if parent not in tables or parent in seen:
                raise wrong(f"代码表 {table.code} 的 extends 指向不存在或循环的代码表 {parent}",
                            f"table {table.code} extends {parent!r}, which is missing or circular")
            seen.add(parent)
            parent = tables[parent].extends
        lookup = catalog.code_lookup(table.code)
        served = False
        for record_type in catalog.record_types:
            for code in catalog.code_table_fields(table, record_type):
                served = True
                field = record_type.field_by_code[code]
                if field.type != FieldType.ENUM:
                    raise wrong(f"代码表 {table.code} 用于非枚举字段 {code}", f"table {table.code} serves {code}, "
                                f"which is not an enum field")
                if table.default:
                    other = defaults.setdefault((record_type.code, code), table.code)
                    if other != table.code:
                        raise wrong(f"字段 {code} 有两个默认代码表（{other}、{table.code}）",
                                    f"field {code} has two default tables ({other}, {table.code})")
                for spelling, labels in lookup.values.items():
                    outside = [label for label in labels if label not in (field.allowed or ())]
                    if outside or (len(labels) > 1 and not field.multi_value):
                        raise wrong(f"代码表 {table.code} 把 {spelling!r} 映射为 {list(labels)}，不是字段 {code} "
                                    f"的允许值", f"table {table.code} maps {spelling!r} to {list(labels)}, not "
                                    f"allowed values of {code}")
                if field.multi_value:
                    split = [s for s in (*lookup.values, *lookup.ambiguous)
                             if any(sep in s for sep in MULTI_VALUE_SEPARATORS)]
                    if split:
                        raise wrong(f"多值字段 {code} 的写法 {split} 含分隔符，查表前会被拆开",
                                    f"spellings {split} of multi-value field {code} hold a separator and are split "
                                    f"before lookup")
        if not served:
            raise wrong(f"代码表 {table.code} 不适用于任何字段", f"table {table.code} serves no field")


@functools.cache
def catalog() -> Catalog:
    """The project catalog, loaded once per process."""
    return load_catalog()


def header_index(record_type: RecordType, feed: Feed | None = None) -> dict[str, str]:
    """Every accepted header spelling (normalised) -> field code: codes, standard Chinese names, aliases."""
    index = {normalise_header(f.code): f.code for f in record_type.fields}
    index.update({normalise_header(f.name_zh): f.code for f in record_type.fields})
    if feed is not None:
        index.update({normalise_header(h): code for h, code in feed.columns.items()})
    return index


def normalise_header(header: str) -> str:
    """Headers compare without surrounding space, full-width brackets or case differences."""
    header = header.strip().replace("（", "(").replace("）", ")")
    return re.sub(r"\s+", "", header).upper()
