"""Maintenance, daily at 03:30 Asia/Shanghai, after the night's ingest and publishing.

- `expire_publicity`: close the publicity windows (公示期) that have run out (`etl.publish`);
- `reconcile_provincial`, `reconcile_national`: compare what each upstream platform holds with what
  was sent to it, each in its platform's pool so reconciliation and publishing share its rate limit;
- `build_data_docs`: render any validation page still missing and rebuild the Great Expectations Data
  Docs index over the day's validations;
- `analyze_warehouse`: refresh the subject profiles still marked, ANALYZE the `dw` and `audit` tables once
  the day's changes are in, and VACUUM the staging and profile tables (each load deletes rows from them).
"""

from __future__ import annotations

from _common import PLATFORM_POOLS, dag_defaults, local_schedule, told
from airflow.sdk import dag, task


@task(multiple_outputs=False)
def expire_publicity() -> dict:
    """Close publicity windows that have run out."""
    from etl import jobs

    return told(jobs.expire_publicity())


@task(multiple_outputs=False)
def reconcile(platform: str) -> dict:
    """Compare a platform's records with what was sent to it."""
    from etl import jobs

    return told(jobs.reconcile(platform))


@task(multiple_outputs=False)
def build_data_docs() -> dict:
    """Rebuild the Great Expectations Data Docs index."""
    from etl import jobs

    return told(jobs.build_data_docs())


@task(multiple_outputs=False)
def analyze_warehouse() -> dict:
    """Refresh the planner statistics of the warehouse and audit tables."""
    from etl import jobs

    return told(jobs.analyze_warehouse())


@dag(dag_id="maintenance", schedule=local_schedule("30 3 * * *"),
     description="Expire publicity windows, reconcile with the platforms, Data Docs, ANALYZE",
     **dag_defaults(__doc__, "maintenance"))
def maintenance():
    expired = expire_publicity()
    for platform, pool in PLATFORM_POOLS.items():
        expired >> reconcile.override(task_id=f"reconcile_{platform}", pool=pool)(platform)
    expired >> analyze_warehouse()
    build_data_docs()


maintenance()
