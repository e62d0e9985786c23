"""Commands for the upward feeds: push, reconcile, repair, expire."""

from __future__ import annotations

import datetime as dt
import sys

import click

from etl.config import CHINA

PLATFORMS = ("provincial", "national")


def _platforms(platform: str | None) -> tuple[str, ...]:
    return (platform,) if platform else PLATFORMS


@click.group()
def push() -> None:
    """Deliver the outbox to the upstream platforms."""


@push.command("publicity")
@click.option("--platform", type=click.Choice(PLATFORMS), default=None, help="One platform (default: both).")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=500, show_default=True,
              help="Items per signed request.")
@click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Requests in flight at once.")
def push_publicity_command(platform: str | None, batch_size: int, concurrency: int) -> None:
    """Send pending 双公示 items; print receipts per platform; return rejections to departments."""
    from etl.feedback import write_platform_rejections
    from etl.publish.push import push_publicity
    from etl.warehouse import get_engine

    engine = get_engine()
    stopped = False
    for code in _platforms(platform):
        result = push_publicity(engine, code, batch_size=batch_size, concurrency=concurrency)
        click.echo(f"{code}: accepted {result.accepted}, rejected {result.rejected}, unconfirmed {result.unconfirmed} "
                   f"({result.requests} requests, {result.seconds:.1f} s)")
        for error in result.errors[:3]:
            click.echo(f"  {error}")
        if result.stopped:
            click.echo(f"  stopped: {result.stopped}", err=True)
            stopped = True
    for path in write_platform_rejections(engine):
        click.echo(f"rejections returned to the department: {path}")
    if stopped:
        sys.exit(4)


@click.command()
@click.option("--platform", type=click.Choice(PLATFORMS), default=None, help="One platform (default: both).")
@click.option("--sample", "sample_size", type=click.IntRange(0, 10_000), default=50, show_default=True,
              help="Accepted items looked up one by one on the platform.")
def reconcile(platform: str | None, sample_size: int) -> None:
    """Compare what the warehouse believes accepted with the platform; re-queue what differs."""
    from etl.publish.reconcile import reconcile as run_reconcile
    from etl.warehouse import get_engine

    engine = get_engine()
    for code in _platforms(platform):
        result = run_reconcile(engine, code, sample_size=sample_size)
        click.echo(f"{code}: {result.groups_compared} department-day groups compared, {result.groups_different} "
                   f"differ; sampled {result.sampled}, {result.sample_missing} missing; re-queued {result.requeued}")
        for difference in result.differences[:10]:
            click.echo(f"  {difference['department_code']} {difference['decision_date']} {difference['record_type']}: "
                       f"warehouse {difference['warehouse']}, platform {difference['platform']}")


@click.command()
@click.argument("department")
@click.argument("document_number")
@click.option("--on", "repaired_on", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Date the repair was decided (default: today in Asia/Shanghai).")
def repair(department: str, document_number: str, repaired_on: dt.datetime | None) -> None:
    """信用修复: end a penalty's publicity (after its minimum period) and withdraw it upstream."""
    from etl.publicity.outbox import repair_penalty
    from etl.warehouse import get_engine

    day = repaired_on.date() if repaired_on else dt.datetime.now(CHINA).date()
    outcome = repair_penalty(get_engine(), department, document_number, day)
    click.echo(f"repaired {department} {document_number}: withdrawals queued for {outcome['withdrawals']} platform(s)")


@click.command()
def expire() -> None:
    """Withdraw records whose publicity window has ended (the maintenance DAG runs this daily)."""
    from etl.publicity.outbox import expire_publicity_windows
    from etl.warehouse import get_engine

    outcome = expire_publicity_windows(get_engine())
    click.echo(f"expired {outcome['expired']} records; {outcome['withdrawals']} withdrawals queued")


COMMANDS = (push, reconcile, repair, expire)
