"""Starting licence cases: what every client (the command line, later the HTTP service) hands
the workflow from configuration."""

from __future__ import annotations

from datetime import UTC, date, datetime

from runtime.calendar import holiday_dates
from runtime.settings import Settings
from workflows.models import CaseConfig, DayCount, Procedure


def parse_statutory_days(text: str) -> tuple[dict[Procedure, int], dict[Procedure, DayCount]]:
    """``military=45,...,simplified=15:working`` -> (days, how they are counted) per procedure.

    Every procedure must be given, once; a count without ``:working`` or ``:calendar`` is in
    calendar days.
    """
    days: dict[Procedure, int] = {}
    counting: dict[Procedure, DayCount] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        number, colon, how = value.partition(":")
        try:
            procedure = Procedure(name.strip())
            count = int(number)
        except ValueError:
            raise ValueError(
                f"statutory days: {item!r} is not <procedure>=<days>[:working|:calendar] with a "
                f"procedure in {[p.value for p in Procedure]}"
            ) from None
        if not sep or count <= 0:
            raise ValueError(f"statutory days: {item!r} needs a positive number of days")
        try:
            counted = DayCount(how.strip()) if colon else DayCount.CALENDAR
        except ValueError:
            raise ValueError(
                f"statutory days: {item!r} counts in {how.strip()!r} days; "
                f"use {[f':{c.value}' for c in DayCount]} or nothing (calendar days)"
            ) from None
        if procedure in days:
            raise ValueError(f"statutory days: {procedure.value!r} is given twice")
        days[procedure] = count
        counting[procedure] = counted
    missing = sorted(p.value for p in Procedure if p not in days)
    if missing:
        raise ValueError(f"statutory days: no deadline for {missing}")
    return days, counting


def case_config(settings: Settings, today: date | None = None) -> CaseConfig:
    """The deadlines a new case runs with (they travel with the case: a later change of
    configuration does not move the clocks of cases already running), with the days off of
    ``today``'s year (default: the UTC date) and ``DOZVIL_HOLIDAY_YEARS`` years after it."""
    year = (today or datetime.now(UTC).date()).year
    days, counting = parse_statutory_days(settings.statutory_days)
    return CaseConfig(
        statutory_days=days,
        statutory_counting=counting,
        holidays=holiday_dates(
            settings.holiday_country,
            start_year=year,
            years=settings.holiday_years + 1,
            extra=settings.extra_holiday_dates,
        ),
        information_reply_days=settings.information_reply_days,
        information_reminder_days=settings.information_reminder_days,
        review_days=settings.review_days,
        licence_validity_days=settings.licence_validity_days,
        delivery_verification_days=settings.delivery_verification_days,
        appeal_days=settings.appeal_days,
        appeal_decision_days=settings.appeal_decision_days,
        suspension_max_days=settings.suspension_max_days,
    )
