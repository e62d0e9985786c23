"""`generate()`: a reproducible synthetic data set of every department's sources plus a manifest.

Output layout under out_dir:
    files/<department>/<feed>_<YYYYMMDD>.csv|xlsx     file feeds, 1-3 deliveries each, each with a .ok flag
    files/credit_office/indicator_items_<YYYYMMDD>.csv the credit office's monitoring items, with a .ok flag
    api/<department>/<feed>/page-0001.json ...          API feeds, paged as the department serves them
    sql/<department>.sqlite                             SQL front databases (or databases behind --sql-url)
    manifest.json                                       parameters, sources, row counts and seeded defects
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from etl.catalog import Catalog, catalog
from etl.errors import UserError
from simulators.generate.defects import Defect, FeedDefects
from simulators.generate.records import (
    MIN_ROWS_PER_FEED,
    DateSampler,
    FeedBuilder,
    FeedPlan,
    allocate,
    plan_volumes,
    updated_at_values,
)
from simulators.generate.subjects import SubjectPool
from simulators.generate.writers import (
    SqlTarget,
    column_names,
    open_sqlite,
    write_api_pages,
    write_csv,
    write_sqlite_table,
    write_xlsx,
)

MANIFEST = "manifest.json"
MAX_DEFECT_RATE = 0.5
MIN_SUBJECTS = 50
MAX_FILES_PER_FEED = 3
XLSX_MAX_DATA_ROWS = 1_000_000
MIN_AS_OF, MAX_AS_OF = dt.date(2010, 1, 1), dt.date(2090, 12, 31)
# What a previous run may have left behind, and nothing else is ever deleted.
_OUTPUT_GLOBS = ("files/*/*.csv", "files/*/*.xlsx", "files/*/*.ok", "api/*/*/page-*.json", "sql/*.sqlite",
                 "sql/*.sqlite-journal")


@dataclass
class GenerationSummary:
    """What generate() wrote: rows per feed ("department/feed"), defects per rule, sources, timing."""

    out_dir: Path
    manifest_path: Path
    total_rows: int
    rows_by_feed: dict[str, int] = field(default_factory=dict)
    defects_by_rule: dict[str, int] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_defects(self) -> int:
        return sum(self.defects_by_rule.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds else 0.0

    def describe(self) -> str:
        """A few lines for the command line."""
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(self.defects_by_rule.items()))
        return (f"Generated {self.total_rows:,} rows in {len(self.rows_by_feed)} feeds "
                f"({len(self.sources)} sources) under {self.out_dir} in {self.seconds:.1f} s "
                f"({self.rows_per_second:,.0f} rows/s).\n"
                f"Seeded defects: {self.total_defects:,}" + (f" ({rules})" if rules else "") + ".\n"
                f"Manifest: {self.manifest_path}")  # fmt: skip


def generate(
    out_dir: Path,
    records: int,
    seed: int,
    defect_rate: float,
    as_of: dt.date,
    sql_url: str | None = None,
    progress: bool = False,
) -> GenerationSummary:
    """Write every department's sources for (seed, records, defect_rate, as_of), byte-identical on rerun."""
    started = time.perf_counter()
    cat = catalog()
    out_dir = Path(out_dir)
    as_of = _check_arguments(cat, out_dir, records, seed, defect_rate, as_of, sql_url)
    sql_target = SqlTarget(sql_url) if sql_url else None
    if sql_target is not None:
        _check_sql_url(sql_target)
    _clear_previous_output(out_dir)
    (out_dir / MANIFEST).write_text(json.dumps({"incomplete": True}) + "\n", encoding="utf-8")

    plans = plan_volumes(cat, records, seed)
    pool = SubjectPool(seed, max(MIN_SUBJECTS, records // 4), cat.county.name_zh, cat.county.division_code, as_of)
    sampler = DateSampler(as_of)
    total_defects = math.floor(defect_rate * records + 0.5)
    defect_counts = allocate(total_defects, [p.rows for p in plans], [0] * len(plans)) if plans else []
    timestamp = dt.datetime.combine(as_of, dt.time(18, 0))

    feeds_out: list[dict] = []
    defects_out: list[dict] = []
    summary = GenerationSummary(out_dir=out_dir, manifest_path=out_dir / MANIFEST, total_rows=0)
    sqlite_connections = {}
    bar = _progress_bar(records, progress)
    try:
        for plan, defect_count in zip(plans, defect_counts, strict=True):
            dept, feed, rt = plan.department, plan.feed, plan.record_type
            key = f"{dept.code}:{feed.code}"
            builder = FeedBuilder(plan, pool, sampler, as_of, cat.county.name_zh, cat.county.division_code,
                                  random.Random(f"{seed}:rows:{key}"))  # fmt: skip
            file_days = _file_days(plan, as_of, random.Random(f"{seed}:files:{key}"))
            rows, days = builder.build(file_days[0] if file_days else as_of)
            sources, bounds = _sources(plan, file_days, random.Random(f"{seed}:split:{key}"), sql_target)
            defects = FeedDefects(rt, as_of, random.Random(f"{seed}:defects:{key}")).apply(
                rows, min(defect_count, len(rows)), [b[0] for b in bounds]
            )
            updated_at = updated_at_values(random.Random(f"{seed}:updated:{key}"), days, as_of)
            _write_feed(out_dir, plan, rows, updated_at, sources, bounds, timestamp, sqlite_connections, sql_target)

            feeds_out.append({"department": dept.code, "feed": feed.code, "record_type": rt.code,
                              "transport": feed.transport, "sources": [s for s, _ in sources],
                              "rows": len(rows)})  # fmt: skip
            defects_out.extend(_describe_defects(plan, defects, sources, bounds))
            summary.rows_by_feed[f"{dept.code}/{feed.code}"] = len(rows)
            summary.total_rows += len(rows)
            summary.sources.extend(s for s, _ in sources)
            for d in defects:
                summary.defects_by_rule[d.rule] = summary.defects_by_rule.get(d.rule, 0) + 1
            bar.update(len(rows))
    finally:
        bar.close()
        for connection in sqlite_connections.values():
            connection.close()
        if sql_target is not None:
            sql_target.close()

    office_items, office_rows = _write_office_items(out_dir, cat, as_of, random.Random(f"{seed}:office_items"))
    summary.sources.append(office_items)
    defects_out.sort(key=lambda d: (d["department"], d["feed"], d["source"], d["row"], d["field"], d["rule"]))
    manifest = {
        "seed": seed,
        "records": records,
        "defect_rate": float(defect_rate),
        "as_of": as_of.isoformat(),
        "county": {"name_zh": cat.county.name_zh, "division_code": cat.county.division_code},
        "feeds": feeds_out,
        "defects": defects_out,
        # the credit office's monitoring items (not a department's feed: etl/catalog/indicator_items.yml)
        "office_items": {"sources": [office_items], "rows": office_rows},
    }
    (out_dir / MANIFEST).write_text(_manifest_text(manifest), encoding="utf-8")
    summary.seconds = time.perf_counter() - started
    return summary


def _manifest_text(manifest: dict) -> str:
    """Indented JSON, except that each defect takes one line (there can be hundreds of thousands)."""
    head = json.dumps({k: v for k, v in manifest.items() if k != "defects"}, ensure_ascii=False, indent=1)
    defects = ",\n".join("  " + json.dumps(d, ensure_ascii=False) for d in manifest["defects"])
    return head[:-2] + ',\n "defects": [' + (f"\n{defects}\n ]" if defects else "]") + "\n}\n"


# -- arguments and output directory -------------------------------------------------------------------


def _check_arguments(cat: Catalog, out_dir: Path, records, seed, defect_rate, as_of, sql_url) -> dt.date:
    feeds = len(cat.feeds())
    minimum = MIN_ROWS_PER_FEED * feeds
    if isinstance(records, bool) or not isinstance(records, int) or records < minimum:
        raise UserError(f"--records 须为不小于 {minimum} 的整数（{feeds} 个数据源每个 {MIN_ROWS_PER_FEED} 行），"
                        f"收到 {records!r}，请增加记录数 / "
                        f"--records must be a whole number of at least {minimum} ({MIN_ROWS_PER_FEED} rows for "
                        f"each of the {feeds} feeds), got {records!r}; ask for more records.")  # fmt: skip
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserError(f"--seed 须为整数，收到 {seed!r} / --seed must be a whole number, got {seed!r}.")
    if (isinstance(defect_rate, bool) or not isinstance(defect_rate, int | float)
            or not 0 <= defect_rate <= MAX_DEFECT_RATE):  # fmt: skip
        raise UserError(f"--defect-rate 须为 0 与 {MAX_DEFECT_RATE} 之间的比例，收到 {defect_rate!r} / "
                        f"--defect-rate must be a fraction between 0 and {MAX_DEFECT_RATE}, got {defect_rate!r}.")
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    # Five years of history before as_of must stay inside the warehouse calendar (from 2000), and
    # long-term licences (2099-12-31) must still lie ahead of it.
    if not isinstance(as_of, dt.date) or not MIN_AS_OF <= as_of <= MAX_AS_OF:
        raise UserError(f"--as-of 须为 {MIN_AS_OF} 至 {MAX_AS_OF} 之间的日期，收到 {as_of!r} / "
                        f"--as-of must be a date between {MIN_AS_OF} and {MAX_AS_OF}, got {as_of!r}.")
    if sql_url is not None and "{department}" not in sql_url:
        raise UserError("--sql-url 须包含占位符 {department}（每个部门一个前置库），"
                        "如 mysql+pymysql://root@127.0.0.1:3306/front_{department} / "
                        "--sql-url must contain the placeholder {department} (one front database per "
                        "department), e.g. mysql+pymysql://root@127.0.0.1:3306/front_{department}.")  # fmt: skip
    if out_dir.exists():
        if not out_dir.is_dir():
            raise UserError(f"--out {out_dir} 是文件，请给出空目录或存放上次数据集的目录 / "
                            f"--out {out_dir} is a file; give a directory that is empty or holds a previous data set.")
        if any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
            raise UserError(f"--out {out_dir} 不是空目录，且没有上次运行留下的 {MANIFEST}，请选择空目录或新目录 / "
                            f"--out {out_dir} is not empty and holds no {MANIFEST} from a previous run; "
                            "choose an empty or new directory.")  # fmt: skip
    return as_of


def _check_sql_url(target: SqlTarget) -> None:
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        target.url("probe")
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise UserError(f"--sql-url 不是可用的 SQLAlchemy URL（{exc}），"
                        "请写成 mysql+pymysql://user@host:3306/front_{department} 的形式 / "
                        f"--sql-url is not a usable SQLAlchemy URL ({exc}); "
                        "write it like mysql+pymysql://user@host:3306/front_{department}.") from None  # fmt: skip


# The kinds the office reports by hand (indicator_items.yml); rating results are made by the warehouse.
_OFFICE_ITEMS = {
    "信用政策法规": ["关于进一步完善失信约束制度构建诚信建设长效机制的实施意见", "信用修复工作规程（试行）",
                     "关于推进信用承诺制度的通知"],
    "信用动态": ["我县召开社会信用体系建设工作推进会", "县市场监管局开展信用风险分类监管培训",
                 "“信易贷”平台本月新增授信企业"],
    "风险提示信息": ["关于防范以“信用修复”名义收费的风险提示", "警惕冒用政府部门名义的信用评级诈骗"],
    "联合惩戒案例": ["多部门联合惩戒失信被执行人典型案例", "对拒不履行生效判决企业实施联合惩戒"],
}


def _write_office_items(out_dir: Path, cat: Catalog, as_of: dt.date, rng: random.Random) -> tuple[str, int]:
    """The credit office's monthly file of monitoring items, as a clerk saves it from Excel (GB18030)."""
    folder = out_dir / "files" / "credit_office"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"indicator_items_{as_of:%Y%m%d}.csv"
    departments = [d.name_zh for d in cat.departments]
    rows = []
    for kind, titles in _OFFICE_ITEMS.items():
        for title in titles:
            day = as_of.replace(day=1) + dt.timedelta(days=rng.randrange(max(1, as_of.day)))
            department = "信用办" if kind != "信用动态" else rng.choice(departments)
            rows.append({"类型": kind, "日期": f"{day.year}年{day.month}月{day.day}日", "部门": department,
                         "标题": title, "内容": f"{title}。（摘要）", "链接": ""})
    header = ["类型", "日期", "部门", "标题", "内容", "链接"]
    write_csv(folder / name, "gb18030", header, header, rows)
    (folder / f"{name}.ok").write_bytes(b"")
    return f"files/credit_office/{name}", len(rows)


def _clear_previous_output(out_dir: Path) -> None:
    """Delete what a previous run wrote (known file patterns only) and prune the emptied folders."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if not (out_dir / MANIFEST).is_file():
        return
    for pattern in _OUTPUT_GLOBS:
        for path in out_dir.glob(pattern):
            if path.is_file():
                path.unlink()
    for top in ("api", "files", "sql"):
        root = out_dir / top
        if root.is_dir():
            for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                if not any(folder.iterdir()):
                    folder.rmdir()
            if not any(root.iterdir()):
                root.rmdir()


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="rows", unit_scale=True, desc="generate")


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


# -- sources -----------------------------------------------------------------------------------------


def _file_days(plan: FeedPlan, as_of: dt.date, rng: random.Random) -> list[dt.date]:
    """Delivery dates of a file feed: 1-3 consecutive days ending at as_of (empty for API/SQL feeds)."""
    if plan.feed.transport != "file":
        return []
    count = rng.randint(1, min(MAX_FILES_PER_FEED, plan.rows))
    if plan.feed.file.format == "xlsx":  # a worksheet holds at most 1,048,576 rows
        count = max(count, -(-plan.rows // XLSX_MAX_DATA_ROWS))
    return [as_of - dt.timedelta(days=count - 1 - k) for k in range(count)]


def _file_name(plan: FeedPlan, day: dt.date) -> str:
    settings = plan.feed.file
    stamp = f"{day:%Y%m%d}"
    pattern = settings.pattern
    if pattern.count("*") == 1 and not any(c in pattern for c in "?[]/\\"):
        return pattern.replace("*", stamp)
    return f"{plan.feed.code}_{stamp}.{settings.format}"


def _sources(plan: FeedPlan, file_days: list[dt.date], rng: random.Random,
             sql_target: SqlTarget | None) -> tuple[list[tuple[str, int]], list[tuple[int, str]]]:  # fmt: skip
    """The feed's sources as (name, row count), and for every row (first row index of its source, source)."""
    dept, feed = plan.department, plan.feed
    if feed.transport == "file":
        weights = [rng.uniform(0.5, 1.5) for _ in file_days]
        counts = allocate(plan.rows, weights, [1] * len(file_days))
        sources = [(f"files/{dept.code}/{_file_name(plan, day)}", n) for day, n in zip(file_days, counts, strict=True)]
    elif feed.transport == "api":
        sources = [(f"api/{dept.code}/{feed.code}", plan.rows)]
    elif sql_target is not None:
        sources = [(f"{sql_target.redacted(dept.code)}#{feed.sql.table}", plan.rows)]
    else:
        sources = [(f"sql/{dept.code}.sqlite#{feed.sql.table}", plan.rows)]
    bounds: list[tuple[int, str]] = []
    start = 0
    for name, n in sources:
        bounds.extend([(start, name)] * n)
        start += n
    return sources, bounds


def _describe_defects(plan: FeedPlan, defects: list[Defect], sources, bounds) -> list[dict]:
    out = []
    for d in defects:
        start, source = bounds[d.index]
        out.append({"department": plan.department.code, "feed": plan.feed.code, "source": source,
                    "row": d.index - start + 1, "field": d.field, "rule": d.rule, "outcome": d.outcome,
                    "kind": d.kind})  # fmt: skip
    return out


def _write_feed(out_dir: Path, plan: FeedPlan, rows: list[dict], updated_at: list[str], sources, bounds,
                timestamp: dt.datetime, sqlite_connections: dict, sql_target: SqlTarget | None) -> None:  # fmt: skip
    dept, feed, rt = plan.department, plan.feed, plan.record_type
    codes = [f.code for f in rt.fields]
    columns = column_names(feed, rt, feed.transport)
    if feed.transport == "file":
        start = 0
        for name, n in sources:
            chunk = rows[start : start + n]
            start += n
            if feed.file.format == "csv":
                write_csv(out_dir / name, feed.file.encoding, columns, codes, chunk)
            else:
                write_xlsx(out_dir / name, rt.name_zh, columns, rt, chunk, timestamp)
            # The completion flag departments write once a delivery is whole (an empty <name>.ok): the file
            # connector takes a flagged file at once instead of waiting for it to settle.
            (out_dir / f"{name}.ok").write_bytes(b"")
    elif feed.transport == "api":
        write_api_pages(out_dir / sources[0][0], feed.api.page_size, columns, codes, rows, updated_at)
    elif sql_target is not None:
        try:
            sql_target.write_table(dept.code, feed.sql.table, columns, codes, rows, updated_at)
        except Exception as exc:
            from sqlalchemy.exc import DBAPIError

            if isinstance(exc, DBAPIError):
                where = sql_target.redacted(dept.code)
                raise UserError(
                    f"无法写入前置库 {where}（{exc.orig}），请检查服务器是否运行、--sql-url 是否正确 / "
                    f"Cannot write the front database {where}: {exc.orig}; "
                    "check that the server runs and --sql-url is right."
                ) from None
            raise
    else:
        connection = sqlite_connections.get(dept.code)
        if connection is None:
            connection = sqlite_connections[dept.code] = open_sqlite(out_dir / "sql" / f"{dept.code}.sqlite")
        with connection:
            write_sqlite_table(connection, feed.sql.table, columns, codes, rows, updated_at)
