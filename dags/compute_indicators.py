"""City credit monitoring indicators, nightly, and the national monitoring platform's feed.

At 02:30 Asia/Shanghai the credit office's monitoring-item files are read, the running month's
indicators are computed from the warehouse and submitted; on the 1st the month just closed is computed
and submitted as well (the monthly ranking uses closed months). The monitoring items (policy documents,
news, risk alerts, rating results, joint-punishment cases) are delivered once each. Values are stored per
month and department (`dw.fact_indicator_value`);
`creditwh indicators --period YYYY-MM` shows the tree and where points are lost.
"""

from __future__ import annotations

from _common import POOL_PLATFORM_NATIONAL, TIMEZONE, dag_defaults, local_schedule, told
from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException


def _month(closed: bool) -> str:
    """The running month of the run's date, or the month before it; None dates (manual runs) mean now."""
    import pendulum

    context = get_current_context()
    at = context.get("logical_date") or pendulum.now(TIMEZONE)
    at = pendulum.instance(at).in_timezone(TIMEZONE)
    if closed:
        if at.day != 1 and context["dag_run"].run_type == "scheduled":
            raise AirflowSkipException("the closed month is computed on the 1st")
        at = at.subtract(months=1)
    return at.strftime("%Y-%m")


@task(multiple_outputs=False)
def compute(closed: bool) -> dict:
    """Compute every computable leaf indicator of the month and roll points up."""
    from etl import jobs

    return told(jobs.compute_indicators(_month(closed)))


@task(multiple_outputs=False)
def submit(computed: dict) -> dict:
    """Submit the month's values to the national monitoring platform."""
    from etl import jobs

    return told(jobs.push_indicators(computed["period"]))


@task(multiple_outputs=False)
def take_items() -> dict:
    """Read the credit office's monitoring-item files from its drop folder."""
    from etl import jobs

    return told(jobs.take_indicator_items())


@task(multiple_outputs=False)
def submit_items() -> dict:
    """Deliver the monitoring items not yet accepted to the national monitoring platform."""
    from etl import jobs

    return told(jobs.push_indicator_items())


@dag(dag_id="compute_indicators", schedule=local_schedule("30 2 * * *"),
     description="City credit monitoring indicators, computed and submitted nightly",
     **dag_defaults(__doc__, "indicators"))
def compute_indicators():
    items = take_items()
    items >> submit_items.override(pool=POOL_PLATFORM_NATIONAL)()
    for closed, name in ((False, "running_month"), (True, "closed_month")):
        computed = compute.override(task_id=f"compute_{name}")(closed)
        items >> computed
        submit.override(task_id=f"submit_{name}", pool=POOL_PLATFORM_NATIONAL)(computed)


compute_indicators()
