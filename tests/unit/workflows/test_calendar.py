"""Working-day arithmetic on real Ukrainian calendars (2020-2021, before martial law, when the
Labour Code's holidays were days off) and its properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.calendar import WorkingCalendar
from workflows.models import DayCount

WORKING = DayCount.WORKING
CALENDAR = DayCount.CALENDAR
KYIV_WINTER = timezone(timedelta(hours=2))

# Ukraine's days off besides weekends, written out by hand: the Labour Code's holidays, the
# Monday after one that falls on a weekend ("observed"), and days off moved by government order
# (their working Saturdays are not modelled). test_the_hand_lists_are_the_packages checks them.
UA_2020 = {
    date(2020, 1, 1),  # New Year (Wed)
    date(2020, 1, 6),  # day off moved from Sat 11 Jan
    date(2020, 1, 7),  # Orthodox Christmas (Tue)
    date(2020, 3, 8),  # Women's Day (Sun)
    date(2020, 3, 9),  # ... observed Monday
    date(2020, 4, 19),  # Easter (Sun)
    date(2020, 4, 20),  # ... observed Monday
    date(2020, 5, 1),  # Labour Day (Fri)
    date(2020, 5, 9),  # Victory Day (Sat)
    date(2020, 5, 11),  # ... observed Monday
    date(2020, 6, 7),  # Pentecost (Sun)
    date(2020, 6, 8),  # ... observed Monday
    date(2020, 6, 28),  # Constitution Day (Sun)
    date(2020, 6, 29),  # ... observed Monday
    date(2020, 8, 24),  # Independence Day (Mon)
    date(2020, 10, 14),  # Defenders' Day (Wed)
    date(2020, 12, 25),  # Christmas (Fri)
}
UA_2021 = {
    date(2021, 1, 1),  # New Year (Fri)
    date(2021, 1, 7),  # Orthodox Christmas (Thu)
    date(2021, 1, 8),  # day off moved from Sat 16 Jan
    date(2021, 3, 8),  # Women's Day (Mon)
    date(2021, 5, 1),  # Labour Day (Sat)
    date(2021, 5, 2),  # Easter (Sun)
    date(2021, 5, 3),  # Labour Day observed (Mon)
    date(2021, 5, 4),  # Easter observed (Tue)
    date(2021, 5, 9),  # Victory Day (Sun)
    date(2021, 5, 10),  # ... observed Monday
    date(2021, 6, 20),  # Pentecost (Sun)
    date(2021, 6, 21),  # ... observed Monday
    date(2021, 6, 28),  # Constitution Day (Mon)
    date(2021, 8, 23),  # day off moved from Sat 28 Aug
    date(2021, 8, 24),  # Independence Day (Tue)
    date(2021, 10, 14),  # Defenders' Day (Thu)
    date(2021, 10, 15),  # day off moved from Sat 23 Oct
    date(2021, 12, 25),  # Christmas (Sat)
    date(2021, 12, 27),  # ... observed Monday
}
UA = WorkingCalendar.of(UA_2020 | UA_2021)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_the_hand_lists_are_the_packages() -> None:
    assert set(holidays.country_holidays("UA", years=2020)) == UA_2020
    assert set(holidays.country_holidays("UA", years=2021)) == UA_2021


def test_working_days() -> None:
    assert UA.is_working_day(date(2021, 3, 5))  # Friday
    assert not UA.is_working_day(date(2021, 3, 6))  # Saturday
    assert not UA.is_working_day(date(2021, 3, 7))  # Sunday
    assert not UA.is_working_day(date(2021, 3, 8))  # Monday, Women's Day
    assert UA.is_working_day(date(2021, 3, 9))
    assert WorkingCalendar().is_working_day(date(2021, 3, 8))  # no holidays: just a Monday


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        # Friday 5 March 2021 before Women's Day on Monday 8 March: Sat 6, Sun 7 and Mon 8 are
        # off, so day 1 is Tue 9 (due at its end) and day 3 is Thu 11.
        (utc(2021, 3, 5, 14), 1, utc(2021, 3, 10)),
        (utc(2021, 3, 5, 14), 3, utc(2021, 3, 12)),
        # Wed 30 Dec 2020 over New Year and Orthodox Christmas: Thu 31 Dec [1], Fri 1 Jan off,
        # weekend, Mon 4 [2], Tue 5 [3], Wed 6 [4], Thu 7 Christmas, Fri 8 moved day off,
        # weekend, Mon 11 Jan [5].
        (utc(2020, 12, 30, 10), 5, utc(2021, 1, 12)),
        # Fri 20 Aug 2021 over Independence Day: weekend, Mon 23 moved day off, Tue 24
        # Independence Day; Wed 25 [1], Thu 26 [2], Fri 27 [3].
        (utc(2021, 8, 20, 9), 1, utc(2021, 8, 26)),
        (utc(2021, 8, 20, 9), 3, utc(2021, 8, 28)),
        # 15 working days from Fri 11 June 2021 over weekends and two holiday Mondays: Jun 14-18
        # [1-5], weekend (Sun 20 Pentecost), Mon 21 Pentecost observed, Jun 22-25 [6-9],
        # weekend, Mon 28 Constitution Day, Jun 29-Jul 2 [10-13], weekend, Jul 5 [14], Jul 6 [15].
        (utc(2021, 6, 11, 16), 15, utc(2021, 7, 7)),
        # 15 working days from Thu 29 April 2021 over the May holidays: Fri 30 Apr [1],
        # Sat 1 - Tue 4 May off (Labour Day, Easter and their observed Mondays), May 5-7 [2-4],
        # weekend, Mon 10 Victory Day observed, May 11-14 [5-8], weekend, May 17-21 [9-13],
        # weekend, Mon 24 [14], Tue 25 [15].
        (utc(2021, 4, 29, 8), 15, utc(2021, 5, 26)),
        # The hour does not matter, only the UTC date: one second before midnight is the same day.
        (utc(2021, 3, 5, 23, 59, 59), 1, utc(2021, 3, 10)),
        # Zero days: due at the end of the triggering day, even on a day off.
        (utc(2021, 3, 5, 14), 0, utc(2021, 3, 6)),
        (utc(2021, 3, 8, 14), 0, utc(2021, 3, 9)),
    ],
)
def test_working_day_periods(start: datetime, days: int, due: datetime) -> None:
    assert UA.add_days(start, days, WORKING) == due
    assert due.tzinfo is UTC


def test_the_day_is_the_utc_day() -> None:
    # 01:00 in Kyiv on Friday 5 March is 23:00 UTC on Thursday 4 March: Fri 5 is day 1.
    assert UA.add_days(datetime(2021, 3, 5, 1, tzinfo=KYIV_WINTER), 1, WORKING) == utc(2021, 3, 6)
    assert UA.add_days(datetime(2021, 3, 5, 3, tzinfo=KYIV_WINTER), 1, WORKING) == utc(2021, 3, 10)


def test_calendar_days_are_exact_elapsed_time() -> None:
    start = utc(2021, 8, 20, 9, 30)
    assert UA.add_days(start, 45, CALENDAR) == start + timedelta(days=45)
    assert UA.add_days(start, 0, CALENDAR) == start
    # ... even when that lands on a holiday: 4 days after Fri 20 Aug is Independence Day.
    assert UA.add_days(start, 4, CALENDAR) == utc(2021, 8, 24, 9, 30)


def test_working_days_left() -> None:
    due = utc(2021, 3, 24)  # the end of Tue 23 March
    # Paused Wed 10 March: Mar 11, 12, 15-19, 22, 23 are left (the 10th itself is consumed).
    assert UA.working_days_left(utc(2021, 3, 10, 15), due) == 9
    assert UA.working_days_left(utc(2021, 3, 10, 0), due) == 9
    # Friday 5 March: Mon 8 is a holiday, so Mar 9-12, 15-19, 22 and 23 are left.
    assert UA.working_days_left(utc(2021, 3, 5, 9), due) == 11
    # On the last day, on the due moment and after it: nothing is left.
    assert UA.working_days_left(utc(2021, 3, 23, 9), due) == 0
    assert UA.working_days_left(due, due) == 0
    assert UA.working_days_left(utc(2021, 4, 1), due) == 0
    # A due moment inside a day (calendar-style): only the whole days before that day count.
    assert UA.working_days_left(utc(2021, 3, 10, 15), utc(2021, 3, 24, 15)) == 9


def test_pause_and_resume() -> None:
    start = utc(2021, 3, 1, 10)  # Monday; simplified procedure, 15 working days
    # Mar 2-5 [1-4], weekend, Mon 8 Women's Day, Mar 9-12 [5-8], Mar 15-19 [9-13], Mar 22-23.
    due = UA.add_days(start, 15, WORKING)
    assert due == utc(2021, 3, 24)
    # Information requested Wed 10 March: Mar 2-5, 9 and 10 are used, 9 days are left.
    paused = utc(2021, 3, 10, 15)
    left = UA.working_days_left(paused, due)
    assert left == 9
    # Answered a week later, Wed 17 March: the 9 days run again from Thu 18:
    # Mar 18, 19, 22-26, 29, 30.
    resumed = paused + timedelta(days=7)
    new_due = UA.add_days(resumed, left, WORKING)
    assert new_due == utc(2021, 3, 31)
    # The due moment moved by the working days the clock was paused: Mar 11, 12, 15, 16, 17.
    assert UA.working_days_left(due - timedelta(days=1), new_due) == 5


def test_errors() -> None:
    naive = datetime(2021, 3, 5, 14)
    with pytest.raises(ValueError, match="start must be a timezone-aware datetime"):
        UA.add_days(naive, 1, WORKING)
    with pytest.raises(ValueError, match="start must be a timezone-aware datetime"):
        UA.add_days(naive, 1, CALENDAR)
    with pytest.raises(ValueError, match="now must be a timezone-aware datetime"):
        UA.working_days_left(naive, utc(2021, 3, 10))
    with pytest.raises(ValueError, match="due must be a timezone-aware datetime"):
        UA.working_days_left(utc(2021, 3, 10), naive)
    with pytest.raises(ValueError, match="non-negative number of days, got -1"):
        UA.add_days(utc(2021, 3, 5), -1, WORKING)
    with pytest.raises(ValueError, match="non-negative number of days, got -1"):
        UA.add_days(utc(2021, 3, 5), -1, CALENDAR)
    with pytest.raises(TypeError, match="holidays hold dates, not datetime"):
        WorkingCalendar.of([utc(2021, 3, 8)])
    with pytest.raises(TypeError, match="frozenset of dates"):
        WorkingCalendar([date(2021, 3, 8)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes a date, not a datetime"):
        UA.is_working_day(utc(2021, 3, 8))


# Properties, on random calendars: any set of days off in 2020-2031 besides weekends.
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)
)
calendars = st.builds(
    WorkingCalendar.of,
    st.sets(st.dates(min_value=date(2020, 1, 1), max_value=date(2031, 12, 31)), max_size=300),
)
periods = st.integers(min_value=1, max_value=250)


@settings(max_examples=200, deadline=None)
@given(calendar=calendars, start=moments, days=periods)
def test_a_working_period_ends_right_after_a_working_day(
    calendar: WorkingCalendar, start: datetime, days: int
) -> None:
    due = calendar.add_days(start, days, WORKING)
    assert due.tzinfo is UTC
    assert (due.hour, due.minute, due.second, due.microsecond) == (0, 0, 0, 0)
    assert due > start
    assert calendar.is_working_day(due.date() - timedelta(days=1))


@settings(max_examples=200, deadline=None)
@given(calendar=calendars, start=moments, days=st.integers(min_value=0, max_value=250))
def test_the_days_left_at_the_start_are_the_period(
    calendar: WorkingCalendar, start: datetime, days: int
) -> None:
    assert calendar.working_days_left(start, calendar.add_days(start, days, WORKING)) == days


@settings(max_examples=200, deadline=None)
@given(calendar=calendars, start=moments, days=periods)
def test_a_longer_period_is_due_later(
    calendar: WorkingCalendar, start: datetime, days: int
) -> None:
    shorter = calendar.add_days(start, days - 1, WORKING)
    longer = calendar.add_days(start, days, WORKING)
    assert shorter < longer
    # ... by exactly one working day and the days off before it.
    skipped = (longer - shorter).days - 1
    assert all(
        not calendar.is_working_day(shorter.date() + timedelta(days=i)) for i in range(skipped)
    )


@settings(max_examples=200, deadline=None)
@given(
    calendar=calendars,
    start=moments,
    days=periods,
    paused_after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
)
def test_used_and_left_days_add_up(
    calendar: WorkingCalendar, start: datetime, days: int, paused_after: timedelta
) -> None:
    due = calendar.add_days(start, days, WORKING)
    paused = start + paused_after
    left = calendar.working_days_left(paused, due)
    # The days used: the working days after the start's date up to the pause's day included.
    used = sum(
        calendar.is_working_day(start.date() + timedelta(days=i))
        for i in range(1, (paused.date() - start.date()).days + 1)
    )
    if paused.date() < due.date():
        assert used + left == days
    else:
        assert left == 0
