"""Onboarding a department's real file: read it and suggest the feed entry for departments.yml.

A data engineer adding a department has one of its files and the 双公示 field list; matching forty headers
by eye is where mistakes happen. The suggestion matches each header against the field codes, the standard
Chinese names and every alias other feeds already use (exact matches), then against the same spellings
loosely (a near match, with its confidence, to be checked), names columns outside the standard that look
like a source system's bookkeeping (to declare as extra_columns), looks at coded values (01, 111 …) to
name the code table that reads them, and lists what it could not map. It never writes the catalog: the
engineer edits departments.yml, and `creditwh release BATCH_ID` takes a held batch with the new mapping.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from etl.catalog import Catalog, Department, RecordType, normalise_header
from etl.personal import mask_text
from etl.stage import UnreadableSource, read_table

SAMPLE_ROWS = 500
NEAR_MATCH = 0.6
# Headers of a source system's own bookkeeping: ids, flags, audit timestamps, a spreadsheet's row number.
BOOKKEEPING = re.compile(r"^(ID|[A-Z_]*_ID|[A-Z_]*(FLAG|STATUS)|CREATE_[A-Z_]+|UPDATE_[A-Z_]+|[A-Z_]*_TIME|"
                         r"[A-Z_]*_DATE|COMP_NAME|DEPT_[A-Z_]+|[A-Z_]+_DEPT_NAME|序号|编号|行号)$", re.IGNORECASE)


@dataclass
class HeaderMatch:
    header: str
    field_code: str | None
    confidence: float
    how: str  # code | standard name | alias (<where>) | near <spelling> | bookkeeping | unmapped
    code_table: str | None = None
    samples: list[str] = field(default_factory=list)


@dataclass
class Suggestion:
    path: Path
    department: Department
    record_type: RecordType
    format: str
    encoding: str | None
    rows_read: int
    matches: list[HeaderMatch]
    missing_required: list[str]

    @property
    def extra(self) -> list[str]:
        return [m.header for m in self.matches if m.how == "bookkeeping"]

    @property
    def unmapped(self) -> list[HeaderMatch]:
        return [m for m in self.matches if m.field_code is None and m.how != "bookkeeping"]


def _spellings(catalog: Catalog, record_type: RecordType) -> dict[str, tuple[str, str]]:
    """Every known spelling (normalised) of the record type's fields -> (field code, how it is known)."""
    known: dict[str, tuple[str, str]] = {}
    for department, feed in catalog.feeds():
        if feed.record_type == record_type.code:
            for header, code in feed.columns.items():
                known.setdefault(normalise_header(header), (code, f"alias ({department.code}/{feed.code})"))
    for f in record_type.fields:
        known[normalise_header(f.name_zh)] = (f.code, "standard name")
        known[normalise_header(f.code)] = (f.code, "code")
    return known


def _near(key: str, known: dict[str, tuple[str, str]]) -> tuple[str, float] | None:
    """The closest known spelling and how close; a header holding a whole known name counts as close too.
    One character is too little to be near anything."""
    if len(key) < 2:
        return None
    best, score = None, 0.0
    for spelling in known:
        ratio = difflib.SequenceMatcher(None, key, spelling).ratio()
        if len(spelling) >= 3 and (spelling in key or key in spelling):
            ratio = max(ratio, 0.8)
        if ratio > score:
            best, score = spelling, ratio
    return (best, score) if best is not None and score >= NEAR_MATCH else None


def _record_type_for(catalog: Catalog, department: Department, path: Path, headers: list[str]) -> RecordType:
    """The department's feed whose file pattern takes the name, else the record type most headers match."""
    from etl.extract.file import feed_matches

    for feed in department.feeds:
        if feed.transport == "file" and feed.file is not None and feed_matches(feed, path.name):
            return catalog.record_type_by_code[feed.record_type]
    from etl.errors import UserError

    keys = [normalise_header(h) for h in headers if h.strip()]
    own = {f.record_type for f in department.feeds}

    def score(rt: RecordType) -> float:
        # Headers matched (exactly 1, near by their closeness), then the file's name and the department's
        # own feeds break ties (the shared subject fields match every record type alike).
        known = _spellings(catalog, rt)
        matched = sum(1.0 if k in known else (near[1] if (near := _near(k, known)) else 0.0) for k in keys)
        if not matched:
            return 0.0
        return matched + (0.5 if rt.name_zh in path.stem else 0.0) + (0.25 if rt.code in own else 0.0)

    best = max((score(rt), rt.code) for rt in catalog.record_types)
    if best[0] == 0:
        # Nothing to go on: say so rather than name a record type at random.
        raise UserError(f"{mask_text(path.name)} 的表头没有一个是标准字段名或已知别名，无法判断信息类别；请确认第一行是"
                        f"表头，或用部门已有数据源的文件名 / no header of {mask_text(path.name)} is a standard field "
                        f"name or a known alias, so its record type cannot be told; check that the first row is the "
                        f"header, or name the file as one of the department's feeds expects")
    return catalog.record_type_by_code[best[1]]


def _code_table(catalog: Catalog, record_type: RecordType, code: str, values: list[str]) -> str | None:
    """A non-default code table that reads all the sampled values when the default does not."""
    default = catalog.code_lookups(record_type).get(code)
    distinct = {v.strip() for v in values if v and v.strip()}
    if not distinct:
        return None

    def reads(lookup) -> bool:  # noqa: ANN001 - a CodeLookup
        return all(v in lookup.values or v in lookup.ambiguous for v in distinct)

    if default is not None and reads(default):
        return None
    for table in catalog.code_tables:
        if (not table.default and code in catalog.code_table_fields(table, record_type)
                and reads(catalog.code_lookup(table.code))):
            return table.code
    return None


def suggest_feed(catalog: Catalog, path: Path, department_code: str) -> Suggestion:
    from etl.errors import UserError

    department = catalog.department_by_code.get(department_code)
    if department is None:
        raise UserError(f"部门 {department_code!r} 不在 departments.yml 中；先加一个部门条目（code、名称、机关代码）"
                        f" / department {department_code!r} is not in departments.yml; add its entry (code, names, "
                        f"agency code) first, then suggest its feeds.")
    if not path.is_file():
        raise UserError(f"{path} 不是文件 / {path} is not a file.")
    try:
        table = read_table(path, limit=SAMPLE_ROWS)
        if any(mask_text(h) != h for h in table.header):
            raise UnreadableSource("第一行含身份证件号码，是数据而不是表头；请加上表头行",
                                   "the first row holds an identity number: it is data, not a header; add the "
                                   "header row")
    except UnreadableSource as exc:
        raise UserError(f"{path.name} 无法读取：{exc.reason_zh} / {path.name} cannot be read: "
                        f"{exc.reason_en}") from None
    record_type = _record_type_for(catalog, department, path, table.header)
    known = _spellings(catalog, record_type)
    matches: list[HeaderMatch] = []
    taken: Counter[str] = Counter()
    for index, header in enumerate(table.header):
        key = normalise_header(header)
        samples = [row[index] for row in table.rows if index < len(row) and row[index]][:SAMPLE_ROWS]
        shown = [_sample(v) for v in dict.fromkeys(samples)][:3]
        if not key:
            match = HeaderMatch(header, None, 0.0, "unmapped (an empty header)")
        elif key in known:
            code, how = known[key]
            match = HeaderMatch(header, code, 1.0, how)
        elif (near := _near(key, known)) is not None:
            code = known[near[0]][0]
            match = HeaderMatch(header, code, round(near[1], 2), f"near {near[0]}")
        elif BOOKKEEPING.match(header.strip()) or not header.strip():
            match = HeaderMatch(header, None, 0.0, "bookkeeping")
        else:
            match = HeaderMatch(header, None, 0.0, "unmapped")
        if match.field_code:
            match.code_table = _code_table(catalog, record_type, match.field_code, samples)
            taken[match.field_code] += 1
            if record_type.field_by_code[match.field_code].personal:
                shown = ["（个人信息不显示 personal data, not shown）"] if samples else []
        match.samples = shown
        matches.append(match)
    # Two headers for one field: keep the surer one, the other is unmapped (a person decides).
    for code, count in taken.items():
        if count > 1:
            ranked = sorted((m for m in matches if m.field_code == code), key=lambda m: -m.confidence)
            for loser in ranked[1:]:
                loser.how = f"unmapped (also matches {code}, taken by {ranked[0].header!r})"
                loser.field_code, loser.confidence = None, 0.0
    mapped = {m.field_code for m in matches if m.field_code}
    missing = [f.code for f in record_type.fields if f.required and f.code not in mapped]
    return Suggestion(path, department, record_type, table.format, table.encoding,
                      len(table.rows), matches, missing)


# Words YAML reads as something other than text when bare (yes, no, on, null …).
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})
_DATE_PART = re.compile(r"\d{4}\s*[-_.年]?\s*\d{1,2}\s*月?(\s*[-_.]?\s*\d{1,2}\s*日?)?|\d{6,8}")


def _quote(text: str) -> str:
    """A header as YAML text: bare when it is a plain word, else double-quoted (JSON escapes are YAML's)."""
    plain = re.fullmatch(r"[\w\u4e00-\u9fff（）()]+", text) and not text[0].isdigit()
    return text if plain and text.casefold() not in _YAML_WORDS else json.dumps(text, ensure_ascii=False)


def _sample(value: str) -> str:
    """A value shown as an example: personal numbers masked, a long digit run (an ID number Excel stored as a
    number and rounded fails its check, so the masking rules do not see it) hidden."""
    return re.sub(r"\d{15,}", lambda m: "*" * len(m.group()), mask_text(value))[:30]


def _pattern(path: Path) -> str:
    """A file pattern for the feed: the sample's name with its date parts as wildcards."""
    stem = re.sub(r"\*+", "*", _DATE_PART.sub("*", path.stem)).strip("*_- ") or "*"
    suffix = path.suffix.casefold().lstrip(".") or "csv"
    return f"{stem}*.{suffix}" if stem != "*" else f"*.{suffix}"


def render_suggestion(s: Suggestion) -> str:
    """The feed entry as YAML to paste under the department's `feeds:`, with a comment on every line."""
    rt = s.record_type
    exact = all(m.how in ("code",) for m in s.matches if m.field_code)
    standard = all(m.how in ("code", "standard name") for m in s.matches if m.field_code)
    style = "codes" if exact else ("standard_zh" if standard else "department")
    fmt = s.format
    encoding = "" if fmt != "csv" else f", encoding: {'utf-8' if (s.encoding or '').startswith('utf') else 'gb18030'}"
    lines = [
        f"# creditwh catalog suggest {mask_text(s.path.name)} --department {s.department.code}",
        f"# read as {fmt}{' ' + s.encoding if s.encoding else ''}, {s.rows_read} rows looked at; "
        f"record type {rt.code} ({rt.name_zh}). Check every line marked CHECK before pasting.",
        f"- code: {rt.code}",
        f"  record_type: {rt.code}",
    ]
    if fmt == "jsonl":
        # File feeds take CSV and Excel; JSON is what a department's API answers.
        lines += ["  transport: api                     # CHECK JSON comes through an API feed, not a file drop",
                  '  schedule: "0 */4 * * *"            # how often to ask the API: agree it with the department',
                  f"  header_style: {style}",
                  f"  api: {{connection_id: dept_api_{s.department.code}, path: /CHANGE-ME, page_size: 200, "
                  f"incremental: updated_since}}    # CHECK path, shape and parameter names"]
    else:
        lines += ["  transport: file",
                  '  schedule: "0 23 * * *"            # when the department drops it: ask them',
                  f"  header_style: {style}",
                  f"  file: {{format: {fmt}{encoding}, pattern: {json.dumps(_pattern(s.path), ensure_ascii=False)}}}"
                  f"    # CHECK the pattern takes next month's file"]
    mapped = [m for m in s.matches if m.field_code]
    if style == "department" and mapped:
        lines.append("  columns:")
        for m in mapped:
            note = f"{m.how}, confidence {m.confidence:.2f}"
            if m.confidence < 1:
                note = "CHECK " + note
            field_name = rt.field_by_code[m.field_code].name_zh
            example = f"; e.g. {', '.join(m.samples)}" if m.samples else "; no value in the rows looked at"
            lines.append(f"    {_quote(m.header)}: {m.field_code}    # {field_name}; {note}{example}")
    tables = [m for m in mapped if m.code_table]
    if tables:
        lines.append("  code_tables:")
        lines += [f"    {m.field_code}: {m.code_table}    # CHECK values {', '.join(m.samples)} read by this table"
                  for m in tables]
    if s.extra:
        lines.append(f"  extra_columns: [{', '.join(_quote(h) for h in s.extra)}]"
                     f"    # CHECK outside the standard: kept with the fact, never published")
    for m in s.unmapped:
        lines.append(f"  # unmapped: {_quote(m.header)} ({m.how}; e.g. {', '.join(m.samples) or 'empty'}) — map it "
                     f"under columns, declare it in extra_columns, or the batch is held")
    for code in s.missing_required:
        f = rt.field_by_code[code]
        lines.append(f"  # required field not found: {code} {f.name_zh} — every row will be quarantined without it")
    return "\n".join(lines)
