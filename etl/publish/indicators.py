"""The monthly indicator feed to the national monitoring platform, delivered once with its receipt.

The submission is recorded (status `sent`) before the request goes out and its receipt after; the
idempotency key depends on the values, so re-sending after a crash is recognised by the platform,
and a recomputation that changed the numbers is a new submission.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl.indicators import indicator_payload
from etl.publicity.policy import policy
from etl.publish.client import PlatformClient, PlatformError

INDICATORS_PATH = "/api/v1/indicators"


def push_indicators(engine: Engine, period: str, edition: str = "2020", *,
                    client: PlatformClient | None = None) -> dict:
    payload = indicator_payload(engine, period, edition)
    key = payload["idempotency_key"]
    with engine.begin() as conn:
        status = conn.scalar(sa.text("SELECT status FROM outbox.indicator_submission WHERE idempotency_key = :k"),
                             {"k": key})
        if status == "accepted":
            return {"period": payload["period"], "status": "accepted", "already": True, "idempotency_key": key}
        conn.execute(sa.text("""
            INSERT INTO outbox.indicator_submission (period, edition, idempotency_key, payload)
            VALUES (:period, :edition, :key, CAST(:payload AS jsonb))
            ON CONFLICT (idempotency_key) DO UPDATE
               SET attempts = outbox.indicator_submission.attempts + 1, sent_at = now()
        """), {"period": payload["period"], "edition": payload["edition"], "key": key,
               "payload": json.dumps(payload, ensure_ascii=False)})
    own_client = client is None
    client = client or PlatformClient.from_connection(policy().platform("national").connection_id)
    try:
        receipt = client.post_json(INDICATORS_PATH, payload)
    except PlatformError as exc:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE outbox.indicator_submission SET last_error = :e WHERE idempotency_key = :k"),
                         {"e": str(exc), "k": key})
        raise
    finally:
        if own_client:
            client.close()
    # The platform answers one receipt for the submission (or a list holding it).
    if isinstance(receipt.get("receipts"), list) and receipt["receipts"]:
        receipt = receipt["receipts"][0]
    outcome = receipt.get("status")
    if outcome not in ("accepted", "rejected"):
        raise PlatformError(f"national indicators: unknown receipt status {str(outcome)[:40]!r}", retryable=False)
    with engine.begin() as conn:
        conn.execute(sa.text("""
            UPDATE outbox.indicator_submission
               SET status = :status, receipt_id = :receipt, reason = :reason, last_error = NULL,
                   accepted_at = CASE WHEN :status = 'accepted' THEN now() END
             WHERE idempotency_key = :k
        """), {"status": outcome, "receipt": receipt.get("receipt_id"), "reason": receipt.get("reason"), "k": key})
    return {"period": payload["period"], "status": outcome, "already": False, "idempotency_key": key,
            "receipt_id": receipt.get("receipt_id"), "values": len(payload["values"])}
