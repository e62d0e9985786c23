"""Indicator editions as data: one YAML file per edition under etl/catalog/indicators/.

The monitoring platform revises its indicator system every few years (2019: 4/16/40/60 indicators,
2020: 4/15/25/40); keeping each edition as a file with its hierarchy, points, scoring rules and SQL
measures means a new edition is a new file, and a mistake in one is reported with the file and the
field at load time, not as a wrong score a month later.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from etl import config
from etl.catalog import parse_yaml
from etl.errors import UserError

INDICATOR_CODE = r"^[a-z][a-z0-9_]*$"
EDITION_FILE = re.compile(r"^(\d{4}[a-z0-9_]*)\.yml$")
# Parameters compute_indicators binds for every measure (see the header of an edition file).
MEASURE_PARAMETERS = frozenset({
    "period_start", "period_end", "start_key", "end_key", "start_at", "end_at", "year_start", "year_start_key",
})
MEASURE_COLUMNS = ("department_code", "numerator", "denominator")
# What SQLAlchemy's text() takes for a bind parameter, and the `:name::type` spelling it misreads.
_BIND = re.compile(r"(?<![:\w\\]):(\w+)")
_BIND_THEN_CAST = re.compile(r"(?<![:\w\\]):\w+::")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scoring(Strict):
    """How a value becomes points: linear from `floor` (zero) to `target` (full), or all-or-nothing at target."""

    rule: Literal["linear", "step"]
    target: Decimal
    floor: Decimal | None = None


class Indicator(Strict):
    """A node of the tree: an inner indicator (children, points = their sum) or a leaf (scored)."""

    code: Annotated[str, Field(pattern=INDICATOR_CODE)]
    name_zh: Annotated[str, Field(min_length=1)]
    name_en: Annotated[str, Field(min_length=1)]
    points: Annotated[Decimal, Field(gt=0)]
    # published: name (and at levels 1–2 points) as the edition prints them; draft: named only by the
    # consultation draft; local: this office's own. `source` cites where a name or a number was read.
    basis: Literal["published", "draft", "local"]
    source: str | None = None
    description: str | None = None
    children: tuple[Indicator, ...] = ()
    # leaves only
    computable: bool | None = None
    # who gives the value of a leaf the warehouse cannot compute: the credit office, or the national
    # centre, which measures it itself (the office enters the platform's figure)
    measured_by: Literal["office", "national"] | None = None
    unit: Literal["ratio", "count"] | None = None
    direction: Literal["higher", "lower"] | None = None
    scoring: Scoring | None = None
    when_empty: Literal["full", "zero", "none"] = "full"
    measure: str | None = None

    @property
    def is_leaf(self) -> bool:
        return not self.children

    @property
    def source_of_value(self) -> str | None:
        """warehouse, office or national for a leaf; None for an inner indicator."""
        if self.children:
            return None
        return "warehouse" if self.computable else (self.measured_by or "office")


class EditionFile(Strict):
    edition: Annotated[str, Field(pattern=r"^\d{4}[a-z0-9_]*$")]
    name_zh: str
    name_en: str
    total_points: Annotated[Decimal, Field(gt=0)]
    indicators: Annotated[tuple[Indicator, ...], Field(min_length=1)]
    # scored like the others but outside total_points and never sent upward
    local_indicators: tuple[Indicator, ...] = ()


@dataclass(frozen=True)
class Node:
    """An indicator placed in its tree: position number (1.2.3), level and parent."""

    indicator: Indicator
    number: str
    level: int
    parent_code: str | None
    sort_order: int
    in_total: bool

    def __getattr__(self, name: str):
        return getattr(self.indicator, name)


@dataclass(frozen=True)
class Edition:
    """A validated edition: the file's content plus the flattened tree in file order."""

    code: str
    name_zh: str
    name_en: str
    total_points: Decimal
    path: Path
    nodes: tuple[Node, ...]

    @functools.cached_property
    def by_code(self) -> dict[str, Node]:
        return {n.code: n for n in self.nodes}

    @property
    def leaves(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_leaf)

    @property
    def computable_leaves(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_leaf and n.computable)

    @property
    def manual_leaves(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_leaf and not n.computable)

    def points_by_source(self) -> dict[str, Decimal]:
        """How the edition's total splits among who gives the values: warehouse, office, national."""
        split = {"warehouse": Decimal(0), "office": Decimal(0), "national": Decimal(0)}
        for leaf in self.leaves:
            if leaf.in_total:
                split[leaf.source_of_value] += leaf.points
        return split

    def node(self, code: str) -> Node:
        try:
            return self.by_code[code]
        except KeyError:
            raise UserError(f"指标 {code!r} 不在 {self.code} 版指标体系中 / Indicator {code!r} is not in the "
                            f"{self.code} edition (file {self.path.name}).") from None


def _fail(file_name: str, where: str, message: str) -> UserError:
    return UserError(f"Indicator catalog file {file_name}: field {where}: {message}. "
                     f"/ 指标目录文件 {file_name} 的 {where} 有误，请修改后重试。")


def _walk(nodes: tuple[Indicator, ...], path: str, number: str = "", level: int = 1,
          parent: str | None = None) -> Iterator[tuple[Indicator, str, str, int, str | None]]:
    for index, node in enumerate(nodes):
        here = f"{path}.{index}"
        position = f"{number}.{index + 1}" if number else str(index + 1)
        yield node, here, position, level, parent
        yield from _walk(node.children, f"{here}.children", position, level + 1, node.code)


def _tree(document: EditionFile) -> Iterator[tuple[Indicator, str, str, int, str | None, bool]]:
    """Every node with its place; local indicators are numbered L.1, L.1.1 … and are outside the total."""
    for node, where, number, level, parent in _walk(document.indicators, "indicators"):
        yield node, where, number, level, parent, True
    for node, where, number, level, parent in _walk(document.local_indicators, "local_indicators", "L"):
        yield node, where, number, level, parent, False


def check_measure(sql: str) -> str | None:
    """Why a measure cannot be run as one bound statement, or None when it can."""
    body = sql.strip().removesuffix(";").rstrip()
    if not body:
        return "is empty"
    if ";" in body:
        return "holds more than one statement (a ';' inside); a measure is one SELECT"
    if not re.match(r"(?is)^(with|select)\b", body):
        return "must be a single SELECT (or WITH ... SELECT)"
    if _BIND_THEN_CAST.search(body):
        return "writes :name::type, which the driver misreads; write CAST(:name AS type)"
    unknown = sorted(set(_BIND.findall(body)) - MEASURE_PARAMETERS)
    if unknown:
        return (f"uses unknown parameters {unknown}; known are {sorted(MEASURE_PARAMETERS)} "
                "(values are bound, never written into the SQL)")
    missing = [c for c in MEASURE_COLUMNS if not re.search(rf"\b{c}\b", body)]
    if missing:
        return f"must return the columns {', '.join(MEASURE_COLUMNS)}; {', '.join(missing)} not found"
    return None


def _check_leaf(node: Indicator, where: str, file_name: str) -> None:
    if node.computable is None:
        raise _fail(file_name, f"{where}.computable", "a leaf must say whether it is computable (true or false)")
    for name in ("unit", "direction", "scoring"):
        if getattr(node, name) is None:
            raise _fail(file_name, f"{where}.{name}", f"leaf {node.code} needs `{name}`")
    scoring = node.scoring
    if scoring.rule == "linear":
        if scoring.floor is None:
            raise _fail(file_name, f"{where}.scoring.floor", f"leaf {node.code}: a linear rule needs `floor`")
        if node.direction == "higher" and not scoring.target > scoring.floor:
            raise _fail(file_name, f"{where}.scoring.target",
                        f"leaf {node.code} is higher-is-better, so target must be above floor")
        if node.direction == "lower" and not scoring.target < scoring.floor:
            raise _fail(file_name, f"{where}.scoring.target",
                        f"leaf {node.code} is lower-is-better, so target must be below floor")
    if node.unit == "ratio":
        for name in ("target", "floor"):
            value = getattr(scoring, name)
            if value is not None and not 0 <= value <= 1:
                raise _fail(file_name, f"{where}.scoring.{name}", f"leaf {node.code} is a ratio; {name} must be 0–1")
    if node.computable and node.measured_by is not None:
        raise _fail(file_name, f"{where}.measured_by",
                    f"leaf {node.code} is computed by the warehouse, so nobody else measures it (drop measured_by)")
    if node.computable:
        if node.measure is None:
            raise _fail(file_name, f"{where}.measure", f"computable leaf {node.code} needs a SQL `measure`")
        problem = check_measure(node.measure)
        if problem:
            raise _fail(file_name, f"{where}.measure", f"the measure of {node.code} {problem}")
    elif node.measure is not None:
        raise _fail(file_name, f"{where}.measure",
                    f"leaf {node.code} is not computable, so it has no measure (set computable: true)")


def _check_tree(document: EditionFile, file_name: str) -> tuple[Node, ...]:
    """Rules pydantic cannot see node by node: sums, unique codes, what leaves and inner nodes carry."""
    top = sum((n.points for n in document.indicators), Decimal(0))
    if top != document.total_points:
        raise _fail(file_name, "total_points",
                    f"the level-1 indicators' points add up to {top}, not {document.total_points}")
    seen: dict[str, str] = {}
    nodes: list[Node] = []
    for order, (node, where, number, level, parent, in_total) in enumerate(_tree(document), 1):
        if not in_total and node.basis != "local":
            raise _fail(file_name, f"{where}.basis", f"{node.code} is a local indicator, so its basis is local")
        if in_total and level <= 2 and node.basis != "published":
            raise _fail(file_name, f"{where}.basis", f"{node.code} is a level-{level} indicator of the edition; "
                                                     f"those are published, with their points and a source")
        if node.basis != "local" and not node.source:
            raise _fail(file_name, f"{where}.source", f"{node.code} is {node.basis}: cite where it was read")
        if node.code in seen:
            raise _fail(file_name, f"{where}.code", f"code {node.code!r} is already used at {seen[node.code]}")
        seen[node.code] = where
        if node.children:
            total = sum((c.points for c in node.children), Decimal(0))
            if total != node.points:
                raise _fail(file_name, f"{where}.points",
                            f"{node.code} ({node.name_zh}) has {node.points} points but its children add up to "
                            f"{total}")
            leaf_fields = [name for name in ("computable", "measured_by", "unit", "direction", "scoring", "measure")
                           if getattr(node, name) is not None]
            if leaf_fields:
                raise _fail(file_name, f"{where}.{leaf_fields[0]}",
                            f"{node.code} has children, so it is scored by them and takes no `{leaf_fields[0]}`")
        else:
            _check_leaf(node, where, file_name)
        nodes.append(Node(node, number, level, parent, order, in_total))
    return tuple(nodes)


def _describe(error: ValidationError, file_name: str) -> UserError:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return _fail(file_name, where, first["msg"].removeprefix("Value error, "))


def load_edition(path: Path) -> Edition:
    """Read and validate one edition file; raises UserError naming the file and the field on a mistake."""
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"Indicator catalog file {path} is missing / 指标目录文件不存在; "
                        f"restore it from the repository.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"Indicator catalog file {path.name} is not valid YAML{where}: "
                        f"{getattr(exc, 'problem', exc)} / 指标目录文件不是有效的 YAML.") from None
    if not isinstance(raw, dict):
        raise UserError(f"Indicator catalog file {path.name} must hold a mapping at the top level "
                        f"/ 指标目录文件顶层必须是映射.")
    try:
        document = EditionFile.model_validate(raw)
    except ValidationError as exc:
        raise _describe(exc, path.name) from None
    match = EDITION_FILE.match(path.name)
    if not match or match.group(1) != document.edition:
        raise _fail(path.name, "edition", f"edition {document.edition!r} must match the file name "
                                          f"({document.edition}.yml)")
    return Edition(code=document.edition, name_zh=document.name_zh, name_en=document.name_en,
                   total_points=document.total_points, path=path, nodes=_check_tree(document, path.name))


def editions_dir() -> Path:
    """Edition files live in the catalog folder in use (CREDITWH_CATALOG_DIR or the project's own)."""
    return config.settings().catalog_dir / "indicators"


def editions(directory: Path | None = None) -> list[str]:
    """The editions on file, oldest first (e.g. ["2020"])."""
    directory = directory or editions_dir()
    return sorted(m.group(1) for p in directory.glob("*.yml") if (m := EDITION_FILE.match(p.name)))


@functools.cache
def _cached(path: Path, mtime_ns: int) -> Edition:
    return load_edition(path)


def edition(code: str = "2020", directory: Path | None = None) -> Edition:
    """One edition by its code, validated (loaded once per process while the file is unchanged)."""
    directory = directory or editions_dir()
    path = directory / f"{code}.yml"
    if not EDITION_FILE.match(path.name) or not path.is_file():
        known = ", ".join(editions(directory)) or "none"
        raise UserError(f"没有 {code!r} 版指标体系 / There is no indicator edition {code!r} "
                        f"(on file: {known}; each is {directory}/<edition>.yml).")
    return _cached(path, path.stat().st_mtime_ns)
