"""Case deadlines come from configuration."""

from __future__ import annotations

import pytest

from cli.cases import case_config, parse_statutory_days
from runtime.settings import Settings
from workflows.models import CaseConfig, Procedure


def test_the_embedded_defaults_are_the_statutory_ones() -> None:
    assert case_config(Settings(_env_file=None)) == CaseConfig()


def test_configured_deadlines_reach_the_case(monkeypatch: pytest.MonkeyPatch) -> None:
    days = "military=60,dual_use=30,interagency=90,simplified=10"
    monkeypatch.setenv("DOZVIL_STATUTORY_DAYS", days)
    monkeypatch.setenv("DOZVIL_REVIEW_DAYS", "7.5")
    config = case_config(Settings(_env_file=None))
    assert config.statutory_days[Procedure.MILITARY] == 60
    assert config.statutory_days[Procedure.SIMPLIFIED] == 10
    assert config.review_days == 7.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("military=45,dual_use=30,interagency=90", "no deadline for \\['simplified'\\]"),
        ("military=45,naval=3,dual_use=30,interagency=90,simplified=15", "'naval=3'"),
        ("military=0,dual_use=30,interagency=90,simplified=15", "positive number"),
        ("military,dual_use=30,interagency=90,simplified=15", "'military'"),
    ],
)
def test_bad_statutory_days_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_statutory_days(text)
