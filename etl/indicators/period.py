"""Monitoring periods: calendar months written YYYY-MM, measured in China time.

The national platform ranks cities month by month, so a period is a month; its bounds are given to
the SQL measures as dates, dw.dim_date keys and timestamps at midnight Asia/Shanghai, so a batch
landed at 07:00 on the 1st (23:00 UTC the day before) counts in the month it arrived in China.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta

from etl.config import CHINA
from etl.errors import UserError
from etl.workdays import CALENDAR_END, CALENDAR_START

_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Period:
    """A month [start, end) with the bound parameters every measure receives."""

    code: str
    start: dt.date
    end: dt.date

    @property
    def year_start(self) -> dt.date:
        """Twelve months before the end: the window of trailing-year measures (ratings, fulfilment)."""
        return self.end - relativedelta(years=1)

    def is_closed(self, today: dt.date | None = None) -> bool:
        """Whether the month is over in China: its values are final unless late data is recomputed."""
        today = today or dt.datetime.now(CHINA).date()
        return self.end <= today

    def parameters(self) -> dict[str, object]:
        def at(day: dt.date) -> dt.datetime:
            return dt.datetime.combine(day, dt.time(0), tzinfo=CHINA)

        def key(day: dt.date) -> int:
            return int(day.strftime("%Y%m%d"))

        return {
            "period_start": self.start, "period_end": self.end,
            "start_key": key(self.start), "end_key": key(self.end),
            "start_at": at(self.start), "end_at": at(self.end),
            "year_start": self.year_start, "year_start_key": key(self.year_start),
        }


def parse_period(text: str | Period) -> Period:
    """'2026-10' -> the month of October 2026; anything else is a UserError saying what is expected."""
    if isinstance(text, Period):
        return text
    value = str(text).strip()
    match = _PERIOD.match(value)
    month = int(match.group(2)) if match else 0
    if not match or not 1 <= month <= 12:
        raise UserError(f"统计期间应写作 YYYY-MM（如 2026-10），收到 {text!r} / "
                        f"The period must be a month written YYYY-MM, e.g. 2026-10; got {text!r}.")
    start = dt.date(int(match.group(1)), month, 1)
    end = start + relativedelta(months=1)
    # Measures count working days and trailing years through dw.dim_date, which covers these years.
    first = CALENDAR_START + relativedelta(years=1)
    if not first <= start <= CALENDAR_END:
        span = f"{first:%Y-%m} – {CALENDAR_END:%Y-%m}"
        raise UserError(f"统计期间 {value} 超出日历范围 {span} / "
                        f"The period {value} is outside the warehouse calendar ({span}).")
    return Period(code=value, start=start, end=end)
