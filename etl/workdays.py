"""Chinese working days (statutory holidays and 调休 make-up days) from the `holidays` library.

双公示 deadlines are counted in working days; the warehouse keeps the calendar in `dw.dim_date`
so SQL can count them too. Years whose State Council schedule the library does not hold yet are
marked estimated (weekends and fixed holidays only) rather than passed off as official.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import holidays
from holidays.countries.china import ChinaStaticHolidays

CALENDAR_START = dt.date(2000, 1, 1)
CALENDAR_END = dt.date(2035, 12, 31)


@dataclass(frozen=True)
class CalendarDay:
    date: dt.date
    is_holiday: bool
    holiday_name: str | None
    is_workday: bool
    is_workday_estimated: bool
    workday_number: int


@cache
def _china(first_year: int, last_year: int) -> holidays.HolidayBase:
    return holidays.China(years=range(first_year, last_year + 1), language="zh_CN")


def announced_years() -> frozenset[int]:
    """Years whose official holiday and make-up-day schedule the library holds."""
    return frozenset(ChinaStaticHolidays.special_public_holidays)


def is_workday(day: dt.date) -> bool:
    return _china(day.year, day.year).is_working_day(day)


def calendar(start: dt.date = CALENDAR_START, end: dt.date = CALENDAR_END) -> list[CalendarDay]:
    """Every day from start to end with its working-day facts and running working-day number."""
    china = _china(start.year, end.year)
    official = announced_years()
    days: list[CalendarDay] = []
    workday_number = 0
    day = start
    while day <= end:
        working = china.is_working_day(day)
        workday_number += working
        days.append(CalendarDay(
            date=day,
            is_holiday=day in china,
            holiday_name=china.get(day),
            is_workday=working,
            is_workday_estimated=day.year not in official,
            workday_number=workday_number,
        ))
        day += dt.timedelta(days=1)
    return days
