"""Statutory periods counted in calendar or working days (pure and deterministic: workflow code
imports it; the holiday dates come in ``CaseConfig.holidays``, resolved by the starter).

The rule, as Ukrainian law counts a period of days (Civil Code of Ukraine, arts. 253–255):
a period starts on the day *after* the event that triggers it, and it ends at the end (24:00)
of its last day; a period whose last day is a day off ends on the next working day. Here:

* **Working days** (:meth:`WorkingCalendar.add_days` with :attr:`DayCount.WORKING`): a day is a
  working day unless it is a Saturday, a Sunday or one of the calendar's holidays. The period's
  days are the first ``days`` working days after the triggering moment's date; the due moment
  is the end of the last of them, i.e. midnight at the start of the following day. The last day
  is a working day by construction, so the non-working-day rule never moves it. ``days=0`` is
  due at the end of the triggering moment's own day (the day itself is never counted).
* **Calendar days** (:attr:`DayCount.CALENDAR`): exactly ``start + days × 24 h`` — elapsed time,
  as the workflow has always counted it; it neither rounds to the end of a day nor moves off a
  day off.
* **Pausing a working-day clock** (information requested): :meth:`WorkingCalendar.
  working_days_left` counts the whole working days strictly after the pause's date and before
  the due moment — the day on which the clock is paused is consumed. Resuming restarts the
  period the day after the resumption: ``add_days(resumed_at, left, DayCount.WORKING)``.

Day boundaries are UTC days, not Kyiv local time (UTC+2, UTC+3 in summer): an event between
00:00 and 02:00/03:00 Kyiv time falls on the previous UTC date, and a due moment of 00:00 UTC
is 02:00/03:00 the next morning in Kyiv. Every datetime here must be timezone-aware.
Working Saturdays (days off moved by a government order) are not modelled: a Saturday never
counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from workflows.models import DayCount

__all__ = ["DayCount", "WorkingCalendar"]

_SATURDAY = 5  # date.weekday(): Monday 0 … Sunday 6; Saturday and Sunday are the weekend
_ONE_DAY = timedelta(days=1)


def _utc_date(moment: datetime, name: str) -> date:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC), got naive {moment!r}")
    return moment.astimezone(UTC).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _weekdays(first: date, last: date) -> int:
    """Mondays to Fridays from ``first`` to ``last``, both included (0 if ``last < first``)."""
    if last < first:
        return 0
    span = (last - first).days + 1
    full_weeks, rest = divmod(span, 7)
    start = first.weekday()
    return full_weeks * 5 + sum(1 for i in range(rest) if (start + i) % 7 < _SATURDAY)


@dataclass(frozen=True)
class WorkingCalendar:
    """Saturdays, Sundays and ``holidays`` are days off; every other day is a working day."""

    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not isinstance(self.holidays, frozenset):
            raise TypeError("holidays must be a frozenset of dates (see WorkingCalendar.of)")
        for day in self.holidays:
            # A datetime is a date too, but never equal to one: it would silently not count.
            if isinstance(day, datetime) or not isinstance(day, date):
                raise TypeError(f"holidays hold dates, not {type(day).__name__}: {day!r}")

    @classmethod
    def of(cls, holidays: Iterable[date]) -> WorkingCalendar:
        """The calendar with these days off besides weekends (e.g. ``CaseConfig.holidays``)."""
        return cls(frozenset(holidays))

    def is_working_day(self, day: date) -> bool:
        if isinstance(day, datetime):
            raise TypeError(f"is_working_day takes a date, not a datetime: {day!r}")
        return day.weekday() < _SATURDAY and day not in self.holidays

    def add_days(self, start: datetime, days: int, counting: DayCount) -> datetime:
        """The moment a period of ``days`` counted from ``start`` is due (module docstring)."""
        start_day = _utc_date(start, "start")
        if days < 0:
            raise ValueError(f"a period is a non-negative number of days, got {days}")
        if counting == DayCount.CALENDAR:
            return start + timedelta(days=days)
        if counting != DayCount.WORKING:
            raise ValueError(f"unknown day count {counting!r}")
        last = start_day
        for _ in range(days):
            last += _ONE_DAY
            while not self.is_working_day(last):
                last += _ONE_DAY
        return _midnight(last + _ONE_DAY)

    def working_days_left(self, now: datetime, due: datetime) -> int:
        """Whole working days after ``now``'s date and before ``due`` (0 once it has passed).

        ``now``'s own day is consumed; a day counts only if it ends by ``due``, so for a due
        moment from :meth:`add_days` the days are those up to and including the last one.
        """
        first = _utc_date(now, "now") + _ONE_DAY
        last = _utc_date(due, "due") - _ONE_DAY  # the day before due's date ends by due
        if last < first:
            return 0
        off = sum(1 for h in self.holidays if first <= h <= last and h.weekday() < _SATURDAY)
        return _weekdays(first, last) - off
