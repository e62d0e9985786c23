"""Reconciliation: does the platform hold what the warehouse believes it accepted?

Counts of published records per department, decision day and record type are compared with the
platform's query endpoint; for every group that differs the platform's records are listed and the
missing or stale ones re-queued. A random sample of accepted items is also looked up by
idempotency key, which catches a platform that lost records while its counts happen to agree.
Each run is recorded in outbox.reconciliation.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl.publicity.policy import policy
from etl.publish.client import PlatformClient, PlatformError

COUNTS_PATH = "/api/v1/publicity/counts"
RECORDS_PATH = "/api/v1/publicity/records"
PAGE = 500
MAX_GROUPS_LISTED = 200

# The latest accepted item per record and platform: what the platform was last told and confirmed.
BELIEVED = """
    SELECT DISTINCT ON (o.record_key) o.item_id, o.record_key, o.record_uid::text AS record_uid, o.department_code,
           o.decision_date, o.record_type_code, o.action, o.idempotency_key
      FROM outbox.publicity_item o
     WHERE o.platform = :platform AND o.status = 'accepted'
     ORDER BY o.record_key, o.item_id DESC
"""


@dataclass
class ReconcileResult:
    platform: str
    groups_compared: int = 0
    groups_different: int = 0
    sampled: int = 0
    sample_missing: int = 0
    requeued: int = 0
    differences: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"platform": self.platform, "groups_compared": self.groups_compared,
                "groups_different": self.groups_different, "sampled": self.sampled,
                "sample_missing": self.sample_missing, "requeued": self.requeued,
                "differences": self.differences[:20]}


def _platform_published(client: PlatformClient, department: str, day: str, record_type: str) -> set[str]:
    """Record uids the platform shows as published for one group (the last action per record wins)."""
    last_action: dict[str, str] = {}
    offset = 0
    while True:
        page = client.get_json(RECORDS_PATH, {"department_code": department, "decision_date": day,
                                              "record_type": record_type, "limit": PAGE, "offset": offset})
        records = page.get("records") or []
        for record in records:
            last_action[str(record.get("record_uid"))] = str(record.get("action"))
        offset += len(records)
        if not records or offset >= int(page.get("total") or 0):
            break
    return {uid for uid, action in last_action.items() if action == "upsert"}


def _requeue(engine: Engine, item_ids: list[int], stamp: str) -> int:
    """A fresh copy of each item under a new idempotency key (the platform may have lost the old one)."""
    if not item_ids:
        return 0
    with engine.begin() as conn:
        return conn.execute(sa.text("""
            UPDATE outbox.publicity_item SET status = 'superseded', updated_at = now()
             WHERE record_key IN (SELECT record_key FROM outbox.publicity_item WHERE item_id = ANY(:ids))
               AND status = 'pending';
            INSERT INTO outbox.publicity_item
                   (platform, record_key, record_uid, department_code, record_type_code, action, payload, content_hash,
                    cause, idempotency_key, decision_date, due_date)
            SELECT platform, record_key, record_uid, department_code, record_type_code, action, payload, content_hash,
                   'requeue:' || :stamp,
                   encode(sha256(convert_to(idempotency_key || '|requeue:' || :stamp, 'UTF8')), 'hex'),
                   decision_date, due_date
              FROM outbox.publicity_item WHERE item_id = ANY(:ids)
            ON CONFLICT (idempotency_key) DO NOTHING
        """), {"ids": item_ids, "stamp": stamp}).rowcount


def reconcile(engine: Engine, platform: str, *, client: PlatformClient | None = None, sample_size: int = 50,
              since: dt.date | None = None) -> ReconcileResult:
    settings = policy().platform(platform)
    own_client = client is None
    client = client or PlatformClient.from_connection(settings.connection_id)
    result = ReconcileResult(platform)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    try:
        with engine.connect() as conn:
            believed = conn.execute(sa.text(BELIEVED), {"platform": platform}).all()
        if since:
            believed = [b for b in believed if b.decision_date >= since]
        ours: Counter = Counter((b.department_code, b.decision_date.isoformat(), b.record_type_code)
                                for b in believed if b.action == "upsert")
        theirs: Counter = Counter()
        answer = client.get_json(COUNTS_PATH, {"group_by": "department_day",
                                               "date_from": since.isoformat() if since else None})
        for row in answer.get("counts") or []:
            theirs[(row["department_code"], str(row["decision_date"]), row["record_type"])] = int(row["accepted"] or 0)
        groups = set(ours) | {g for g, n in theirs.items() if n}
        result.groups_compared = len(groups)
        different = sorted(g for g in groups if ours[g] != theirs[g])
        result.groups_different = len(different)
        by_group = defaultdict(list)
        for b in believed:
            by_group[(b.department_code, b.decision_date.isoformat(), b.record_type_code)].append(b)
        to_requeue: set[int] = set()
        for group in different[:MAX_GROUPS_LISTED]:
            published = _platform_published(client, *group)
            should = {b.record_uid: b for b in by_group[group] if b.action == "upsert"}
            withdrawn = {b.record_uid: b for b in by_group[group] if b.action == "withdraw"}
            missing = [should[uid].item_id for uid in set(should) - published]
            stale = [withdrawn[uid].item_id for uid in published & set(withdrawn)]
            unknown = sorted(published - set(should) - set(withdrawn))
            to_requeue.update(missing + stale)
            result.differences.append({"department_code": group[0], "decision_date": group[1],
                                       "record_type": group[2], "warehouse": ours[group], "platform": theirs[group],
                                       "requeued_missing": len(missing), "requeued_withdrawals": len(stale),
                                       "unknown_to_warehouse": unknown[:10]})
        sample = [b for b in believed if b.item_id not in to_requeue]
        sample = sorted(sample, key=lambda b: b.idempotency_key)[:: max(1, len(sample) // max(sample_size, 1))]
        for b in sample[:sample_size]:
            result.sampled += 1
            try:
                client.get_json(f"{RECORDS_PATH}/{b.idempotency_key}")
            except PlatformError as exc:
                if exc.code == "not_found" or "HTTP 404" in str(exc):
                    result.sample_missing += 1
                    to_requeue.add(b.item_id)
                else:
                    raise
        result.requeued = _requeue(engine, sorted(to_requeue), stamp)
    finally:
        if own_client:
            client.close()
    with engine.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO outbox.reconciliation (platform, groups_compared, groups_different, sampled, sample_missing,
                                               requeued, differences)
            VALUES (:platform, :compared, :different, :sampled, :missing, :requeued, CAST(:differences AS jsonb))
        """), {"platform": platform, "compared": result.groups_compared, "different": result.groups_different,
               "sampled": result.sampled, "missing": result.sample_missing, "requeued": result.requeued,
               "differences": json.dumps(result.differences[:100], ensure_ascii=False)})
    return result
