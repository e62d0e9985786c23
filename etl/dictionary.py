"""Data dictionary (数据字典): docs/data_dictionary.md, generated from the warehouse's own COMMENT ON text.

The migrations comment every schema, table, view, column and function in Chinese and English; this
module reads those comments back from the catalogs (pg_description through obj_description and
col_description) with each column's type, and writes them as one Markdown page grouped by schema, so
BI users and reviewers read the same descriptions the BI tools show.

    python -m etl.dictionary            # (re)write docs/data_dictionary.md from a freshly migrated database
    python -m etl.dictionary --check    # exit 1 when docs/data_dictionary.md is stale

The database is a temporary one, migrated and dropped again, on the server of WAREHOUSE_URL when set
(its role needs CREATEDB), otherwise on the embedded server; the page therefore shows exactly what the
migrations create, whatever a working warehouse has gained since.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from etl import config

DICTIONARY_FILE = config.PROJECT_ROOT / "docs" / "data_dictionary.md"
REGENERATE = "python -m etl.dictionary"
# In data-flow order (DESIGN.md); public and the system schemas are not part of the warehouse.
SCHEMAS = ("staging", "dw", "audit", "outbox", "mart", "pii")
KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view"}
KIND_ZH = {"table": "表", "partitioned table": "分区表", "view": "视图", "materialized view": "物化视图"}
NO_COMMENT = "（无说明 / no comment）"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool
    comment: str | None


@dataclass(frozen=True)
class Relation:
    name: str
    kind: str
    comment: str | None
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Function:
    name: str
    arguments: str
    returns: str
    comment: str | None


@dataclass(frozen=True)
class Schema:
    name: str
    comment: str | None
    relations: tuple[Relation, ...]
    functions: tuple[Function, ...]


def read_catalog(conn: Connection, schemas: Sequence[str] = SCHEMAS) -> list[Schema]:
    """Schemas, their tables, views and functions with columns, types and comments, in a stable order."""
    params = {"schemas": list(schemas)}
    schema_comments = dict(conn.execute(sa.text("""
        SELECT n.nspname, obj_description(n.oid, 'pg_namespace')
          FROM pg_namespace n WHERE n.nspname = ANY(:schemas)
    """), params).all())
    relation_rows = conn.execute(sa.text("""
        SELECT n.nspname AS schema_name, c.relname AS name, c.relkind AS kind,
               obj_description(c.oid, 'pg_class') AS comment
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
    """), params).all()
    column_rows = conn.execute(sa.text("""
        SELECT n.nspname AS schema_name, c.relname AS relation, a.attname AS name,
               format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
               col_description(c.oid, a.attnum) AS comment
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
         ORDER BY n.nspname, c.relname, a.attnum
    """), params).all()
    function_rows = conn.execute(sa.text("""
        SELECT n.nspname AS schema_name, p.proname AS name,
               pg_get_function_identity_arguments(p.oid) AS arguments,
               pg_get_function_result(p.oid) AS returns, obj_description(p.oid, 'pg_proc') AS comment
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = ANY(:schemas) AND p.prokind IN ('f', 'p')
    """), params).all()

    columns: dict[tuple[str, str], list[Column]] = {}
    for row in column_rows:
        columns.setdefault((row.schema_name, row.relation), []).append(
            Column(row.name, row.type, row.not_null, row.comment))
    result = []
    for schema in schemas:
        if schema not in schema_comments:
            continue
        relations = sorted(
            (Relation(r.name, KINDS[r.kind], r.comment, tuple(columns.get((schema, r.name), ())))
             for r in relation_rows if r.schema_name == schema),
            key=lambda r: (list(KINDS.values()).index(r.kind), r.name))
        functions = sorted(
            (Function(f.name, f.arguments, f.returns, f.comment) for f in function_rows if f.schema_name == schema),
            key=lambda f: (f.name, f.arguments))
        result.append(Schema(schema, schema_comments[schema], tuple(relations), tuple(functions)))
    return result


def _cell(text: str | None) -> str:
    """Text fit for one Markdown table cell."""
    if not text:
        return NO_COMMENT
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")


def _anchor(schema: str, name: str) -> str:
    return f"{schema}-{name}".replace("_", "-").lower()


def format_dictionary(schemas: Iterable[Schema]) -> str:
    """The Markdown page for the given catalog contents (deterministic: same input, same bytes)."""
    schemas = list(schemas)
    lines = [
        "# 数据字典 / Data dictionary",
        "",
        f"<!-- Generated by `{REGENERATE}` from the COMMENT ON text of a freshly migrated warehouse. "
        f"Do not edit by hand: change the comment in a new migration under warehouse_sql/ and regenerate. -->",
        "",
        "每个模式、表、视图、列和函数的说明均取自数据库中的 COMMENT（中文 / English），与 BI 工具显示的说明一致。"
        "BI 用户（角色 bi_reader）只能查询 `mart` 模式中的视图，其中身份证号等证件号码均已脱敏。",
        "",
        "Every description below is the object's COMMENT in the warehouse, as BI tools show it. BI users "
        "(role `bi_reader`) can read only the views of schema `mart`, where ID numbers are masked. "
        "The per-record-type staging tables (`staging.<record_type>` and `staging.<record_type>_clean`) are "
        "created from the catalog (`etl/catalog/record_types.yml`) by `creditwh init`, not by the migrations, "
        "and are not listed here.",
        "",
        "| 模式 schema | 说明 description | 表 tables | 视图 views | 函数 functions |",
        "|---|---|---|---|---|",
    ]
    for schema in schemas:
        tables = sum(1 for r in schema.relations if "view" not in r.kind)
        views = len(schema.relations) - tables
        lines.append(f"| [`{schema.name}`](#schema-{schema.name}) | {_cell(schema.comment)} | {tables} | {views} | "
                     f"{len(schema.functions)} |")
    for schema in schemas:
        lines += ["", f"## 模式 schema `{schema.name}` <a id=\"schema-{schema.name}\"></a>", "",
                  _cell(schema.comment)]
        if schema.relations:
            lines += ["", "| 名称 name | 类型 kind | 说明 description |", "|---|---|---|"]
            lines += [f"| [`{schema.name}.{r.name}`](#{_anchor(schema.name, r.name)}) | {KIND_ZH[r.kind]} {r.kind} | "
                      f"{_cell(r.comment)} |" for r in schema.relations]
        for relation in schema.relations:
            lines += ["", f"### {KIND_ZH[relation.kind]} {relation.kind} `{schema.name}.{relation.name}` "
                          f"<a id=\"{_anchor(schema.name, relation.name)}\"></a>",
                      "", _cell(relation.comment), ""]
            if "view" in relation.kind:
                lines += ["| 列 column | 类型 type | 说明 description |", "|---|---|---|"]
                lines += [f"| `{c.name}` | {c.type} | {_cell(c.comment)} |" for c in relation.columns]
            else:
                lines += ["| 列 column | 类型 type | 非空 not null | 说明 description |", "|---|---|---|---|"]
                lines += [f"| `{c.name}` | {c.type} | {'是 yes' if c.not_null else ''} | {_cell(c.comment)} |"
                          for c in relation.columns]
        if schema.functions:
            lines += ["", f"### 函数 functions in `{schema.name}`", "",
                      "| 函数 function | 返回 returns | 说明 description |", "|---|---|---|"]
            lines += [f"| `{schema.name}.{f.name}({f.arguments})` | {_cell(f.returns)} | {_cell(f.comment)} |"
                      for f in schema.functions]
    return "\n".join(lines) + "\n"


def render_dictionary(engine: Engine) -> str:
    """The data dictionary of the database behind `engine`, as Markdown."""
    with engine.connect() as conn:
        return format_dictionary(read_catalog(conn))


def render_from_fresh_database(admin_url: str) -> str:
    """Create a database on the server of `admin_url`, migrate it, render its dictionary, drop it."""
    from etl.migrate import migrate

    name = f"cw_dictionary_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine = sa.create_engine(make_url(admin_url).set(database=name))
        try:
            migrate(engine)
            return render_dictionary(engine)
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _admin_url() -> str:
    """The maintenance database of WAREHOUSE_URL's server, or of the embedded server (started if needed)."""
    from etl.warehouse import embedded_server, normalise_url

    external = config.settings().warehouse_url
    if external:
        return make_url(normalise_url(external)).set(database="postgres").render_as_string(hide_password=False)
    server = embedded_server()
    server.start()
    return server.url("postgres")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl.dictionary", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DICTIONARY_FILE, help="where to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the file is stale")
    args = parser.parse_args(argv)
    from etl.errors import UserError

    try:
        text = render_from_fresh_database(_admin_url())
    except UserError as exc:
        print(exc, file=sys.stderr)
        return 2
    current = args.out.read_text(encoding="utf-8") if args.out.exists() else None
    if args.check:
        if current != text:
            print(f"{args.out} is stale; regenerate it with `{REGENERATE}`.", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date.")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"{'unchanged' if current == text else 'wrote'} {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
