"""`creditwh indicators`: compute a month's city credit monitoring indicators and show where points are lost."""

from __future__ import annotations

import datetime as dt

import click

from etl.config import CHINA


def _running_month() -> str:
    return dt.datetime.now(CHINA).strftime("%Y-%m")


@click.command()
@click.option("--period", default=None, help="Month YYYY-MM (default: the running month in Asia/Shanghai).")
@click.option("--edition", default="2020", show_default=True, help="Indicator edition (etl/catalog/indicators/).")
@click.option("--top", type=click.IntRange(1, 100), default=10, show_default=True,
              help="Indicators in the gap report.")
@click.option("--push", "push_to_platform", is_flag=True,
              help="Also submit the values and the monitoring items to the national platform.")
def indicators(period: str | None, edition: str, top: int, push_to_platform: bool) -> None:
    """Read the office's monitoring-item files, compute the month's indicators; print the tree with values and
    points, and the gap report with how many of the 100 points the self-estimate covers."""
    from etl.indicators import compute_indicators, gap_report, indicator_tree, render_gaps, render_tree
    from etl.indicators.items import take_office_items
    from etl.warehouse import get_engine

    engine = get_engine()
    period = period or _running_month()
    for outcome in take_office_items(engine):
        click.echo(outcome.describe())
    run = compute_indicators(engine, period, edition)
    click.echo(run.describe())
    click.echo("")
    click.echo(render_tree(indicator_tree(engine, period, edition)))
    click.echo("")
    click.echo(render_gaps(gap_report(engine, period, edition, top=top)))
    if push_to_platform:
        from etl.publish.indicators import push_indicators

        outcome = push_indicators(engine, period, edition)
        click.echo(f"national platform: {outcome['status']}"
                   + (" (already accepted before)" if outcome["already"] else f", receipt {outcome['receipt_id']}"))
        from etl.indicators.items import describe_push, push_indicator_items

        click.echo(describe_push(push_indicator_items(engine)))
