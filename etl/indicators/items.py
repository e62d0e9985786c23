"""Monitoring items: what the city reports to the national monitoring platform besides the monthly figures.

The seed city reported credit policy documents, credit news, risk alerts, tiered-supervision rating results
and joint-punishment cases (etl/catalog/indicator_items.yml cites the counts). The warehouse makes the items
it holds the records for (rating results, from credit_rating facts); the credit office drops a file of the
others in its own folder of the drop directory. Each version of an item is delivered once: the delivery's
key depends on the item and its content, and a replay after a crash is recognised by the platform.

A file is taken whole or not at all: a row the office got wrong (an unknown type, a date that is not one,
a department nobody knows) refuses the file with every wrong row named, so the office fixes it and drops it
again; nothing is half-loaded and `rows_in = rows_loaded + rows_unchanged + rows_rejected` holds per file.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl import config
from etl.catalog import parse_yaml
from etl.config import CHINA
from etl.extract.file import DropChanged, DropFolder, DropRefused, open_dropped
from etl.personal import mask_text
from etl.stage import UnreadableSource, _bad_text, read_table

ITEMS_PATH = "/api/v1/indicator-items"
SEND_CHUNK = 200
EARLIEST = dt.date(2000, 1, 1)
# "(必填)", "*": a template's marks on a header, not part of its name
REQUIRED_MARK = re.compile(r"[（(]\s*(必填|选填|必须)\s*[）)]|[*＊]")


@dataclass(frozen=True)
class ItemCatalog:
    folder: str
    file_patterns: tuple[str, ...]
    office_department: str
    columns: dict[str, tuple[str, ...]]  # column code -> accepted header spellings (normalised)
    optional: frozenset[str]
    ignored: frozenset[str]  # headers read past (a spreadsheet's row number)
    column_names: str
    type_by_label: dict[str, str]  # normalised label or code -> type code
    type_names: dict[str, str]
    warehouse_types: dict[str, str]  # type code -> record type it is made from


def _key(text: str) -> str:
    """A header or a label as compared: full-width folded, spaces and case ignored."""
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


@functools.cache
def item_catalog(path: Path | None = None) -> ItemCatalog:
    path = path or config.settings().catalog_dir / "indicator_items.yml"
    raw = parse_yaml(path.read_text(encoding="utf-8"))
    columns = {c["code"]: tuple(_key(s) for s in (c["code"], c["name_zh"], *c.get("aliases", ())))
               for c in raw["columns"]}
    labels = {}
    for t in raw["types"]:
        for spelling in (t["code"], t["name_zh"], *t.get("labels", ())):
            labels[_key(spelling)] = t["code"]
    return ItemCatalog(
        folder=raw["folder"], file_patterns=tuple(raw["file_patterns"]), office_department=raw["office_department"],
        columns=columns, optional=frozenset(c["code"] for c in raw["columns"] if c.get("optional")),
        ignored=frozenset(_key(h) for h in raw.get("ignored_columns", ())),
        column_names="、".join(c["name_zh"] for c in raw["columns"]),
        type_by_label=labels, type_names={t["code"]: t["name_zh"] for t in raw["types"]},
        warehouse_types={t["code"]: t["record_type"] for t in raw["types"] if t.get("record_type")})


@dataclass
class ItemFileOutcome:
    """What became of one file in the office's folder."""

    file_name: str
    status: str  # loaded | already_loaded | refused | waiting
    rows_in: int = 0
    rows_loaded: int = 0
    rows_unchanged: int = 0
    rows_rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> str:
        head = {"loaded": "已入库 loaded", "already_loaded": "已读取过 already read", "refused": "未入库 refused",
                "waiting": "等待 waiting"}[self.status]
        counts = (f"：{self.rows_in} 行，新增或变更 {self.rows_loaded}，未变 {self.rows_unchanged}，"
                  f"拒收 {self.rows_rejected} / {self.rows_in} rows, {self.rows_loaded} new or changed, "
                  f"{self.rows_unchanged} unchanged, {self.rows_rejected} refused") if self.rows_in else ""
        lines = [f"监测条目 monitoring items {mask_text(self.file_name)} {head}{counts}"]
        lines += [f"  {mask_text(reason)}" for reason in self.reasons]
        return "\n".join(lines)


def _office_folder(drop_dir: Path, settle_seconds: float, items: ItemCatalog) -> DropFolder:
    # The office's folder is looked at exactly as a department's: no link followed, nothing half-written.
    feeds = [SimpleNamespace(code=f"indicator_items_{i}", transport="file",
                             file=SimpleNamespace(pattern=p, format="xlsx" if p.endswith(".xlsx") else "csv"))
             for i, p in enumerate(items.file_patterns)]
    return DropFolder(drop_dir, SimpleNamespace(code=items.folder, feeds=feeds), settle_seconds)


def take_office_items(engine: Engine, drop_dir: Path | None = None,
                      settle_seconds: float | None = None) -> list[ItemFileOutcome]:
    """Read every complete file in the office's folder that has not been read before; one outcome per entry."""
    items = item_catalog()
    drop_dir = Path(drop_dir or config.settings().drop_dir)
    settle = config.settings().file_settle_seconds if settle_seconds is None else settle_seconds
    folder = _office_folder(drop_dir, settle, items)
    scan = folder.scan()
    outcomes = [ItemFileOutcome(n.name, "waiting" if n.kind == "waiting" else "refused",
                                reasons=[n.reason]) for n in scan.notices]
    for ready in scan.ready.values():
        for name, signature in ready:
            outcomes.append(_take_file(engine, items, folder.path / name, signature))
    return outcomes


def _take_file(engine: Engine, items: ItemCatalog, path: Path, signature) -> ItemFileOutcome:  # noqa: ANN001
    try:
        with open_dropped(path, signature) as reader:
            data = reader.read()
    except DropRefused as exc:
        return ItemFileOutcome(path.name, "refused", reasons=[f"{exc.reason_zh} / {exc.reason_en}"])
    except DropChanged:
        return ItemFileOutcome(path.name, "waiting", reasons=["文件在读取时发生变化，下次再读 / the file changed "
                                                              "while it was read; it is read again next time"])
    sha256 = hashlib.sha256(data).hexdigest()
    earlier = _earlier(engine, path.name, sha256)
    if earlier is not None:
        return earlier
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / f"items{path.suffix.casefold()}"
        copy.write_bytes(data)
        try:
            table = read_table(copy)
        except UnreadableSource as exc:
            return _record(engine, path.name, sha256, [], [f"{exc.reason_zh} / {exc.reason_en}"], rows_in=0)
    rows, problems, rows_in = _rows(items, table, _departments(engine), lambda texts: _read_dates(engine, texts))
    return _record(engine, path.name, sha256, rows, problems, rows_in=rows_in)


def _earlier(engine: Engine, name: str, sha256: str) -> ItemFileOutcome | None:
    """The same bytes read before: loaded (nothing to do), or refused (said again, until the file goes)."""
    with engine.connect() as conn:
        seen = conn.execute(sa.text("SELECT status, rows_in, rows_rejected, reasons FROM audit.indicator_item_file "
                                    "WHERE sha256 = :s"), {"s": sha256}).first()
    if seen is None:
        return None
    if seen.status == "loaded":
        return ItemFileOutcome(name, "already_loaded")
    return ItemFileOutcome(name, "refused", rows_in=seen.rows_in, rows_rejected=seen.rows_rejected,
                           reasons=["此前已拒收相同内容的文件，原因如下 / the same bytes were refused before:",
                                    *seen.reasons, "请改正后重新投放 / correct the file and drop it again"])


def _departments(engine: Engine) -> dict[str, str]:
    """Spellings of a department (code and name) -> its code; 信用办 is the department hosting the office."""
    with engine.connect() as conn:
        known = conn.execute(sa.text("SELECT department_code, name_zh FROM dw.dim_department")).all()
    office = item_catalog().office_department
    spellings = {_key("信用办"): office, _key("社会信用体系建设领导小组办公室"): office}
    for code, name in known:
        spellings[_key(code)] = code
        spellings[_key(name)] = code
    return spellings


def _header_columns(items: ItemCatalog, header: list[str]) -> tuple[dict[str, int], list[str]]:
    found: dict[str, int] = {}
    problems = []
    for index, text in enumerate(header):
        key = _key(REQUIRED_MARK.sub("", text))
        if key in items.ignored:
            continue  # a spreadsheet's row number
        code = next((c for c, spellings in items.columns.items() if key in spellings), None)
        if code is None:
            problems.append(f"表头“{text}”不是监测条目的列（应为 {items.column_names}）/ the header {text!r} is not a "
                            f"column of monitoring items")
        elif code in found:
            first = header[found[code]]
            problems.append(f"列“{text}”与列“{first}”是同一列 / the columns {first!r} and {text!r} are the same column")
        else:
            found[code] = index
    for code in items.columns:
        if code not in found and code not in items.optional:
            problems.append(f"缺少“{items.columns[code][1]}”列 / the column {code} is missing")
    return found, problems


def _read_dates(engine: Engine, texts: list[str]) -> dict[str, dt.date | None]:
    """The dates a file's cells write, read as a department's are (dw.parse_cn_date: 2026-11-30, 2026/11/30,
    2026年11月30日, an Excel serial, epoch milliseconds), in one statement per file. A cell holding what
    PostgreSQL text cannot (NUL, undecodable bytes) is left out: its row is refused for that already."""
    texts = [t for t in texts if not _bad_text([t])]
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT t, dw.parse_cn_date(t) FROM unnest(CAST(:t AS text[])) AS u(t)"),
                                 {"t": texts}).all())


def _date(text: str | None, day: dt.date | None, today: dt.date) -> tuple[dt.date | None, str | None]:
    """The date a clerk wrote, as read, or why it is not one."""
    if not text:
        return None, "日期为空 / the date is empty"
    if day is None:
        return None, f"日期“{text}”无法识别（应为 2026-11-30）/ date {text!r} is not a date (write 2026-11-30)"
    if day > today:
        return None, f"日期 {day} 晚于今天（北京时间 {today}）/ date {day} is after today ({today}, China time)"
    if day < EARLIEST:
        return None, f"日期 {day} 早于 {EARLIEST} / date {day} is before {EARLIEST}"
    return day, None


def _department(departments: dict[str, str], written: str | None) -> tuple[str | None, list[str]]:
    """The department a clerk means: its code or full name, or a part of the name only one department's holds
    (县税务局 for 国家税务总局县税务局); several candidates are named back, never chosen between."""
    key = _key(written or "")
    if not key:
        return None, []
    if key in departments:
        return departments[key], []
    found = sorted({code for spelling, code in departments.items() if len(key) >= 2 and key in spelling})
    return (found[0], []) if len(found) == 1 else (None, found)


def _rows(items: ItemCatalog, table, departments: dict[str, str],  # noqa: ANN001 - a stage Table
          read_dates: Callable[[list[str]], dict[str, dt.date | None]]) -> tuple[list[dict], list[str], int]:
    """The file's items, the problems that refuse it (each naming its row), and the number of rows in it."""
    rows_in = sum(1 for r in table.rows if any(v not in (None, "") and str(v).strip() for v in r))
    rows_in += len(table.broken_lines)
    columns, problems = _header_columns(items, table.header)
    problems += [f"有一行无法按 CSV 读取（引号未闭合）：{line[:60]!r} / a line is not CSV (a quote opened and never "
                 f"closed)" for line in table.broken_lines]
    problems += [f"还有工作表“{sheet}”含数据，只读第一个工作表 / the workbook has data on sheet {sheet!r}; only the "
                 f"first sheet is read: one sheet per file" for sheet in table.other_sheets]
    problems += [f"单元格 {cell} 是错误值或没有保存结果的公式 / cell {cell} is an error value or a formula without a "
                 f"saved result" for cell in table.unreadable_cells]
    if columns.keys() < {c for c in items.columns if c not in items.optional}:
        return [], problems, rows_in
    today = dt.datetime.now(CHINA).date()
    at = columns["item_date"]
    dates = read_dates(sorted({r[at].strip() for r in table.rows if at < len(r) and r[at] and r[at].strip()}))
    width = len(table.header)
    rows: list[dict] = []
    first_row_of: dict[str, int] = {}
    for number, record in enumerate(table.rows, start=2):
        if not any(v not in (None, "") and str(v).strip() for v in record):
            continue  # a blank line is not an item
        def cell(code: str, record: list = record) -> str | None:
            index = columns.get(code)
            value = record[index] if index is not None and index < len(record) else None
            return value.strip() if value and value.strip() else None

        wrong = []
        if len(record) > width and any(v not in (None, "") for v in record[width:]):
            wrong.append(f"有 {len(record)} 列，表头只有 {width} 列（内容里的逗号？）/ {len(record)} values where the "
                         f"header has {width} (a comma inside a value?)")
        bad = _bad_text(v for v in record if v)
        if bad:
            wrong.append(f"{bad[0]} / {bad[1]}")
        kind = items.type_by_label.get(_key(cell("item_type") or ""))
        if kind is None:
            wrong.append(f"类型“{cell('item_type') or ''}”不是已知的条目类型（{'、'.join(items.type_names.values())}）"
                         f" / type {cell('item_type') or '(empty)'!r} is not a known item type")
        day, problem = _date(cell("item_date"), dates.get(cell("item_date") or ""), today)
        if problem:
            wrong.append(problem)
        department, candidates = _department(departments, cell("department"))
        if department is None and candidates:
            wrong.append(f"部门“{cell('department')}”可指 {'、'.join(candidates)}，请写全称 / department "
                         f"{cell('department')!r} could be any of {', '.join(candidates)}; write the full name")
        elif department is None:
            wrong.append(f"部门“{cell('department') or ''}”不在部门目录中 / department "
                         f"{cell('department') or '(empty)'!r} is not in the catalog (write its name or code, "
                         f"or 信用办)")
        for code, name, longest in (("title", "标题", 200), ("content", "内容", 20_000), ("link", "链接", 1_000)):
            value = cell(code)
            if value is None and code != "link":
                wrong.append(f"{name}为空 / {code} is empty")
            elif value is not None and len(value) > longest:
                wrong.append(f"{name}超过 {longest} 字 / {code} is longer than {longest} characters")
        link = cell("link")
        if link is not None and not re.match(r"^https?://\S+$", link):
            wrong.append("链接须为 http(s):// 网址 / link must be an http(s):// address")
        if not wrong:
            key = _item_key(kind, department, day, cell("title"), cell("number"))
            if key in first_row_of:
                wrong.append(f"与第 {first_row_of[key]} 行是同一条目 / the same item as row {first_row_of[key]}")
            first_row_of.setdefault(key, number)
        if wrong:
            problems.append(f"第 {number} 行 row {number}: " + "；".join(wrong))
            continue
        rows.append({"key": key, "item_type": kind, "item_date": day, "department_code": department,
                     "title": cell("title"), "content": cell("content"), "link": link})
    return rows, problems, rows_in


def _item_key(kind: str, department: str, day: dt.date, title: str, number: str | None) -> str:
    """An item's identity: the office's own number for it when the file gives one (so a corrected title or
    date is the same item), else its type, department, date and title."""
    identity = f"{kind}|{department}|{number}" if number else f"{kind}|{department}|{day.isoformat()}|{title}"
    return "office:" + hashlib.sha256(identity.encode()).hexdigest()[:32]


def _record(engine: Engine, name: str, sha256: str, rows: list[dict], problems: list[str],
            rows_in: int) -> ItemFileOutcome:
    problems = [mask_text(p) for p in problems]
    loaded = unchanged = 0
    with engine.begin() as conn:
        # Two runs taking the same new file at once: the second waits, then finds it read.
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('indicator_item_file'))"))
        if conn.scalar(sa.text("SELECT 1 FROM audit.indicator_item_file WHERE sha256 = :s"), {"s": sha256}):
            return ItemFileOutcome(name, "already_loaded")
        if not problems:
            for row in rows:
                changed = conn.execute(sa.text("""
                    INSERT INTO dw.indicator_item (item_key, item_type, item_date, department_code, title, content,
                                                   link, origin, source_name, content_hash)
                    VALUES (:key, :item_type, :item_date, :department_code, :title, :content, :link, 'office',
                            :source, :hash)
                    ON CONFLICT (item_key) DO UPDATE
                       SET item_date = EXCLUDED.item_date, title = EXCLUDED.title, content = EXCLUDED.content,
                           link = EXCLUDED.link, source_name = EXCLUDED.source_name,
                           content_hash = EXCLUDED.content_hash, updated_at = now()
                     WHERE dw.indicator_item.content_hash <> EXCLUDED.content_hash
                    RETURNING item_id
                """), {**row, "source": name, "hash": _content_hash(row)}).first()
                if changed is None:
                    unchanged += 1
                else:
                    loaded += 1
        status = "refused" if problems else "loaded"
        rejected = rows_in if problems else 0
        conn.execute(sa.text("""
            INSERT INTO audit.indicator_item_file (file_name, sha256, status, rows_in, rows_loaded, rows_unchanged,
                                                   rows_rejected, reasons)
            VALUES (:name, :sha, :status, :rows_in, :loaded, :unchanged, :rejected, CAST(:reasons AS jsonb))
        """), {"name": mask_text(name), "sha": sha256, "status": status, "rows_in": rows_in, "loaded": loaded,
               "unchanged": unchanged, "rejected": rejected, "reasons": json.dumps(problems, ensure_ascii=False)})
    if problems:
        problems = problems + ["整份文件未入库，请改正后重新投放 / nothing of the file was stored; correct it and "
                               "drop it again"]
    return ItemFileOutcome(name, status, rows_in, loaded, unchanged, rejected, problems)


def _content_hash(row: dict) -> str:
    text = json.dumps([row["item_type"], row["item_date"].isoformat(), row["department_code"], row["title"],
                       row["content"], row["link"]], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def make_warehouse_items(engine: Engine) -> int:
    """Items from the records the warehouse holds (rating results from credit_rating facts); returns how many
    were new or changed. A record's item follows the record: a correction changes its content."""
    items = item_catalog()
    made = 0
    with engine.begin() as conn:
        for item_type, record_type in items.warehouse_types.items():
            made += conn.execute(sa.text("""
                INSERT INTO dw.indicator_item (item_key, item_type, item_date, department_code, title, content,
                                               link, origin, record_key, source_name, content_hash)
                SELECT 'record:' || f.record_uid, :item_type, d.date, dep.department_code,
                       s.name || ' ' || coalesce(f.attributes ->> 'PJ_PJLY', '') || ' '
                           || coalesce(f.attributes ->> 'PJ_PJDJ', ''),
                       concat_ws('；', '评价领域：' || (f.attributes ->> 'PJ_PJLY'),
                                 '评价等级：' || (f.attributes ->> 'PJ_PJDJ'),
                                 '评价年度：' || (f.attributes ->> 'PJ_PJND'),
                                 '评价机关：' || (f.attributes ->> 'PJ_PJJG'), '文号：' || f.document_number),
                       NULL, 'warehouse', f.record_key, :record_type,
                       encode(sha256(convert_to(f.content_hash || s.name, 'UTF8')), 'hex')
                  FROM dw.fact_credit_record f
                  JOIN dw.dim_record_type r ON r.record_type_key = f.record_type_key
                  JOIN dw.dim_subject s ON s.subject_key = f.subject_key
                  JOIN dw.dim_department dep ON dep.department_key = f.department_key
                  JOIN dw.dim_date d ON d.date_key = f.decision_date_key
                 WHERE r.record_type_code = :record_type AND f.status IN ('active', 'corrected')
                ON CONFLICT (item_key) DO UPDATE
                   SET item_date = EXCLUDED.item_date, title = EXCLUDED.title, content = EXCLUDED.content,
                       content_hash = EXCLUDED.content_hash, updated_at = now()
                 WHERE dw.indicator_item.content_hash <> EXCLUDED.content_hash
            """), {"item_type": item_type, "record_type": record_type}).rowcount
    return made


def item_payload(row, city_code: str) -> dict:  # noqa: ANN001 - a row of dw.indicator_item
    """What the platform receives for an item: ID numbers masked in every text."""
    return {
        "idempotency_key": f"{city_code}-{row.item_key}-{row.content_hash[:16]}",
        "item_key": row.item_key,
        "item_type": row.item_type,
        "item_type_name": item_catalog().type_names[row.item_type],
        "date": row.item_date.isoformat(),
        "department": row.department_code,
        "title": mask_text(row.title),
        "content": mask_text(row.content),
        "link": mask_text(row.link),
    }


def queue_item_deliveries(engine: Engine, city_code: str) -> int:
    """A delivery for every item version not yet queued; returns how many were queued."""
    with engine.begin() as conn:
        rows = conn.execute(sa.text("""
            SELECT i.item_id, i.item_key, i.item_type, i.item_date, i.department_code, i.title, i.content, i.link,
                   i.content_hash
              FROM dw.indicator_item i
             WHERE NOT EXISTS (SELECT 1 FROM outbox.indicator_item_delivery o
                                WHERE o.item_id = i.item_id AND o.content_hash = i.content_hash)
             ORDER BY i.item_id
        """)).all()
        for row in rows:
            payload = item_payload(row, city_code)
            conn.execute(sa.text("""
                INSERT INTO outbox.indicator_item_delivery (item_id, content_hash, idempotency_key, payload)
                VALUES (:item, :hash, :key, CAST(:payload AS jsonb))
                ON CONFLICT DO NOTHING
            """), {"item": row.item_id, "hash": row.content_hash, "key": payload["idempotency_key"],
                   "payload": json.dumps(payload, ensure_ascii=False)})
    return len(rows)


def push_indicator_items(engine: Engine, *, client=None, city_code: str | None = None) -> dict:  # noqa: ANN001
    """Make the warehouse's items, queue every new version and send the queue in chunks; returns counts."""
    from etl.catalog import catalog
    from etl.publicity.policy import policy
    from etl.publish.client import PlatformClient, PlatformError

    city_code = city_code or catalog().county.division_code
    made = make_warehouse_items(engine)
    queued = queue_item_deliveries(engine, city_code)
    counts = {"made": made, "queued": queued, "accepted": 0, "rejected": 0}
    own_client = client is None
    client = client or PlatformClient.from_connection(policy().platform("national").connection_id)
    try:
        while True:
            with engine.begin() as conn:
                chunk = conn.execute(sa.text("""
                    UPDATE outbox.indicator_item_delivery SET status = 'sent', attempts = attempts + 1,
                           sent_at = now()
                     WHERE delivery_id IN (SELECT delivery_id FROM outbox.indicator_item_delivery
                                            WHERE status IN ('pending', 'sent') AND delivery_id > :after
                                            ORDER BY delivery_id LIMIT :n FOR UPDATE SKIP LOCKED)
                    RETURNING delivery_id, idempotency_key, payload
                """), {"n": SEND_CHUNK, "after": counts.get("last", 0)}).all()
            if not chunk:
                break
            counts["last"] = max(r.delivery_id for r in chunk)
            try:
                answer = client.post_json(ITEMS_PATH, {"city_code": city_code, "items": [r.payload for r in chunk]})
            except PlatformError as exc:
                with engine.begin() as conn:
                    conn.execute(sa.text("UPDATE outbox.indicator_item_delivery SET last_error = :e "
                                         "WHERE delivery_id = ANY(:ids)"),
                                 {"e": str(exc)[:500], "ids": [r.delivery_id for r in chunk]})
                raise
            receipts = {r.get("idempotency_key"): r for r in answer.get("receipts", []) if isinstance(r, dict)}
            with engine.begin() as conn:
                for row in chunk:
                    receipt = receipts.get(row.idempotency_key)
                    if receipt is None or receipt.get("status") not in ("accepted", "rejected"):
                        continue  # no answer for it: it stays `sent` and goes again next time, with the same key
                    counts[receipt["status"]] += 1
                    conn.execute(sa.text("""
                        UPDATE outbox.indicator_item_delivery
                           SET status = :status, receipt_id = :receipt, reason = :reason, last_error = NULL,
                               accepted_at = CASE WHEN :status = 'accepted' THEN now() END
                         WHERE delivery_id = :id
                    """), {"status": receipt["status"], "receipt": receipt.get("receipt_id"),
                           "reason": receipt.get("reason"), "id": row.delivery_id})
    finally:
        if own_client:
            client.close()
    counts.pop("last", None)
    return counts


def describe_push(counts: dict) -> str:
    return (f"监测条目：仓库生成 {counts['made']}，排队 {counts['queued']}，平台接收 {counts['accepted']}，"
            f"拒收 {counts['rejected']} / Monitoring items: {counts['made']} made by the warehouse, "
            f"{counts['queued']} queued, {counts['accepted']} accepted, {counts['rejected']} rejected.")
