"""Case deadlines come from configuration."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from runtime.settings import Settings
from service.case_config import case_config, parse_statutory_days
from workflows.models import CaseConfig, DayCount, Procedure

CALENDAR, WORKING = DayCount.CALENDAR, DayCount.WORKING


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"DOZVIL_{name.upper()}", raising=False)


def test_the_embedded_defaults_are_the_statutory_ones() -> None:
    config = case_config(Settings(_env_file=None), today=date(2025, 6, 1))
    # The model's defaults, plus: simplified cases count working days, and Ukraine's holidays
    # (none under martial law from 2023, see runtime/calendar.py).
    assert config == CaseConfig(
        statutory_counting={
            Procedure.MILITARY: CALENDAR,
            Procedure.DUAL_USE: CALENDAR,
            Procedure.INTERAGENCY: CALENDAR,
            Procedure.SIMPLIFIED: WORKING,
        },
        holidays=[],
    )


def test_the_holidays_of_the_configured_years_reach_the_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOZVIL_HOLIDAY_YEARS", "1")
    monkeypatch.setenv("DOZVIL_EXTRA_HOLIDAYS", "2021-12-31, 2030-01-02")
    config = case_config(Settings(_env_file=None), today=date(2020, 11, 30))
    # 2020 and 2021 (the start year and one after it), not 2019 or 2022, plus the extra days.
    assert date(2020, 8, 24) in config.holidays
    assert date(2021, 8, 24) in config.holidays
    assert {d.year for d in config.holidays} == {2020, 2021, 2030}
    assert {date(2021, 12, 31), date(2030, 1, 2)} <= set(config.holidays)
    assert config.holidays == sorted(config.holidays)

    monkeypatch.setenv("DOZVIL_HOLIDAY_COUNTRY", "")
    config = case_config(Settings(_env_file=None), today=date(2020, 11, 30))
    assert config.holidays == [date(2021, 12, 31), date(2030, 1, 2)]


def test_an_unknown_holiday_country_is_refused_when_a_case_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOZVIL_HOLIDAY_COUNTRY", "zz")
    with pytest.raises(ValueError, match="holiday country 'ZZ'"):
        case_config(Settings(_env_file=None))


def test_a_bad_extra_holiday_is_refused_at_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOZVIL_EXTRA_HOLIDAYS", "2025-12-31,2025-02-30")
    with pytest.raises(ValidationError, match="'2025-02-30' is not an ISO date"):
        Settings(_env_file=None)


def test_the_post_issuance_deadlines_reach_the_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOZVIL_DELIVERY_VERIFICATION_DAYS", "60")
    monkeypatch.setenv("DOZVIL_APPEAL_DAYS", "14")
    monkeypatch.setenv("DOZVIL_APPEAL_DECISION_DAYS", "0.5")
    monkeypatch.setenv("DOZVIL_SUSPENSION_MAX_DAYS", "365")
    config = case_config(Settings(_env_file=None))
    assert config.delivery_verification_days == 60
    assert config.appeal_days == 14
    assert config.appeal_decision_days == 0.5
    assert config.suspension_max_days == 365


def test_configured_deadlines_reach_the_case(monkeypatch: pytest.MonkeyPatch) -> None:
    days = "military=60,dual_use=30,interagency=90,simplified=10"
    monkeypatch.setenv("DOZVIL_STATUTORY_DAYS", days)
    monkeypatch.setenv("DOZVIL_REVIEW_DAYS", "7.5")
    config = case_config(Settings(_env_file=None))
    assert config.statutory_days[Procedure.MILITARY] == 60
    assert config.statutory_days[Procedure.SIMPLIFIED] == 10
    assert config.statutory_counting == dict.fromkeys(Procedure, CALENDAR)
    assert config.review_days == 7.5


def test_each_procedure_counts_its_own_way() -> None:
    days, counting = parse_statutory_days(
        "military=45:calendar, dual_use=20:working,interagency=90,simplified=15: working "
    )
    assert days == {
        Procedure.MILITARY: 45,
        Procedure.DUAL_USE: 20,
        Procedure.INTERAGENCY: 90,
        Procedure.SIMPLIFIED: 15,
    }
    assert counting == {
        Procedure.MILITARY: CALENDAR,
        Procedure.DUAL_USE: WORKING,
        Procedure.INTERAGENCY: CALENDAR,
        Procedure.SIMPLIFIED: WORKING,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("military=45,dual_use=30,interagency=90", "no deadline for \\['simplified'\\]"),
        ("military=45,naval=3,dual_use=30,interagency=90,simplified=15", "'naval=3'"),
        ("military=0,dual_use=30,interagency=90,simplified=15", "positive number"),
        ("military,dual_use=30,interagency=90,simplified=15", "'military'"),
        ("military=45:weekly,dual_use=30,interagency=90,simplified=15", "counts in 'weekly'"),
        ("military=45:,dual_use=30,interagency=90,simplified=15", "counts in ''"),
        ("military=:working,dual_use=30,interagency=90,simplified=15", "'military=:working'"),
        ("military=4.5,dual_use=30,interagency=90,simplified=15", "'military=4.5'"),
        ("military=45,military=30:working,dual_use=30,interagency=90,simplified=15", "twice"),
    ],
)
def test_bad_statutory_days_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_statutory_days(text)
