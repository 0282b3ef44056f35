"""The days off a case's working-day periods skip, resolved when the case starts.

The country's public holidays come from the ``holidays`` package; configured extra days are
added to them. Workflow code never imports this module: the starter resolves the dates and the
case carries them (``CaseConfig.holidays``), so a case's deadlines do not change when the
package or the configuration does.

Ukraine under martial law: the Labour Code's holidays (art. 73) are not days off while martial
law lasts. ``holidays`` (following Law No. 2136-IX of 15 March 2022) models this with no flag
or option: for ``UA`` its default ``public`` category holds no holiday after 8 March 2022 (in
2022: 1 January, 3 January (observed), 7 January, 7 March (moved day off), 8 March; from 2023:
none), and the nominal holidays are in its ``workday`` category (days that stay working days),
which this module does not use. So the default ``UA`` calendar adds nothing to weekends for
2023 onwards, and will until a release of the package records the end of martial law; days the
authority nevertheless keeps off are configured as extra days, and an empty country code turns
the country calendar off.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import holidays


def holiday_dates(country: str, start_year: int, years: int, extra: Iterable[date]) -> list[date]:
    """The public holidays of ``country`` in the ``years`` years from ``start_year`` (ISO 3166
    code as ``holidays`` knows it, e.g. ``UA``; empty: none) with ``extra``, sorted, unique."""
    if years < 0:
        raise ValueError(f"holiday years must be >= 0, got {years}")
    days = set(extra)
    code = country.strip().upper()
    if code and years:
        supported = holidays.list_supported_countries()
        if code not in supported:
            raise ValueError(
                f"holiday country {country!r} is not one the holidays package knows "
                f"(an ISO 3166 code such as UA, PL, DE; empty for no country calendar)"
            )
        found = holidays.country_holidays(code, years=range(start_year, start_year + years))
        days.update(found.keys())
    return sorted(days)
