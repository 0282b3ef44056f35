"""The days off a new case is given: the country's holidays (``holidays``) and configured ones."""

from __future__ import annotations

from datetime import date

import holidays
import pytest

from runtime.calendar import holiday_dates


def test_the_ukrainian_holidays_of_the_years_asked_for() -> None:
    days = holiday_dates("UA", start_year=2020, years=2, extra=[])
    assert days == sorted(set(days))
    assert {date(2020, 8, 24), date(2021, 8, 24)} <= set(days)  # Independence Day
    assert {date(2020, 1, 7), date(2021, 1, 7)} <= set(days)  # Orthodox Christmas
    assert date(2021, 12, 27) in days  # Christmas (Sat 25th) observed on Monday
    assert {d.year for d in days} == {2020, 2021}
    assert len(days) == 17 + 19
    assert holiday_dates("ua ", start_year=2020, years=2, extra=[]) == days


def test_martial_law_holidays_are_working_days() -> None:
    # Ukraine's holidays stopped being days off during 2022 (the package keeps them in its
    # "workday" category); from 2023 there are none. The README says so: if this changes with
    # a new release of the package, update the README's configuration section with it.
    assert holiday_dates("UA", start_year=2022, years=1, extra=[]) == [
        date(2022, 1, 1),
        date(2022, 1, 3),
        date(2022, 1, 7),
        date(2022, 3, 7),
        date(2022, 3, 8),
    ]
    assert holiday_dates("UA", start_year=2023, years=4, extra=[]) == []
    nominal = holidays.country_holidays("UA", years=2025, categories=("workday",))
    assert date(2025, 8, 24) in nominal


def test_extra_days_are_merged() -> None:
    extra = [date(2026, 8, 24), date(2025, 12, 31), date(2026, 8, 24)]
    assert holiday_dates("UA", start_year=2025, years=2, extra=extra) == [
        date(2025, 12, 31),
        date(2026, 8, 24),
    ]
    # Extra days in a year with country holidays: one list, each day once.
    merged = holiday_dates("UA", start_year=2021, years=1, extra=[date(2021, 8, 24), *extra])
    assert merged == sorted({*holiday_dates("UA", 2021, 1, []), date(2025, 12, 31), *extra})


def test_another_country() -> None:
    days = holiday_dates("PL", start_year=2025, years=1, extra=[])
    assert date(2025, 11, 11) in days  # Polish Independence Day
    assert date(2025, 8, 24) not in days


def test_no_country_calendar() -> None:
    assert holiday_dates("", start_year=2021, years=5, extra=[date(2021, 5, 3)]) == [
        date(2021, 5, 3)
    ]
    assert holiday_dates("UA", start_year=2021, years=0, extra=[]) == []


@pytest.mark.parametrize("country", ["XX", "Ukraine", "U"])
def test_an_unknown_country_is_refused(country: str) -> None:
    with pytest.raises(ValueError, match=f"holiday country '{country}' is not one"):
        holiday_dates(country, start_year=2025, years=1, extra=[])


def test_negative_years_are_refused() -> None:
    with pytest.raises(ValueError, match="holiday years must be >= 0"):
        holiday_dates("UA", start_year=2025, years=-1, extra=[])
