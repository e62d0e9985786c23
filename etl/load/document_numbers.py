"""Bring a warehouse loaded before document numbers had one form (migration 022) in line, once.

Facts whose number was stored in another spelling keep their record_uid, which the platforms know them by:
their number is rewritten in its canonical form (a history row keeps the old one), and the id of the
canonical number becomes an alias of theirs, so the next delivery of the decision, in any spelling, finds the
record and changes nothing. Where two facts turn out to be one decision (县林罚〔２０２６〕Ｅ７０１号 sent again
as 县林罚〔2026〕E701号 created a second fact), the one changed last stays; the other becomes `merged` (with a
history row) and is withdrawn from the platforms that were told to publish it. Records that were already in
canonical form are not touched: nothing is published again.

The migration runner calls `canonicalise` after the numbered migrations, whenever the catalog's bracket
pairs differ from the ones it last ran with; one transaction, so a crash leaves all of it or none.
"""

from __future__ import annotations

import json
from collections import defaultdict

import sqlalchemy as sa

from etl.catalog import Catalog, Role
from etl.keys import normalise_document_number, record_uid
from etl.sqltext import fact_change_reason, literal


def settings(catalog: Catalog) -> str:
    """What the outcome depends on: each record type's document field and bracket pair."""
    return json.dumps({rt.code: [rt.role(Role.DOCUMENT_NUMBER).code, rt.document_brackets]
                       for rt in catalog.record_types}, ensure_ascii=False, sort_keys=True)


def canonicalise(conn: sa.Connection, catalog: Catalog) -> dict[str, int]:
    """Rewrite, alias and merge as the module says, inside the caller's transaction; returns the counts."""
    from etl.publicity.outbox import enqueue

    types = {rt.code: rt for rt in catalog.record_types}
    brackets = "CASE t.record_type_code " + " ".join(
        f"WHEN {literal(code)} THEN {literal(rt.document_brackets)}" for code, rt in types.items()) + " END"
    stale = conn.execute(sa.text(f"""
        SELECT f.record_key, f.record_uid, f.document_number, d.department_code, t.record_type_code
          FROM dw.fact_credit_record f
          JOIN dw.dim_department d ON d.department_key = f.department_key
          JOIN dw.dim_record_type t ON t.record_type_key = f.record_type_key
         WHERE f.status <> 'merged'
           AND f.document_number IS DISTINCT FROM dw.canonical_document_number(f.document_number, {brackets})
    """)).all()
    if not stale:
        return {"rewritten": 0, "merged": 0, "aliases": 0}
    canonical = {}
    for row in stale:
        rt = types[row.record_type_code]
        number = normalise_document_number(row.document_number, rt.document_brackets)
        canonical[row.record_key] = (number, record_uid(row.department_code, row.record_type_code, number,
                                                        rt.document_brackets))
    groups: dict[object, list] = defaultdict(list)
    for row in conn.execute(sa.text("""
        SELECT record_key, record_uid, updated_at FROM dw.fact_credit_record
         WHERE record_key = ANY(:stale) OR (record_uid = ANY(:uids) AND status <> 'merged')
    """), {"stale": [r.record_key for r in stale], "uids": [uid for _, uid in canonical.values()]}):
        uid = canonical[row.record_key][1] if row.record_key in canonical else row.record_uid
        groups[uid].append(row)
    merged: set[int] = set()
    aliases = []
    for uid, members in groups.items():
        survivor = max(members, key=lambda m: (m.updated_at, -m.record_key))  # what the department sent last
        merged.update(m.record_key for m in members if m is not survivor)
        if survivor.record_uid != uid:
            aliases.append({"alias": uid, "uid": survivor.record_uid})
    rewritten = [{"key": row.record_key, "number": canonical[row.record_key][0],
                  "field": types[row.record_type_code].role(Role.DOCUMENT_NUMBER).code}
                 for row in stale if row.record_key not in merged]
    if merged:
        with fact_change_reason(conn, "merged: same decision under another spelling of its number"):
            conn.execute(sa.text("UPDATE dw.fact_credit_record SET status = 'merged', updated_at = now() "
                                 "WHERE record_key = ANY(:keys)"), {"keys": sorted(merged)})
        enqueue(conn, "SELECT unnest(ARRAY[" + ", ".join(str(int(k)) for k in merged) + "]::bigint[])",
                "merge:canonical-document-number")
    if rewritten:
        with fact_change_reason(conn, "document number in its canonical form"):
            conn.execute(sa.text("""
                UPDATE dw.fact_credit_record f
                   SET document_number = :number,
                       attributes = jsonb_set(f.attributes, ARRAY[:field], to_jsonb(CAST(:number AS text))),
                       content_hash = encode(sha256(convert_to(jsonb_set(
                           f.attributes, ARRAY[:field], to_jsonb(CAST(:number AS text)))::text, 'UTF8')), 'hex'),
                       updated_at = now()
                 WHERE f.record_key = :key
            """), rewritten)
    if aliases:
        conn.execute(sa.text("INSERT INTO dw.record_uid_alias (alias_uid, record_uid) VALUES (:alias, :uid) "
                             "ON CONFLICT (alias_uid) DO UPDATE SET record_uid = EXCLUDED.record_uid"), aliases)
    return {"rewritten": len(rewritten), "merged": len(merged), "aliases": len(aliases)}

