"""Nightly 双公示 upload to the provincial and national credit platforms.

Runs at 01:00 Asia/Shanghai, and whenever an ingest DAG has loaded new or changed licences or
penalties (their assets). Each platform's push holds a slot of its own pool (the platforms' rate
limits) and sends the outbox in signed batches until every item has a receipt; a record is never
published twice (idempotency keys), and a crash between send and receipt is resumed by the next
try. Records a platform rejects are returned to their departments as workbooks.

A refused signature (wrong secret, clock skew) fails the push at once with what to fix: retrying
cannot help. If the upload has not finished by 06:00 a deadline alert goes out: the records are
due upstream within 7 working days of their decision.
"""

from __future__ import annotations

from datetime import timedelta

from _common import PLATFORM_POOLS, dag_defaults, local_schedule, notify_deadline_missed, record_type_asset, told
from airflow.sdk import (
    AssetOrTimeSchedule,
    DeadlineAlert,
    DeadlineReference,
    SyncCallback,
    dag,
    task,
)


class PlatformRefused(RuntimeError):
    """The platform refused the upload's credentials; a person has to fix the connection."""


class PlatformUnavailable(RuntimeError):
    """Items are still without a receipt; the task is retried with back-off."""


@task(multiple_outputs=False)
def push_publicity(platform: str) -> dict:
    """Send the platform's pending items and record its receipts."""
    from etl import jobs

    result = jobs.push_publicity(platform)
    if result["stopped"]:
        raise PlatformRefused(result["stopped"])
    if result["unconfirmed"]:
        # Sent but without a receipt (platform down, timeouts): the retry re-sends, the platform deduplicates.
        raise PlatformUnavailable(f"{platform}: {result['unconfirmed']} items without a receipt after retries: "
                                  f"{'; '.join(result['errors'][:2])}")
    return told(result)


@task(multiple_outputs=False, trigger_rule="all_done")
def return_rejections() -> dict:
    """Write the platforms' rejections back to the departments."""
    from etl import jobs

    return told(jobs.return_rejections())


@task(multiple_outputs=False)
def delivered(*results: dict) -> dict:
    """Both platforms took the upload; the run fails here when a push failed (the rejections still go back)."""
    return {r["platform"]: {"accepted": r["accepted"], "rejected": r["rejected"], "unconfirmed": r["unconfirmed"]}
            for r in results}


@dag(
    dag_id="publish_publicity",
    schedule=AssetOrTimeSchedule(timetable=local_schedule("0 1 * * *"),
                                 assets=record_type_asset("license") | record_type_asset("penalty")),
    description="双公示 upload to the provincial and national platforms",
    # Started at 01:00, due by 06:00; asset-triggered runs get the same five hours.
    deadline=DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=timedelta(hours=5),
                           callback=SyncCallback(notify_deadline_missed), name="publicity_upload_by_0600"),
    **dag_defaults(__doc__, "publish", "双公示"),
)
def publish_publicity():
    pushes = [push_publicity.override(task_id=f"push_{platform}", pool=pool)(platform)
              for platform, pool in PLATFORM_POOLS.items()]
    pushes >> return_rejections()
    delivered(*pushes)


publish_publicity()
