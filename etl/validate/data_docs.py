"""The Data Docs site people open: every batch at a glance, GX's pages behind it, all of it working offline.

Great Expectations renders each batch's validation page and each record type's suite page
(`etl.validate.gx_run`), but its pages load jQuery, Bootstrap, Font Awesome and more from public CDNs
and its index draws its list with JavaScript from them: on a county intranet the index is empty and the
pages unstyled. So this module

- copies the few assets the pages use (vendored under `docs_assets/`, see its README) to `static/vendor/`
  and points every page at them, dropping what the pages do not need (date pickers, chart libraries, the
  remote logo, a newsletter link);
- puts a summary at the top of each validation page: rows in, loaded, unchanged, quarantined per rule, held
  or not, from `audit.batch` (GX's own verdict is about the rows about to be loaded, the audit gate, and a
  batch whose bad rows were quarantined is not a failed batch);
- writes `index.html` itself, a plain HTML table of every batch (no script), newest first.

Built after each ingest (`etl.ingest.render_data_docs`), at the end of `make run` and by the maintenance DAG.
"""

from __future__ import annotations

import hashlib
import html
import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl.catalog import catalog
from etl.personal import mask_text

ASSETS = Path(__file__).resolve().parent / "docs_assets"
VENDOR = Path("static") / "vendor"
OFFLINE_MARK = "<!-- creditwh: offline -->"
INDEX_LIMIT = 2000  # batches listed on the index, newest first

# CDN addresses in GX's page templates and the vendored file each stands for (None: the tag is dropped).
CDN = (
    (r"https://code\.jquery\.com/jquery-[0-9.]+\.min\.js", "js/jquery.min.js"),
    (r"https://cdnjs\.cloudflare\.com/ajax/libs/popper\.js/[0-9.]+/umd/popper\.min\.js", "js/popper.min.js"),
    (r"https://stackpath\.bootstrapcdn\.com/bootstrap/[0-9.]+/js/bootstrap\.min\.js", "js/bootstrap.min.js"),
    (r"https://maxcdn\.bootstrapcdn\.com/bootstrap/[0-9.]+/css/bootstrap\.min\.css", "css/bootstrap.min.css"),
    (r"https://unpkg\.com/bootstrap-table@[0-9.]+/dist/bootstrap-table\.min\.js", "js/bootstrap-table.min.js"),
    (r"https://unpkg\.com/bootstrap-table@[0-9.]+/dist/bootstrap-table\.min\.css", "css/bootstrap-table.min.css"),
    (r"https://cdnjs\.cloudflare\.com/ajax/libs/font-awesome/[0-9.]+/css/all\.min\.css", "css/fontawesome.min.css"),
    (r"https://[^\"']*(?:filter-control|bootstrap-datepicker|vega|bootstrap-dark)[^\"']*", None),
)
TAG = re.compile(r"<(?:script|link)\b[^>]*?(?:src|href)=\"(https://[^\"]+)\"[^>]*>(?:\s*</script>)?")
REMOTE_LOGO = re.compile(r"https://great-expectations-web-assets\.[^\"')]+\.png[^\"')]*")
NEWSLETTER = re.compile(r"<footer>(?:(?!</footer>).)*newsletter.*?</footer>", re.S)  # a vendor's sign-up link
FAVICON = re.compile(r'href="(?:\.\./)*static/images/favicon\.ico"')
PAGE_BATCH = re.compile(r"(?:^|/)batch-(\d+)/")


def _vendor_href(page: Path, site: Path, asset: str) -> str:
    return Path(os.path.relpath(site / VENDOR / asset, page.parent)).as_posix()


SUMMARY = re.compile(r"<!-- creditwh: summary -->.*?<!-- /creditwh: summary -->", re.S)


def offline_page(page: Path, site: Path, summary_html: str = "") -> None:
    """Point a GX page at the vendored assets (dropping what it does not need), with `summary_html` on top (in
    place of the summary an earlier build put there: a batch's status moves on after its page was made)."""
    text = page.read_text(encoding="utf-8")
    block = f"<!-- creditwh: summary -->{summary_html}<!-- /creditwh: summary -->"
    if OFFLINE_MARK in text:
        page.write_text(NEWSLETTER.sub("", SUMMARY.sub(lambda _: block, text, count=1)), encoding="utf-8")
        return

    def local(match: re.Match) -> str:
        url = match.group(1)
        for pattern, asset in CDN:
            if re.fullmatch(pattern, url):
                return "" if asset is None else match.group(0).replace(url, _vendor_href(page, site, asset))
        return ""  # anything else remote: a page for an intranet fetches nothing from outside

    text = TAG.sub(local, text)
    logo = Path(os.path.relpath(site / "static" / "images" / "logo-long.png", page.parent)).as_posix()
    text = NEWSLETTER.sub("", REMOTE_LOGO.sub(logo, text))
    # GX links the favicon one level short on validation pages.
    favicon = Path(os.path.relpath(site / "static" / "images" / "favicon.ico", page.parent)).as_posix()
    text = FAVICON.sub(f'href="{favicon}"', text)
    text = text.replace("<body>", f"<body>{OFFLINE_MARK}{block}", 1)
    page.write_text(text, encoding="utf-8")


def _copy_assets(site: Path) -> None:
    """The vendored assets to static/vendor/, GX's own (logo, fonts, styles; its index builder used to copy them)
    to static/."""
    # Found without importing GX (seconds): a load task's build has nothing else to ask of it.
    gx_static = Path(importlib.util.find_spec("great_expectations").origin).parent / "render" / "view" / "static"
    for source_dir, target in ((ASSETS, site / VENDOR), (gx_static, site / "static")):
        for source in source_dir.rglob("*"):
            if source.is_file() and source.suffix != ".md":
                destination = target / source.relative_to(source_dir)
                if not destination.exists() or destination.stat().st_size != source.stat().st_size:
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, destination)


def _batches(engine: Engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.text("""
            SELECT b.batch_id, b.department_code, b.feed_code, b.record_type_code, b.source_name, b.status,
                   b.status_reason, b.rows_in, b.rows_loaded, b.rows_unchanged, b.rows_quarantined, b.gx_success,
                   b.created_at AT TIME ZONE 'Asia/Shanghai' AS received,
                   coalesce((SELECT jsonb_object_agg(rule, n) FROM (
                       SELECT q.rule, count(DISTINCT q.row_no) AS n FROM audit.quarantine q
                        WHERE q.batch_id = b.batch_id GROUP BY q.rule) r), '{}'::jsonb) AS by_rule
              FROM audit.batch b ORDER BY b.batch_id DESC LIMIT :limit
        """), {"limit": INDEX_LIMIT}).all()


def _rules_text(by_rule: dict) -> str:
    rules = catalog().rules
    return "；".join(f"{rules[code].name_zh if code in rules else code} {n}"
                    for code, n in sorted(by_rule.items(), key=lambda item: -item[1]))


STATUS_ZH = {"loaded": "已入库", "held": "整批暂扣", "failed": "未能处理", "validated": "待入库", "staged": "处理中",
             "landed": "处理中"}


def _summary(batch) -> str:  # noqa: ANN001 - a row of _batches
    """The batch at a glance, above GX's own page."""
    department = catalog().department_by_code.get(batch.department_code)
    held = batch.status in ("held", "failed")
    reason = f"<br>原因 reason：{html.escape(mask_text(batch.status_reason) or '')}" if held else ""
    colour = "#f8d7da" if held else ("#fff3cd" if batch.rows_quarantined else "#d4edda")
    return (f'<div style="background:{colour};padding:12px 20px;font-size:15px;border-bottom:1px solid #999">'
            f"<b>批次 Batch {batch.batch_id}</b> · {html.escape(department.name_zh if department else '')} "
            f"{batch.department_code}/{batch.feed_code} · {html.escape(mask_text(batch.source_name))}<br>"
            f"<b>{STATUS_ZH.get(batch.status, batch.status)} {batch.status}</b> · 收到 rows in {batch.rows_in} = "
            f"入库 loaded {batch.rows_loaded} + 未变 unchanged {batch.rows_unchanged} + 隔离 quarantined "
            f"{batch.rows_quarantined}" + (f"（{html.escape(_rules_text(batch.by_rule))}）" if batch.by_rule else "")
            + f"{reason}<br><small>下方为 Great Expectations 对待入库各行的审核（隔离的行不在其中）/ Below: the GX "
              "audit of the rows about to be loaded (quarantined rows are not among them)</small></div>")


def _validation_pages(site: Path) -> list[tuple[int, Path]]:
    """Every validation page with its batch id, oldest run first."""
    found = []
    for page in sorted((site / "validations").rglob("*.html")):
        match = PAGE_BATCH.search(page.relative_to(site).as_posix())
        if match:
            found.append((int(match.group(1)), page))
    return found


INDEX_HEAD = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>数据质量审核 Data Docs · 信用数据仓库</title>
<link rel="stylesheet" href="static/vendor/css/bootstrap.min.css">
<style>body{padding:20px} td,th{font-size:13px;vertical-align:top} .held{background:#f8d7da}
.quarantined{background:#fff3cd} .num{text-align:right}</style></head><body>"""


def write_index(site: Path, batches: list, pages: list[tuple[int, Path]]) -> Path:
    """index.html: every batch (newest first) with its counts, rules, status and a link to its GX page."""
    pages = dict(pages)  # oldest run first: the later run of a batch wins
    departments = catalog().department_by_code
    rows = []
    for b in batches:
        page = pages.get(b.batch_id)
        link = f'<a href="{page.relative_to(site).as_posix()}">GX 页面</a>' if page else "—"
        audit = {True: "通过 passed", False: "未通过 failed", None: "未运行 not run"}[b.gx_success]
        css = "held" if b.status in ("held", "failed") else ("quarantined" if b.rows_quarantined else "")
        name = departments[b.department_code].name_zh if b.department_code in departments else ""
        reason = html.escape(mask_text(b.status_reason) or "") if b.status in ("held", "failed") else ""
        rows.append(
            f'<tr class="{css}" id="batch-{b.batch_id}"><td>{b.batch_id}</td><td>{html.escape(name)}<br>'
            f"<small>{b.department_code}/{b.feed_code}</small></td><td>{b.record_type_code}</td>"
            f"<td>{html.escape(mask_text(b.source_name))}</td><td>{b.received:%Y-%m-%d %H:%M}</td>"
            f'<td class="num">{b.rows_in}</td><td class="num">{b.rows_loaded}</td><td class="num">'
            f'{b.rows_unchanged}</td><td class="num">{b.rows_quarantined}</td>'
            f"<td>{html.escape(_rules_text(b.by_rule))}</td><td>{STATUS_ZH.get(b.status, b.status)} {b.status}"
            f"{'<br>' + reason if reason else ''}</td><td>{audit}</td><td>{link}</td></tr>")
    held = sum(b.status in ("held", "failed") for b in batches)
    body = (f"<h3>数据质量审核 · Data Docs</h3><p>共 {len(batches)} 个批次（最新在前），其中 {held} 个"
            f"整批暂扣或未能处理；黄色：有隔离行，红色：整批暂扣。/ {len(batches)} batches, newest first; {held} held "
            "or failed. Yellow: rows quarantined; red: the whole batch held.</p>"
            '<table class="table table-sm table-bordered"><thead class="thead-light"><tr><th>批次 Batch</th>'
            "<th>部门 Department</th><th>类别 Type</th><th>来源 Source</th><th>收到 Received（北京时间）</th>"
            "<th>收到 In</th><th>入库 Loaded</th><th>未变 Unchanged</th><th>隔离 Quarantined</th>"
            "<th>隔离原因（行数）Rules (rows)</th><th>状态 Status</th><th>GX 审核 Audit</th><th>详情 Page</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>")
    index = site / "index.html"
    index.write_text(f"{INDEX_HEAD}{OFFLINE_MARK}{body}</body></html>", encoding="utf-8")
    return index


def build_site(engine: Engine, site: Path) -> Path:
    """Render GX's pending pages, make every page work offline with its batch summary, write the index."""
    from etl.validate.gx_run import render_pending_pages, render_suite_pages

    site = Path(site).resolve()
    site.mkdir(parents=True, exist_ok=True)
    render_pending_pages(site)
    render_suite_pages(site)
    _copy_assets(site)
    batches = _batches(engine)
    by_id = {b.batch_id: b for b in batches}
    validation_pages = _validation_pages(site)
    # Which summary each page carries, so that a build reads and rewrites only the pages whose batch moved on.
    manifest_path = site / ".creditwh-pages.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    pages = [(page, _summary(by_id[batch_id]) if batch_id in by_id else "")
             for batch_id, page in validation_pages]
    pages += [(page, "") for page in (site / "expectations").rglob("*.html")]
    for page, summary in pages:
        name, digest = page.relative_to(site).as_posix(), hashlib.sha256(summary.encode()).hexdigest()[:16]
        if manifest.get(name) != digest or OFFLINE_MARK not in _head(page):
            offline_page(page, site, summary)
            manifest[name] = digest
    manifest_path.write_text(json.dumps(manifest, indent=0), encoding="utf-8")
    return write_index(site, batches, validation_pages)


def _head(page: Path) -> str:
    """The first bytes of a page (where the offline mark is, right after <body>), cheaply."""
    with page.open("r", encoding="utf-8", errors="replace") as handle:
        return handle.read(4096)
