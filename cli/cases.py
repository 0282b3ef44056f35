"""Starting licence cases: what every client (the command line, later the HTTP service) hands
the workflow from configuration."""

from __future__ import annotations

from runtime.settings import Settings
from workflows.models import CaseConfig, Procedure


def parse_statutory_days(text: str) -> dict[Procedure, int]:
    """``military=45,dual_use=30,...`` -> days per procedure; every procedure must be given."""
    days: dict[Procedure, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            procedure = Procedure(name.strip())
            count = int(value)
        except ValueError:
            raise ValueError(
                f"statutory days: {item!r} is not <procedure>=<days> with a procedure in "
                f"{[p.value for p in Procedure]}"
            ) from None
        if not sep or count <= 0:
            raise ValueError(f"statutory days: {item!r} needs a positive number of days")
        days[procedure] = count
    missing = sorted(p.value for p in Procedure if p not in days)
    if missing:
        raise ValueError(f"statutory days: no deadline for {missing}")
    return days


def case_config(settings: Settings) -> CaseConfig:
    """The deadlines a new case runs with (they travel with the case: a later change of
    configuration does not move the clocks of cases already running)."""
    return CaseConfig(
        statutory_days=parse_statutory_days(settings.statutory_days),
        information_reply_days=settings.information_reply_days,
        information_reminder_days=settings.information_reminder_days,
        review_days=settings.review_days,
        licence_validity_days=settings.licence_validity_days,
    )
