"""Tests for slas.business_time: pure Python, no Django needed.

Table-driven cases pin exact due instants and elapsed times (DST in both hemispheres, holidays, lunch
breaks, overnight shifts, 24x7, microseconds, spec errors); hypothesis properties compare the fast
span index with an obviously-correct reference that looks at every UTC minute through zoneinfo.
"""

from __future__ import annotations

import functools
import json
import pickle
import threading
from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slas.business_time import (
    WEEKDAYS,
    Calendar,
    CalendarSpecError,
    add,
    elapsed,
    is_working,
    next_working_instant,
)

NY = ZoneInfo("America/New_York")
SYD = ZoneInfo("Australia/Sydney")
LON = ZoneInfo("Europe/London")
LHI = ZoneInfo("Australia/Lord_Howe")
H = 3600
DAY = 86_400
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")


def ny(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=NY, fold=fold)


def syd(*args: int) -> datetime:
    return datetime(*args, tzinfo=SYD)


def lon(*args: int) -> datetime:
    return datetime(*args, tzinfo=LON)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def every(days: tuple[str, ...], *intervals: tuple[str, str]) -> dict[str, list[list[str]]]:
    return {day: [list(pair) for pair in intervals] for day in days}


def calendar(tz: str, week: dict | None, holidays: tuple[str, ...] = ()) -> Calendar:
    return Calendar.from_spec({"timezone": tz, "week": week, "holidays": list(holidays)})


US_2026 = (
    "2026-01-01", "2026-01-19", "2026-02-16", "2026-05-25", "2026-06-19", "2026-07-03",
    "2026-09-07", "2026-10-12", "2026-11-11", "2026-11-26", "2026-12-25",
)  # fmt: skip
NY_OFFICE = calendar("America/New_York", every(WORKDAYS, ("09:00", "17:00")), US_2026)
NY_LUNCH = calendar("America/New_York", every(WORKDAYS, ("09:00", "12:00"), ("13:00", "17:00")))
NY_NIGHTS = calendar(  # Monday night to Saturday morning
    "America/New_York",
    {**every(WORKDAYS, ("22:00", "24:00")), "sat": [["00:00", "06:00"]]}
    | {day: [["00:00", "06:00"], ["22:00", "24:00"]] for day in ("tue", "wed", "thu", "fri")},
)
NY_NIGHTLY = calendar("America/New_York", every(WEEKDAYS, ("22:00", "24:00"), ("00:00", "06:00")))
NY_EARLY = calendar("America/New_York", every(WEEKDAYS, ("01:00", "04:00")))
NY_FULL_DAYS = calendar("America/New_York", every(WEEKDAYS, ("00:00", "24:00")))
NY_ALWAYS = Calendar.always("America/New_York")
NY_ALWAYS_JULY4 = calendar("America/New_York", None, ("2026-07-04",))
SYD_OFFICE = calendar("Australia/Sydney", every(WORKDAYS, ("09:00", "17:00")))
SYD_ALWAYS = Calendar.always("Australia/Sydney")
LON_OFFICE = calendar("Europe/London", every(WORKDAYS, ("09:00", "17:00")))
LON_EARLY = calendar("Europe/London", every(WEEKDAYS, ("00:30", "02:30")))
LON_ALWAYS = Calendar.always("Europe/London")
LHI_ALWAYS = Calendar.always("Australia/Lord_Howe")
UTC_ALWAYS = Calendar.always()
UTC_NEW_YEAR = calendar("UTC", None, ("2026-01-01",))

# (calendar, start, seconds, due in UTC)
ADD_CASES = [
    # New York 9-17 Mon-Fri with US holidays
    pytest.param(NY_OFFICE, ny(2026, 6, 1, 9), 8 * H, utc(2026, 6, 1, 21), id="8h-ends-at-close"),
    pytest.param(NY_OFFICE, ny(2026, 6, 1, 13), 8 * H, utc(2026, 6, 2, 17), id="8h-rolls-over-night"),
    pytest.param(NY_OFFICE, ny(2026, 6, 1, 9), 40 * H, utc(2026, 6, 5, 21), id="40h-one-week"),
    pytest.param(NY_OFFICE, ny(2026, 6, 1, 7), 1 * H, utc(2026, 6, 1, 14), id="start-before-opening"),
    pytest.param(NY_OFFICE, ny(2026, 6, 1, 18, 30), 1 * H, utc(2026, 6, 2, 14), id="start-after-close"),
    pytest.param(NY_OFFICE, ny(2026, 6, 6, 10), 1 * H, utc(2026, 6, 8, 14), id="start-on-saturday"),
    pytest.param(NY_OFFICE, utc(2026, 6, 1, 13), 8 * H, utc(2026, 6, 1, 21), id="start-given-in-utc"),
    pytest.param(NY_OFFICE, ny(2026, 6, 1, 16, 59, 59), 1, utc(2026, 6, 1, 21), id="last-second"),
    pytest.param(NY_OFFICE, ny(2026, 3, 6, 16), 2 * H, utc(2026, 3, 9, 14), id="ny-spring-forward-weekend"),
    pytest.param(NY_OFFICE, ny(2026, 10, 30, 16), 2 * H, utc(2026, 11, 2, 15), id="ny-fall-back-weekend"),
    pytest.param(NY_OFFICE, ny(2026, 12, 24, 16), 2 * H, utc(2026, 12, 28, 15), id="christmas-friday"),
    pytest.param(NY_OFFICE, ny(2026, 12, 25, 11), 1 * H, utc(2026, 12, 28, 15), id="start-on-holiday"),
    pytest.param(NY_OFFICE, ny(2026, 11, 25, 9), 16 * H, utc(2026, 11, 27, 22), id="thanksgiving"),
    # zero targets: the first working instant at or after start
    pytest.param(NY_OFFICE, ny(2026, 6, 1, 10), 0, utc(2026, 6, 1, 14), id="zero-in-hours"),
    pytest.param(NY_OFFICE, ny(2026, 6, 1, 9), 0, utc(2026, 6, 1, 13), id="zero-at-opening"),
    pytest.param(NY_OFFICE, ny(2026, 6, 1, 17), 0, utc(2026, 6, 2, 13), id="zero-at-close"),
    pytest.param(NY_OFFICE, ny(2026, 7, 3, 10), 0, utc(2026, 7, 6, 13), id="zero-on-holiday"),
    pytest.param(NY_LUNCH, ny(2026, 6, 1, 12, 30), 0, utc(2026, 6, 1, 17), id="zero-at-lunch"),
    pytest.param(UTC_ALWAYS, utc(2026, 6, 1, 12, 34, 56), 0, utc(2026, 6, 1, 12, 34, 56), id="zero-24x7"),
    # microseconds: instants belong to their whole second
    pytest.param(NY_OFFICE, ny(2026, 6, 1, 10, 0, 0, 700_000), 1, utc(2026, 6, 1, 14, 0, 1), id="us-start"),
    pytest.param(NY_OFFICE, ny(2026, 6, 1, 16, 59, 59, 500_000), 1, utc(2026, 6, 1, 21), id="us-last-second"),
    pytest.param(
        NY_OFFICE,
        ny(2026, 6, 1, 10, 0, 0, 250_000),
        0,
        utc(2026, 6, 1, 14, 0, 0, 250_000),
        id="us-zero-working",
    ),
    pytest.param(NY_OFFICE, ny(2026, 6, 1, 8, 59, 59, 999_999), 0, utc(2026, 6, 1, 13), id="us-zero-closed"),
    # lunch break 09:00-12:00 + 13:00-17:00
    pytest.param(NY_LUNCH, ny(2026, 6, 1, 11), 1 * H, utc(2026, 6, 1, 16), id="lunch-ends-at-noon"),
    pytest.param(NY_LUNCH, ny(2026, 6, 1, 11), 2 * H, utc(2026, 6, 1, 18), id="lunch-skipped"),
    pytest.param(NY_LUNCH, ny(2026, 6, 1, 12, 15), 30 * 60, utc(2026, 6, 1, 17, 30), id="start-at-lunch"),
    pytest.param(NY_LUNCH, ny(2026, 6, 1, 9), 7 * H, utc(2026, 6, 1, 21), id="lunch-full-day"),
    # overnight shifts: mon..fri 22:00-24:00 + tue..sat 00:00-06:00
    pytest.param(NY_NIGHTS, ny(2026, 6, 1, 22), 8 * H, utc(2026, 6, 2, 10), id="night-ends-at-0600"),
    pytest.param(NY_NIGHTS, ny(2026, 6, 1, 23), 8 * H, utc(2026, 6, 3, 3), id="night-rolls-over"),
    pytest.param(NY_NIGHTS, ny(2026, 6, 1, 12), 1 * H, utc(2026, 6, 2, 3), id="night-start-at-noon"),
    pytest.param(NY_NIGHTS, ny(2026, 6, 1, 23, 30), 1 * H, utc(2026, 6, 2, 4, 30), id="night-midnight"),
    pytest.param(NY_NIGHTS, ny(2026, 6, 6, 5), 2 * H, utc(2026, 6, 9, 3), id="night-weekend"),
    pytest.param(NY_NIGHTLY, ny(2026, 3, 7, 22), 7 * H, utc(2026, 3, 8, 10), id="night-spring-forward"),
    pytest.param(NY_NIGHTLY, ny(2026, 10, 31, 22), 9 * H, utc(2026, 11, 1, 11), id="night-fall-back"),
    # 01:00-04:00 on US DST days: 2 h in spring, 4 h in autumn
    pytest.param(NY_EARLY, ny(2026, 3, 8), 2 * H, utc(2026, 3, 8, 8), id="gap-day-2h"),
    pytest.param(NY_EARLY, ny(2026, 3, 8), 2 * H + 1, utc(2026, 3, 9, 5, 0, 1), id="gap-day-2h-plus-1s"),
    pytest.param(NY_EARLY, ny(2026, 11, 1), 1 * H, utc(2026, 11, 1, 6), id="repeated-hour-1h"),
    pytest.param(NY_EARLY, ny(2026, 11, 1), 4 * H, utc(2026, 11, 1, 9), id="repeated-hour-4h"),
    pytest.param(NY_EARLY, ny(2026, 11, 1, 1, 30), 1 * H, utc(2026, 11, 1, 6, 30), id="fold-0"),
    pytest.param(NY_EARLY, ny(2026, 11, 1, 1, 30, fold=1), 1 * H, utc(2026, 11, 1, 7, 30), id="fold-1"),
    # Sydney: DST ends on 5 April 2026 and starts on 4 October 2026
    pytest.param(SYD_OFFICE, syd(2026, 4, 3, 16), 2 * H, utc(2026, 4, 6, 0), id="syd-autumn-weekend"),
    pytest.param(SYD_OFFICE, syd(2026, 10, 2, 16), 2 * H, utc(2026, 10, 4, 23), id="syd-spring-weekend"),
    pytest.param(SYD_ALWAYS, syd(2026, 4, 5), 25 * H, utc(2026, 4, 5, 14), id="syd-25h-day"),
    pytest.param(SYD_ALWAYS, syd(2026, 10, 4), 23 * H, utc(2026, 10, 4, 13), id="syd-23h-day"),
    # London: BST starts on 29 March 2026 and ends on 25 October 2026
    pytest.param(LON_OFFICE, lon(2026, 3, 27, 16), 2 * H, utc(2026, 3, 30, 9), id="lon-spring-weekend"),
    pytest.param(LON_OFFICE, lon(2026, 10, 23, 16), 2 * H, utc(2026, 10, 26, 10), id="lon-autumn-weekend"),
    pytest.param(LON_EARLY, lon(2026, 3, 29), 1 * H, utc(2026, 3, 29, 1, 30), id="lon-gap-1h"),
    pytest.param(LON_EARLY, lon(2026, 3, 29), 1 * H + 1, utc(2026, 3, 29, 23, 30, 1), id="lon-gap-next-day"),
    pytest.param(LON_EARLY, lon(2026, 10, 25), 3 * H, utc(2026, 10, 25, 2, 30), id="lon-repeat-3h"),
    # 24x7
    pytest.param(UTC_ALWAYS, utc(2026, 6, 1, 12), 3 * DAY + 5, utc(2026, 6, 4, 12, 0, 5), id="utc-24x7"),
    pytest.param(NY_ALWAYS, ny(2026, 3, 7, 12), 24 * H, utc(2026, 3, 8, 17), id="ny-24x7-real-hours"),
    pytest.param(NY_ALWAYS_JULY4, utc(2026, 7, 4), 5 * H, utc(2026, 7, 5, 5), id="24x7-local-holiday"),
    pytest.param(UTC_NEW_YEAR, utc(2025, 12, 31, 23), 2 * H, utc(2026, 1, 2, 1), id="24x7-utc-holiday"),
]


@pytest.mark.parametrize(("cal", "start", "seconds", "due"), ADD_CASES)
def test_add(cal: Calendar, start: datetime, seconds: int, due: datetime) -> None:
    result = add(start, seconds, cal)
    assert result == due
    assert result.tzinfo is UTC
    assert elapsed(start, result, cal) == seconds
    if seconds:
        assert elapsed(start, result - timedelta(seconds=1), cal) == seconds - 1


# (calendar, start, end, working seconds)
ELAPSED_CASES = [
    pytest.param(NY_ALWAYS, ny(2026, 3, 8), ny(2026, 3, 9), 23 * H, id="ny-24x7-spring-23h"),
    pytest.param(NY_ALWAYS, ny(2026, 11, 1), ny(2026, 11, 2), 25 * H, id="ny-24x7-fall-25h"),
    pytest.param(NY_FULL_DAYS, ny(2026, 3, 8), ny(2026, 3, 9), 23 * H, id="ny-00-24-spring-23h"),
    pytest.param(NY_FULL_DAYS, ny(2026, 11, 1), ny(2026, 11, 2), 25 * H, id="ny-00-24-fall-25h"),
    pytest.param(NY_EARLY, ny(2026, 3, 8), ny(2026, 3, 9), 2 * H, id="ny-01-04-spring-2h"),
    pytest.param(NY_EARLY, ny(2026, 11, 1), ny(2026, 11, 2), 4 * H, id="ny-01-04-fall-4h"),
    pytest.param(NY_EARLY, ny(2026, 6, 1), ny(2026, 6, 2), 3 * H, id="ny-01-04-plain-3h"),
    pytest.param(NY_OFFICE, ny(2026, 3, 9), ny(2026, 3, 10), 8 * H, id="ny-9-17-after-spring-8h"),
    pytest.param(NY_OFFICE, ny(2026, 11, 2), ny(2026, 11, 3), 8 * H, id="ny-9-17-after-fall-8h"),
    pytest.param(NY_OFFICE, ny(2026, 3, 6, 9), ny(2026, 3, 9, 17), 16 * H, id="ny-spring-weekend"),
    pytest.param(NY_OFFICE, ny(2026, 10, 26), ny(2026, 11, 2), 40 * H, id="ny-fall-week"),
    pytest.param(NY_OFFICE, ny(2026, 11, 23), ny(2026, 11, 30), 32 * H, id="thanksgiving-week"),
    pytest.param(NY_OFFICE, ny(2026, 12, 24, 9), ny(2026, 12, 28, 17), 16 * H, id="christmas"),
    pytest.param(NY_OFFICE, ny(2026, 12, 25, 10), ny(2026, 12, 28, 10), 1 * H, id="start-on-holiday"),
    pytest.param(NY_OFFICE, ny(2026, 1, 1), ny(2027, 1, 1), 250 * 8 * H, id="ny-office-year-2026"),
    pytest.param(NY_OFFICE, ny(2026, 6, 1, 17), ny(2026, 6, 1, 9), -8 * H, id="reversed"),
    pytest.param(NY_OFFICE, ny(2026, 6, 6, 10), ny(2026, 6, 7, 10), 0, id="weekend"),
    pytest.param(NY_OFFICE, ny(2026, 6, 1, 12), utc(2026, 6, 1, 17), 1 * H, id="mixed-zones"),
    pytest.param(NY_LUNCH, ny(2026, 6, 1, 8), ny(2026, 6, 1, 18), 7 * H, id="lunch-day"),
    pytest.param(NY_LUNCH, ny(2026, 6, 1, 11, 30), ny(2026, 6, 1, 13, 30), 1 * H, id="across-lunch"),
    pytest.param(NY_NIGHTS, ny(2026, 6, 1), ny(2026, 6, 8), 40 * H, id="night-week"),
    pytest.param(NY_NIGHTLY, ny(2026, 3, 7, 22), ny(2026, 3, 8, 6), 7 * H, id="night-spring-7h"),
    pytest.param(NY_NIGHTLY, ny(2026, 10, 31, 22), ny(2026, 11, 1, 6), 9 * H, id="night-fall-9h"),
    pytest.param(SYD_ALWAYS, syd(2026, 4, 5), syd(2026, 4, 6), 25 * H, id="syd-24x7-april-25h"),
    pytest.param(SYD_ALWAYS, syd(2026, 10, 4), syd(2026, 10, 5), 23 * H, id="syd-24x7-october-23h"),
    pytest.param(SYD_OFFICE, syd(2026, 4, 3), syd(2026, 4, 7), 16 * H, id="syd-office-april"),
    pytest.param(SYD_OFFICE, syd(2026, 10, 2), syd(2026, 10, 6), 16 * H, id="syd-office-october"),
    pytest.param(
        LHI_ALWAYS,
        datetime(2026, 4, 5, tzinfo=LHI),
        datetime(2026, 4, 6, tzinfo=LHI),
        24 * H + 1800,
        id="lord-howe-half-hour-back",
    ),
    pytest.param(
        LHI_ALWAYS,
        datetime(2026, 10, 4, tzinfo=LHI),
        datetime(2026, 10, 5, tzinfo=LHI),
        23 * H + 1800,
        id="lord-howe-half-hour-forward",
    ),
    pytest.param(LON_ALWAYS, lon(2026, 3, 29), lon(2026, 3, 30), 23 * H, id="lon-24x7-march-23h"),
    pytest.param(LON_ALWAYS, lon(2026, 10, 25), lon(2026, 10, 26), 25 * H, id="lon-24x7-october-25h"),
    pytest.param(LON_EARLY, lon(2026, 3, 29), lon(2026, 3, 30), 1 * H, id="lon-0030-0230-march-1h"),
    pytest.param(LON_EARLY, lon(2026, 10, 25), lon(2026, 10, 26), 3 * H, id="lon-0030-0230-october-3h"),
    pytest.param(LON_OFFICE, lon(2026, 3, 27, 9), lon(2026, 3, 30, 17), 16 * H, id="lon-office-march"),
    pytest.param(NY_ALWAYS_JULY4, utc(2026, 7, 4), utc(2026, 7, 5), 4 * H, id="holiday-is-a-local-date"),
    pytest.param(UTC_NEW_YEAR, utc(2025, 12, 31), utc(2026, 1, 3), 48 * H, id="24x7-utc-holiday"),
    pytest.param(UTC_ALWAYS, utc(2026, 1, 1), utc(2026, 1, 2, 0, 0, 7), DAY + 7, id="utc-24x7"),
    pytest.param(
        NY_OFFICE,
        ny(2026, 6, 1, 10, 0, 0, 900_000),
        ny(2026, 6, 1, 10, 0, 1, 100_000),
        1,
        id="us-cross-second",
    ),
    pytest.param(
        NY_OFFICE,
        ny(2026, 6, 1, 10, 0, 0, 100_000),
        ny(2026, 6, 1, 10, 0, 0, 900_000),
        0,
        id="us-same-second",
    ),
    pytest.param(
        NY_OFFICE, ny(2026, 6, 1, 10, 0, 1, 100_000), ny(2026, 6, 1, 10, 0, 0, 900_000), -1, id="us-reversed"
    ),
]


@pytest.mark.parametrize(("cal", "start", "end", "seconds"), ELAPSED_CASES)
def test_elapsed(cal: Calendar, start: datetime, end: datetime, seconds: int) -> None:
    assert elapsed(start, end, cal) == seconds
    assert elapsed(end, start, cal) == -seconds


@pytest.mark.parametrize(
    ("cal", "instant", "working", "next_instant"),
    [
        pytest.param(NY_OFFICE, ny(2026, 6, 1, 9), True, utc(2026, 6, 1, 13), id="opening"),
        pytest.param(
            NY_OFFICE,
            ny(2026, 6, 1, 16, 59, 59, 999_999),
            True,
            utc(2026, 6, 1, 20, 59, 59, 999_999),
            id="last-microsecond",
        ),
        pytest.param(NY_OFFICE, ny(2026, 6, 1, 17), False, utc(2026, 6, 2, 13), id="close"),
        pytest.param(NY_OFFICE, ny(2026, 12, 25, 12), False, utc(2026, 12, 28, 14), id="holiday"),
        pytest.param(NY_EARLY, ny(2026, 3, 8, 1, 59, 59), True, utc(2026, 3, 8, 6, 59, 59), id="before-gap"),
        pytest.param(NY_EARLY, ny(2026, 3, 8, 3), True, utc(2026, 3, 8, 7), id="after-gap"),
        pytest.param(NY_EARLY, ny(2026, 3, 8, 4), False, utc(2026, 3, 9, 5), id="gap-day-close"),
        pytest.param(
            NY_EARLY, ny(2026, 11, 1, 1, 30, fold=1), True, utc(2026, 11, 1, 6, 30), id="repeated-hour"
        ),
        pytest.param(
            NY_ALWAYS_JULY4, utc(2026, 7, 4, 3, 59, 59), True, utc(2026, 7, 4, 3, 59, 59), id="july-3-ny"
        ),
        pytest.param(NY_ALWAYS_JULY4, utc(2026, 7, 4, 4), False, utc(2026, 7, 5, 4), id="july-4-ny"),
    ],
)
def test_is_working_and_next_working_instant(
    cal: Calendar, instant: datetime, working: bool, next_instant: datetime
) -> None:
    assert is_working(instant, cal) is working
    result = next_working_instant(instant, cal)
    assert result == next_instant
    assert result.tzinfo is UTC


# --------------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------------


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 6, 1, 10)
    aware = utc(2026, 6, 1, 10)
    with pytest.raises(ValueError, match="start"):
        add(naive, 60, NY_OFFICE)
    with pytest.raises(ValueError, match="start"):
        add(naive, 0, NY_OFFICE)
    with pytest.raises(ValueError, match="start"):
        elapsed(naive, aware, NY_OFFICE)
    with pytest.raises(ValueError, match="end"):
        elapsed(aware, naive, NY_OFFICE)
    with pytest.raises(ValueError, match="instant"):
        is_working(naive, NY_OFFICE)
    with pytest.raises(ValueError, match="instant"):
        next_working_instant(naive, NY_OFFICE)


def test_seconds_must_be_a_non_negative_integer() -> None:
    start = utc(2026, 6, 1, 10)
    with pytest.raises(ValueError, match="negative"):
        add(start, -1, NY_OFFICE)
    with pytest.raises(TypeError):
        add(start, 1.5, NY_OFFICE)  # type: ignore[arg-type]


def test_instants_outside_the_supported_range_overflow() -> None:
    with pytest.raises(OverflowError):
        elapsed(utc(1, 1, 1), utc(2026, 1, 1), UTC_ALWAYS)
    with pytest.raises(OverflowError):
        add(utc(9999, 12, 31), 1, UTC_ALWAYS)


# --------------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------------

NINE_TO_FIVE = every(WORKDAYS, ("09:00", "17:00"))


def _spec(**changes: object) -> dict:
    return {"timezone": "America/New_York", "week": NINE_TO_FIVE, "holidays": []} | changes


SPEC_ERRORS = [
    pytest.param(["UTC"], "spec", "spec: expected an object, got list", id="not-an-object"),
    pytest.param({"timezone": "UTC", "holiday": []}, "holiday", "holiday: unknown key", id="unknown-key"),
    pytest.param({"week": NINE_TO_FIVE}, "timezone", "timezone: is required", id="no-timezone"),
    pytest.param(_spec(timezone=5), "timezone", "timezone: expected an IANA time zone name", id="tz-type"),
    pytest.param(
        _spec(timezone="Mars/Olympus_Mons"),
        "timezone",
        'timezone: unknown time zone "Mars/Olympus_Mons"',
        id="unknown-tz",
    ),
    pytest.param(_spec(timezone="America"), "timezone", "unknown time zone", id="tz-directory"),
    pytest.param(_spec(timezone="../etc/passwd"), "timezone", "unknown time zone", id="tz-path"),
    pytest.param(_spec(timezone=""), "timezone", "unknown time zone", id="tz-empty"),
    pytest.param(_spec(week=[["09:00", "17:00"]]), "week", "week: expected an object", id="week-type"),
    pytest.param(
        _spec(week={"monday": [["09:00", "17:00"]]}),
        "week.monday",
        "week.monday: unknown weekday",
        id="unknown-weekday",
    ),
    pytest.param(_spec(week={"Mon": [["09:00", "17:00"]]}), "week.Mon", "unknown weekday", id="weekday-case"),
    pytest.param(_spec(week={"mon": "09:00-17:00"}), "week.mon", "week.mon: expected a list", id="day-type"),
    pytest.param(_spec(week={"mon": None}), "week.mon", "expected a list", id="day-null"),
    pytest.param(
        _spec(week={"mon": ["09:00-17:00"]}), "week.mon[0]", "week.mon[0]: expected a", id="pair-type"
    ),
    pytest.param(_spec(week={"mon": [["09:00"]]}), "week.mon[0]", "expected a", id="pair-length"),
    pytest.param(
        _spec(week={"mon": [["9:00", "17:00"]]}),
        "week.mon[0]",
        'week.mon[0]: start "9:00" is not a valid "HH:MM" time',
        id="one-digit-hour",
    ),
    pytest.param(_spec(week={"mon": [["09h00", "17:00"]]}), "week.mon[0]", "not a valid", id="letters"),
    pytest.param(
        _spec(week={"mon": [["09:00", "1700"]]}), "week.mon[0]", 'end "1700" is not a valid', id="no-colon"
    ),
    pytest.param(
        _spec(week={"mon": [[900, "17:00"]]}), "week.mon[0]", "start 900 is not a valid", id="int-time"
    ),
    pytest.param(_spec(week={"mon": [["09:00:00", "17:00"]]}), "week.mon[0]", "not a valid", id="seconds"),
    pytest.param(
        _spec(week={"mon": [["09:00", "25:00"]]}),
        "week.mon[0]",
        'week.mon[0]: end "25:00" is out of range',
        id="hour-25",
    ),
    pytest.param(_spec(week={"mon": [["09:00", "24:30"]]}), "week.mon[0]", "out of range", id="24-30"),
    pytest.param(_spec(week={"mon": [["09:60", "17:00"]]}), "week.mon[0]", "out of range", id="minute-60"),
    pytest.param(
        _spec(week={"mon": [["09:00", "12:00"], ["09:00", "08:00"]]}),
        "week.mon[1]",
        'week.mon[1]: end "08:00" is not after start "09:00"',
        id="end-before-start",
    ),
    pytest.param(
        _spec(week={"mon": [["09:00", "09:00"]]}), "week.mon[0]", "is not after start", id="empty-interval"
    ),
    pytest.param(
        _spec(week={"mon": [["24:00", "24:00"]]}), "week.mon[0]", "is not after start", id="start-24"
    ),
    pytest.param(
        _spec(week={"tue": [["09:00", "12:00"], ["11:00", "14:00"]]}),
        "week.tue[1]",
        'week.tue[1]: ["11:00", "14:00"] overlaps week.tue[0] ["09:00", "12:00"]',
        id="overlap",
    ),
    pytest.param(
        _spec(week={"tue": [["11:00", "14:00"], ["09:00", "12:00"]]}),
        "week.tue[0]",
        "overlaps week.tue[1]",
        id="overlap-unsorted",
    ),
    pytest.param(
        _spec(week={"wed": [["09:00", "17:00"], ["10:00", "11:00"]]}),
        "week.wed[1]",
        "overlaps",
        id="contained",
    ),
    pytest.param(
        _spec(week={"wed": [["09:00", "17:00"], ["09:00", "17:00"]]}),
        "week.wed[1]",
        "overlaps",
        id="duplicate",
    ),
    pytest.param(_spec(week={}), "week", "week: no working time", id="empty-week"),
    pytest.param(_spec(week={"mon": [], "sun": []}), "week", "week: no working time", id="no-working-time"),
    pytest.param(_spec(holidays="2026-12-25"), "holidays", "holidays: expected a list", id="holidays-type"),
    pytest.param(
        _spec(holidays=["2026-12-25", "2026-13-01"]),
        "holidays[1]",
        'holidays[1]: "2026-13-01" is not a valid "YYYY-MM-DD" date',
        id="month-13",
    ),
    pytest.param(_spec(holidays=["2026-02-30"]), "holidays[0]", "not a valid", id="feb-30"),
    pytest.param(_spec(holidays=["20261225"]), "holidays[0]", "not a valid", id="basic-format"),
    pytest.param(_spec(holidays=["25/12/2026"]), "holidays[0]", "not a valid", id="slashes"),
    pytest.param(_spec(holidays=[20261225]), "holidays[0]", "not a valid", id="int-date"),
    pytest.param(_spec(holidays=[None]), "holidays[0]", "not a valid", id="null-date"),
]


@pytest.mark.parametrize(("spec", "field", "message"), SPEC_ERRORS)
def test_spec_errors_name_the_field(spec: object, field: str, message: str) -> None:
    with pytest.raises(CalendarSpecError) as info:
        Calendar.from_spec(spec)  # type: ignore[arg-type]
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_spec_error_pickles() -> None:
    error = CalendarSpecError("week.mon[1]", 'end "08:00" is not after start "09:00"')
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.field, str(copy)) == ("week.mon[1]", str(error))


def test_to_spec_normalises() -> None:
    cal = Calendar.from_spec(
        {
            "timezone": "Europe/London",
            "week": {"fri": [["13:00", "17:00"], ["09:00", "12:00"]], "mon": [("22:00", "24:00")], "sat": []},
            "holidays": ["2026-12-25", "2026-01-01", date(2026, 12, 25)],
        }
    )
    assert cal.to_spec() == {
        "timezone": "Europe/London",
        "week": {
            "mon": [["22:00", "24:00"]],
            "tue": [],
            "wed": [],
            "thu": [],
            "fri": [["09:00", "12:00"], ["13:00", "17:00"]],
            "sat": [],
            "sun": [],
        },
        "holidays": ["2026-01-01", "2026-12-25"],
    }


@pytest.mark.parametrize(
    "cal", [NY_OFFICE, NY_LUNCH, NY_NIGHTS, NY_ALWAYS, NY_ALWAYS_JULY4, LON_EARLY, UTC_ALWAYS, UTC_NEW_YEAR]
)
def test_to_spec_round_trips(cal: Calendar) -> None:
    spec = cal.to_spec()
    assert json.loads(json.dumps(spec)) == spec
    again = Calendar.from_spec(json.loads(json.dumps(spec)))
    assert again == cal
    assert hash(again) == hash(cal)
    assert again.to_spec() == spec


def test_24x7_specs() -> None:
    assert Calendar.always().to_spec() == {"timezone": "UTC", "week": None, "holidays": []}
    assert Calendar.from_spec({"timezone": "UTC"}) == Calendar.always()
    assert Calendar.from_spec({"timezone": "UTC", "week": None, "holidays": None}) == Calendar.always("UTC")
    assert Calendar.always("Asia/Kolkata") != Calendar.always("UTC")


def test_calendar_is_immutable_hashable_and_picklable() -> None:
    cal = calendar("America/New_York", NINE_TO_FIVE, US_2026)
    add(utc(2026, 6, 1), 3600, cal)  # warm the cache: it must not travel with the pickle
    with pytest.raises(FrozenInstanceError):
        cal.timezone = "UTC"  # type: ignore[misc]
    assert {cal: 1}[NY_OFFICE] == 1
    copy = pickle.loads(pickle.dumps(cal))
    assert copy == cal
    assert hash(copy) == hash(cal)
    assert add(ny(2026, 12, 24, 16), 2 * H, copy) == utc(2026, 12, 28, 15)


# --------------------------------------------------------------------------------------------------
# Lazy extension: order of queries and threads do not matter
# --------------------------------------------------------------------------------------------------

SPREAD = [
    utc(2026, 6, 1),
    utc(2031, 2, 3, 4, 5, 6),
    utc(2019, 12, 31, 23),
    utc(2040, 3, 10, 6, 30),
    utc(2001, 9, 9),
]


def test_extension_in_both_directions_is_consistent() -> None:
    def fresh() -> Calendar:
        return calendar("America/New_York", NINE_TO_FIVE, US_2026)

    shared = fresh()
    for a in SPREAD:
        for b in SPREAD:
            assert elapsed(a, b, shared) == elapsed(a, b, fresh())
        assert add(a, 40 * H, shared) == add(a, 40 * H, fresh())
    # a week with no holidays is 40 h in any year
    assert elapsed(ny(2001, 9, 10), ny(2001, 9, 17), shared) == 40 * H
    assert elapsed(ny(2040, 3, 5), ny(2040, 3, 12), shared) == 40 * H


def test_threads_share_a_calendar_safely() -> None:
    reference = calendar("Australia/Sydney", NINE_TO_FIVE, ("2030-01-01",))
    shared = calendar("Australia/Sydney", NINE_TO_FIVE, ("2030-01-01",))
    starts = [utc(2000 + 3 * i, 1 + i % 12, 1 + i, i) for i in range(14)]
    expected = [(add(s, 40 * H, reference), elapsed(starts[0], s, reference)) for s in starts]
    barrier = threading.Barrier(8)
    results: list[list[tuple[datetime, int]]] = []
    errors: list[BaseException] = []

    def work(order: list[datetime]) -> None:
        try:
            barrier.wait()
            got = {s: (add(s, 40 * H, shared), elapsed(starts[0], s, shared)) for s in order}
            results.append([got[s] for s in starts])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(starts[i:] + starts[:i],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results == [expected] * 8


# --------------------------------------------------------------------------------------------------
# Reference implementation and hypothesis properties
# --------------------------------------------------------------------------------------------------

ZONES = (
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "America/Santiago",  # changes at midnight: a local date repeats
    "America/St_Johns",  # -03:30 / -02:30
    "Asia/Kolkata",
    "Asia/Kathmandu",  # +05:45
    "Pacific/Chatham",  # +12:45 / +13:45
    "Africa/Casablanca",  # Ramadan changes
    "Europe/Dublin",  # negative DST in tzdata
    "Asia/Gaza",
)


def _minutes(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class Reference:
    """Obviously correct, slow business time: the exact rule evaluated minute by UTC minute.

    Within one UTC minute every second has the same status: all offsets of the zones above (in the
    years tested) are whole minutes and interval bounds are whole minutes, so looking at the first
    second of a minute decides the whole minute (see ``test_reference_minutes_are_uniform``).
    """

    def __init__(self, spec: dict) -> None:
        self.zone = ZoneInfo(spec["timezone"])
        week = spec.get("week")
        if week is None:
            self.week = [[(0, DAY)]] * 7
        else:
            self.week = [
                [(60 * _minutes(a), 60 * _minutes(b)) for a, b in week.get(day, [])] for day in WEEKDAYS
            ]
        self.holidays = {date.fromisoformat(day) for day in spec.get("holidays", [])}
        self.cache: dict[int, bool] = {}

    def working(self, t: int) -> bool:
        """Is the UTC second starting at POSIX time ``t`` working?"""
        local = datetime.fromtimestamp(t, self.zone)
        if local.date() in self.holidays:
            return False
        wall = local.hour * 3600 + local.minute * 60 + local.second
        return any(a <= wall < b for a, b in self.week[local.weekday()])

    def minute_working(self, t: int) -> bool:
        minute = t - t % 60
        if minute not in self.cache:
            self.cache[minute] = self.working(minute)
        return self.cache[minute]

    def elapsed(self, a: int, b: int) -> int:
        if b < a:
            return -self.elapsed(b, a)
        total, t = 0, a
        while t < b:
            step_end = min(t - t % 60 + 60, b)
            if self.minute_working(t):
                total += step_end - t
            t = step_end
        return total

    def add(self, a: int, seconds: int) -> int:
        """The first instant at which ``elapsed(a, .)`` reaches ``seconds`` (zero: first working instant)."""
        done, t = 0, a
        while True:
            step_end = t - t % 60 + 60
            if self.minute_working(t):
                if seconds == 0:
                    return t
                if done + (step_end - t) >= seconds:
                    return t + (seconds - done)
                done += step_end - t
            t = step_end


@functools.cache
def transitions(zone_name: str) -> list[int]:
    """UTC instants (POSIX seconds) at which the zone's offset changes, 2020-2032."""
    zone = ZoneInfo(zone_name)

    def offset(t: int) -> timedelta | None:
        return datetime.fromtimestamp(t, zone).utcoffset()

    t0 = int(utc(2020, 1, 1).timestamp())
    found = []
    for day in range(13 * 366):
        low, high = t0 + day * DAY, t0 + (day + 1) * DAY
        before = offset(low)
        if offset(high) != before:
            while high - low > 1:
                mid = (low + high) // 2
                low, high = (mid, high) if offset(mid) == before else (low, mid)
            found.append(high)
    return found


def test_reference_minutes_are_uniform() -> None:
    for name in ZONES:
        zone = ZoneInfo(name)
        for t in [int(utc(2020, 1, 1).timestamp()), *transitions(name)]:
            for probe in (t - DAY, t - 1, t, t + DAY):
                assert datetime.fromtimestamp(probe, zone).utcoffset() % timedelta(minutes=1) == timedelta(0)


EVEN_HALF_HOURS = every(WEEKDAYS, *((f"{h:02d}:00", f"{h:02d}:30") for h in range(0, 24, 2)))
ODD_HALF_HOURS = every(WEEKDAYS, *((f"{h:02d}:00", f"{h:02d}:30") for h in range(1, 24, 2)))


@pytest.mark.parametrize("zone", ZONES)
def test_every_offset_change_2024_2029_matches_reference(zone: str) -> None:
    """Around each offset change, minute by minute; any 30 or 60 minute shift flips one calendar's status."""
    first, last = utc(2024, 1, 1).timestamp(), utc(2030, 1, 1).timestamp()
    changes = [t for t in transitions(zone) if first <= t < last]
    for week in (EVEN_HALF_HOURS, ODD_HALF_HOURS):
        spec = {"timezone": zone, "week": week, "holidays": []}
        cal, ref = Calendar.from_spec(spec), Reference(spec)
        for t in changes:
            start, expected = datetime.fromtimestamp(t - 3 * H, UTC), 0
            for x in range(t - 3 * H, t + 3 * H, 60):
                instant = datetime.fromtimestamp(x, UTC)
                assert elapsed(start, instant, cal) == expected, (t, x)
                working = ref.working(x)
                assert is_working(instant, cal) is working, (t, x)
                expected += 60 * working


MINUTE_OF_DAY = st.one_of(
    st.sampled_from([0, 60, 90, 120, 180, 540, 720, 780, 1020, 1320, 1380, 1440]), st.integers(0, 1440)
)


@st.composite
def day_intervals(draw: st.DrawFn) -> list[list[str]]:
    cuts = sorted(set(draw(st.lists(MINUTE_OF_DAY, max_size=7))))
    pairs = [
        [f"{a // 60:02d}:{a % 60:02d}", f"{b // 60:02d}:{b % 60:02d}"]
        for a, b in pairwise(cuts)
        if draw(st.booleans())
    ]
    return draw(st.permutations(pairs))


@st.composite
def specs(draw: st.DrawFn, zone: str, around: int) -> dict:
    """A random calendar spec; holidays fall near ``around`` (a POSIX time) so that they matter."""
    if draw(st.integers(0, 9)) == 0:
        week = None
    else:
        week = {day: draw(day_intervals()) for day in WEEKDAYS if draw(st.integers(0, 4))}
        if not any(week.values()):
            m = draw(st.integers(0, 1439))
            week[draw(st.sampled_from(WEEKDAYS))] = [[f"{m // 60:02d}:{m % 60:02d}", "24:00"]]
    first = datetime.fromtimestamp(around, UTC).date()
    holidays = [
        (first + timedelta(days=d)).isoformat() for d in draw(st.lists(st.integers(-8, 12), max_size=4))
    ]
    return {"timezone": zone, "week": week, "holidays": holidays}


def instant_near(draw: st.DrawFn, zone: str) -> int:
    """A POSIX second near one of the zone's offset changes (or anywhere in 2020-2032)."""
    changes = transitions(zone)
    if changes and draw(st.integers(0, 3)):
        anchor = draw(st.sampled_from(changes)) + draw(st.integers(-5 * DAY, 2 * DAY))
    else:
        anchor = draw(st.integers(int(utc(2020, 1, 5).timestamp()), int(utc(2032, 12, 1).timestamp())))
    return anchor - anchor % 60 if draw(st.booleans()) else anchor


@st.composite
def instants_near(draw: st.DrawFn, zone: str) -> int:
    return instant_near(draw, zone)


def as_datetime(t: int, zone: str, which: int) -> datetime:
    return datetime.fromtimestamp(t, (UTC, ZoneInfo(zone), timezone(timedelta(hours=-7)))[which])


def weekly_seconds(spec: dict) -> int:
    if spec["week"] is None:
        return 7 * DAY
    return sum(60 * (_minutes(b) - _minutes(a)) for day in spec["week"].values() for a, b in day)


PROPERTY = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY
@given(st.data())
def test_matches_reference(data: st.DataObject) -> None:
    zone = data.draw(st.sampled_from(ZONES), label="zone")
    a = data.draw(instants_near(zone), label="a")
    spec = data.draw(specs(zone, a), label="spec")
    cal = Calendar.from_spec(spec)
    ref = Reference(spec)
    which = data.draw(st.integers(0, 2), label="input zone")
    start = as_datetime(a, zone, which)

    for b in data.draw(st.lists(st.integers(a - 4 * DAY, a + 6 * DAY), min_size=1, max_size=4), label="ends"):
        assert elapsed(start, as_datetime(b, zone, which), cal) == ref.elapsed(a, b)

    available = ref.elapsed(a, a + 6 * DAY)
    if available:
        targets = st.one_of(st.sampled_from([0, 1, 60, available]), st.integers(0, min(available, 3 * DAY)))
        for s in data.draw(st.lists(targets, min_size=1, max_size=4), label="targets"):
            assert add(start, s, cal) == datetime.fromtimestamp(ref.add(a, s), UTC)
        assert next_working_instant(start, cal) == datetime.fromtimestamp(ref.add(a, 0), UTC)
    assert is_working(start, cal) is ref.working(a)


@st.composite
def calendars_and_instants(draw: st.DrawFn) -> tuple[dict, Calendar, list[datetime]]:
    zone = draw(st.sampled_from(ZONES))
    a = instant_near(draw, zone)
    spec = draw(specs(zone, a))
    spread = draw(st.sampled_from([DAY, 30 * DAY, 3 * 366 * DAY]))
    seconds = draw(st.lists(st.integers(a - spread, a + spread), min_size=3, max_size=3))
    micros = draw(st.lists(st.sampled_from([0, 0, 1, 500_000, 999_999]), min_size=3, max_size=3))
    which = draw(st.integers(0, 2))
    instants = [
        as_datetime(t, zone, which) + timedelta(microseconds=us)
        for t, us in zip(seconds, micros, strict=True)
    ]
    return spec, Calendar.from_spec(spec), instants


def targets_for(spec: dict) -> st.SearchStrategy[int]:
    """Targets up to 3 days of working time, at most about four weeks of the calendar's time."""
    top = min(3 * DAY, 4 * weekly_seconds(spec))
    return st.one_of(st.sampled_from([0, 1, 59, 60, 3600, top]), st.integers(0, top))


CHEAP = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@CHEAP
@given(calendars_and_instants(), st.data())
def test_add_then_elapsed_round_trip(
    case: tuple[dict, Calendar, list[datetime]], data: st.DataObject
) -> None:
    spec, cal, (a, _, _) = case
    s = data.draw(targets_for(spec), label="seconds")
    due = add(a, s, cal)
    assert due >= a
    assert elapsed(a, due, cal) == s
    if s:
        assert due.microsecond == 0
        assert is_working(due - timedelta(seconds=1), cal)
        assert elapsed(a, due - timedelta(seconds=1), cal) == s - 1  # due is the earliest such instant
    else:
        assert due == next_working_instant(a, cal)
        assert is_working(due, cal)
        assert due == a or not is_working(a, cal)


@CHEAP
@given(calendars_and_instants(), st.data())
def test_monotonic(case: tuple[dict, Calendar, list[datetime]], data: st.DataObject) -> None:
    spec, cal, (a, b, c) = case
    s1, s2 = sorted(data.draw(st.lists(targets_for(spec), min_size=2, max_size=2), label="targets"))
    assert add(a, s1, cal) <= add(a, s2, cal)
    b, c = sorted([b, c])
    assert elapsed(a, b, cal) <= elapsed(a, c, cal)


@CHEAP
@given(calendars_and_instants())
def test_additive_and_antisymmetric(case: tuple[dict, Calendar, list[datetime]]) -> None:
    _, cal, instants = case
    a, b, c = sorted(instants)
    assert elapsed(a, c, cal) == elapsed(a, b, cal) + elapsed(b, c, cal)
    for x in instants:
        for y in instants:
            assert elapsed(y, x, cal) == -elapsed(x, y, cal)
    assert 0 <= elapsed(a, c, cal) <= c.timestamp() - a.timestamp() + 1


@CHEAP
@given(calendars_and_instants())
def test_spec_round_trip_and_pickle(case: tuple[dict, Calendar, list[datetime]]) -> None:
    _, cal, (a, b, _) = case
    again = Calendar.from_spec(json.loads(json.dumps(cal.to_spec())))
    assert again == cal
    assert hash(again) == hash(cal)
    assert again.to_spec() == cal.to_spec()
    copy = pickle.loads(pickle.dumps(cal))
    assert copy == cal
    assert elapsed(a, b, copy) == elapsed(a, b, cal)


@CHEAP
@given(
    st.datetimes(datetime(1971, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.datetimes(datetime(1971, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.integers(0, 10**9),
)
def test_utc_24x7_is_plain_arithmetic(a: datetime, b: datetime, s: int) -> None:
    whole_a = a.replace(microsecond=0)
    assert elapsed(a, b, UTC_ALWAYS) == int((b.replace(microsecond=0) - whole_a).total_seconds())
    assert add(a, s, UTC_ALWAYS) == (whole_a + timedelta(seconds=s) if s else a)
    assert is_working(a, UTC_ALWAYS)
    assert next_working_instant(a, UTC_ALWAYS) == a
