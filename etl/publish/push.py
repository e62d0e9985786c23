"""The nightly pusher: deliver outbox items to a platform exactly once, with receipts.

Delivery is at-least-once on the wire and exactly-once on the platform: an item is marked `sent`
(committed) before its request goes out, and its receipt is recorded after. A crash in between
leaves it `sent`; the next run sends it again under the same idempotency key and the platform
answers with the original receipt. Items of one record go out in order, one per round, so a
withdrawal can never overtake the publication it withdraws.

A run never loops forever: an item is tried at most once per run, a record whose item failed waits
for the next run, and a refused signature stops the run at once with a message saying what to fix.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import sqlalchemy as sa
from psycopg2.extras import execute_values
from sqlalchemy.engine import Engine

from etl.faults import crash_point
from etl.publicity.outbox import payload_sql
from etl.publicity.policy import policy
from etl.publish.client import PlatformAuthError, PlatformClient, PlatformError

log = logging.getLogger(__name__)

PUBLICITY_PATH = "/api/v1/publicity"
RECEIPT_STATUSES = ("accepted", "rejected")


@dataclass
class PushResult:
    platform: str
    accepted: int = 0
    rejected: int = 0
    unconfirmed: int = 0  # sent, but no usable receipt: re-sent next run, the platform deduplicates
    requests: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early (a refused signature)

    def as_dict(self) -> dict:
        return {"platform": self.platform, "accepted": self.accepted, "rejected": self.rejected,
                "unconfirmed": self.unconfirmed, "requests": self.requests, "seconds": round(self.seconds, 2),
                "errors": self.errors[:10], "stopped": self.stopped}


def _claim_round(engine: Engine, platform: str, limit: int, tried: list[int], held_records: list[int]) -> list:
    """The next item of each record not yet settled, oldest first; marked sent before anything goes out."""
    with engine.begin() as conn:
        rows = conn.execute(sa.text("""
            WITH next_per_record AS (
                SELECT DISTINCT ON (record_key) item_id, record_key
                  FROM outbox.publicity_item
                 WHERE platform = :platform AND status IN ('pending', 'sent')
                 ORDER BY record_key, item_id
            )
            SELECT o.item_id
              FROM next_per_record n JOIN outbox.publicity_item o USING (item_id)
             WHERE n.item_id <> ALL(CAST(:tried AS bigint[])) AND n.record_key <> ALL(CAST(:held AS bigint[]))
             ORDER BY o.item_id
             LIMIT :limit
             FOR UPDATE OF o SKIP LOCKED
        """), {"platform": platform, "limit": limit, "tried": tried, "held": held_records}).all()
        if rows:
            # The payload is built from the fact version when the item is first sent, and kept: a re-send
            # after a crash sends the same bytes, and what went out stays on record.
            rows = conn.execute(sa.text(f"""
                UPDATE outbox.publicity_item o
                   SET status = 'sent', attempts = attempts + 1, sent_at = now(), updated_at = now(),
                       payload = coalesce(o.payload, CASE WHEN o.action = 'upsert'
                                                          THEN {payload_sql("f", "o.record_type_code")}
                                                          ELSE '{{}}'::jsonb END)
                  FROM dw.fact_credit_record f
                 WHERE o.item_id = ANY(:ids) AND f.record_key = o.record_key
             RETURNING o.item_id, o.record_key, o.idempotency_key, o.action, o.record_type_code, o.record_uid,
                       o.department_code, o.decision_date, o.payload
            """), {"ids": [r.item_id for r in rows]}).all()
            rows.sort(key=lambda r: r.item_id)
    crash_point("push.after_mark_sent")
    return rows


def _request_body(rows: list) -> dict:
    return {"items": [{"idempotency_key": r.idempotency_key, "action": r.action, "record_type": r.record_type_code,
                       "record_uid": str(r.record_uid), "department_code": r.department_code,
                       "decision_date": r.decision_date.isoformat(), "payload": r.payload} for r in rows]}


def _chunks(rows: list, size: int) -> Iterator[list]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _send(client: PlatformClient, rows: list) -> tuple[list, dict | PlatformError]:
    try:
        return rows, client.post_json(PUBLICITY_PATH, _request_body(rows))
    except PlatformError as exc:
        return rows, exc


def _record_outcome(engine: Engine, rows: list, answer: dict | PlatformError, result: PushResult) -> set[int]:
    """Write receipts (or the error) for one request; returns the items left unconfirmed."""
    by_key = {r.idempotency_key: r for r in rows}
    settled: list[tuple] = []
    problems: dict[int, str] = {}
    if isinstance(answer, PlatformError):
        problems = {r.item_id: str(answer) for r in rows}
    else:
        receipts = answer.get("receipts")
        receipts = receipts if isinstance(receipts, list) else []
        for receipt in receipts:
            if not isinstance(receipt, dict) or receipt.get("idempotency_key") not in by_key:
                continue
            row = by_key.pop(receipt["idempotency_key"])
            status = receipt.get("status")
            if status not in RECEIPT_STATUSES:
                problems[row.item_id] = f"unknown receipt status {str(status)[:40]!r}"
                continue
            settled.append((row.item_id, status, str(receipt.get("receipt_id") or "")[:200] or None,
                            (str(receipt.get("reason_code"))[:100] if receipt.get("reason_code") else None),
                            (str(receipt.get("reason"))[:1000] if receipt.get("reason") else None)))
        for row in by_key.values():
            problems[row.item_id] = "the platform's answer had no receipt for this item"
    crash_point("push.before_receipts")
    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        if settled:
            execute_values(cursor, """
                UPDATE outbox.publicity_item o
                   SET status = r.status, receipt_id = r.receipt_id, reason_code = r.reason_code, reason = r.reason,
                       accepted_at = CASE WHEN r.status = 'accepted' THEN now() END, last_error = NULL,
                       updated_at = now()
                  FROM (VALUES %s) AS r(item_id, status, receipt_id, reason_code, reason)
                 WHERE o.item_id = r.item_id
            """, settled, template="(%s::bigint, %s, %s, %s, %s)", page_size=1000)
        if problems:
            execute_values(cursor, """
                UPDATE outbox.publicity_item o SET last_error = r.error, updated_at = now()
                  FROM (VALUES %s) AS r(item_id, error) WHERE o.item_id = r.item_id
            """, list(problems.items()), template="(%s::bigint, %s)", page_size=1000)
    result.accepted += sum(1 for s in settled if s[1] == "accepted")
    result.rejected += sum(1 for s in settled if s[1] == "rejected")
    result.unconfirmed += len(problems)
    if problems:
        result.errors.append(next(iter(problems.values())))
    return set(problems)


def push_publicity(engine: Engine, platform: str, *, client: PlatformClient | None = None,
                   batch_size: int = 500, concurrency: int = 4, round_size: int | None = None,
                   on_progress: Callable[[int], None] | None = None) -> PushResult:
    """Send the platform's pending items in signed batches until none is left (or the run has to stop)."""
    settings = policy().platform(platform)
    own_client = client is None
    client = client or PlatformClient.from_connection(settings.connection_id, pool_size=concurrency)
    round_size = round_size or batch_size * concurrency * 4
    result = PushResult(platform)
    started = time.monotonic()
    tried: list[int] = []
    held_records: list[int] = []
    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"push-{platform}") as pool:
            while True:
                rows = _claim_round(engine, platform, round_size, tried, held_records)
                if not rows:
                    break
                tried.extend(r.item_id for r in rows)
                for answer_rows, answer in pool.map(lambda chunk: _send(client, chunk), _chunks(rows, batch_size)):
                    result.requests += 1
                    if isinstance(answer, PlatformAuthError):
                        _record_outcome(engine, answer_rows, answer, result)
                        result.stopped = str(answer)
                        continue
                    unconfirmed = _record_outcome(engine, answer_rows, answer, result)
                    # A record whose item failed waits for the next run (its later items must not overtake it).
                    held_records.extend(r.record_key for r in answer_rows if r.item_id in unconfirmed)
                    if on_progress:
                        on_progress(len(answer_rows))
                if result.stopped:
                    break
    finally:
        if own_client:
            client.close()
    result.seconds = time.monotonic() - started
    if result.stopped:
        log.error("push to %s stopped: %s", platform, result.stopped)
    return result

