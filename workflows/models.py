"""What travels between clients, the licence workflow and its activities (pydantic models).

Deterministic and I/O-free: imported by workflow code through the sandbox. Payloads are
encrypted by the payload codec (``runtime/codec.py``) on their way to Temporal.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Procedure(StrEnum):
    MILITARY = "military"
    DUAL_USE = "dual_use"
    INTERAGENCY = "interagency"
    SIMPLIFIED = "simplified"


class LicenceKind(StrEnum):
    INDIVIDUAL = "individual"
    OPEN = "open"


class PartyRole(StrEnum):
    CONSIGNEE = "consignee"
    END_USER = "end_user"
    ULTIMATE_END_USER = "ultimate_end_user"
    THIRD_PARTY = "third_party"


class Actor(_Model):
    """Who acts: an authenticated principal and the role they act in."""

    id: str = Field(pattern=_NAME)
    role: str = Field(pattern=_NAME)


class Goods(_Model):
    rating: str = Field(min_length=2, max_length=32)  # control-list entry: ML10, 9A012, ...
    description: str = Field(min_length=1, max_length=500)
    quantity: int = Field(gt=0)
    unit: str = Field(min_length=1, max_length=16)
    value: Decimal = Field(gt=0, max_digits=18, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class Party(_Model):
    role: PartyRole
    name: str = Field(min_length=1, max_length=300)
    country: str = Field(pattern=r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2
    address: str = Field(default="", max_length=500)


class Application(_Model):
    exporter_id: str = Field(pattern=_NAME)
    procedure: Procedure
    kind: LicenceKind
    goods: list[Goods] = Field(min_length=1, max_length=200)
    parties: list[Party] = Field(min_length=1, max_length=50)
    end_use: str = Field(min_length=1, max_length=2000)
    destination: str = Field(pattern=r"^[A-Z]{2}$")
    euc_reference: str = Field(min_length=1, max_length=128)
    euc_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # the scanned certificate, by hash

    @field_validator("parties")
    @classmethod
    def _has_end_user(cls, parties: list[Party]) -> list[Party]:
        if not any(p.role == PartyRole.END_USER for p in parties):
            raise ValueError("an application names its end user")
        return parties


class DayCount(StrEnum):
    """How a statutory period is counted."""

    CALENDAR = "calendar"
    WORKING = "working"  # weekends and the configured holidays do not count


class CaseConfig(_Model):
    """The deadlines a case runs with, fixed when it starts (a later change of configuration
    does not move the clocks of running cases). Holidays are resolved by the starter from the
    configured calendar so the workflow's arithmetic is deterministic."""

    statutory_days: dict[Procedure, int] = Field(
        default_factory=lambda: {
            Procedure.MILITARY: 45,
            Procedure.DUAL_USE: 30,
            Procedure.INTERAGENCY: 90,
            Procedure.SIMPLIFIED: 15,
        }
    )
    # Fractions of a day are allowed (a test on a real server waits seconds, not weeks).
    information_reply_days: float = Field(default=30, gt=0)
    information_reminder_days: float = Field(default=5, ge=0)  # before the reply is due
    review_days: float = Field(default=20, gt=0)
    licence_validity_days: int = Field(default=730, gt=0, le=3 * 365)
    #: How each procedure's statutory days are counted (a procedure not named: calendar days).
    statutory_counting: dict[Procedure, DayCount] = Field(default_factory=dict)
    #: Days that are not working days besides weekends (the holiday calendar + extra days).
    holidays: list[date] = Field(default_factory=list, max_length=2000)
    # After issuance and refusal (fractions allowed, as above).
    delivery_verification_days: float = Field(default=90, gt=0)
    appeal_days: float = Field(default=28, gt=0)
    appeal_decision_days: float = Field(default=30, gt=0)
    suspension_max_days: float = Field(default=180, gt=0)


class Action(_Model):
    """An update: one event of the lifecycle table, by an authenticated actor."""

    event: str = Field(pattern=_NAME)
    actor: Actor
    statement: dict[str, Any] | None = None  # the actor's signed statement, verbatim
    data: dict[str, Any] = Field(default_factory=dict)
    confidential: dict[str, Any] = Field(default_factory=dict)


class RegistryChange(_Model):
    """A log-level register entry (an exporter, an actor key) by the authority's registrar.
    The idempotency key is derived from the content, so a repeated request finds its entry."""

    event: str = Field(pattern=_NAME)
    actor: Actor
    idempotency_key: str = Field(min_length=1, max_length=256)
    data: dict[str, Any]


class Recorded(_Model):
    """A transition as the ledger holds it."""

    seq: int
    event: str
    from_state: str | None
    to_state: str | None
    actor: Actor
    time: str
    checkpoint_size: int


class AppendInput(_Model):
    """A ledger append for a case transition (``idempotency_key``: case id / transition no.)."""

    idempotency_key: str
    case_id: str
    event: str
    actor: Actor
    from_state: str | None
    to_state: str | None
    statement: dict[str, Any] | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    confidential: dict[str, Any] = Field(default_factory=dict)


class Flag(_Model):
    """A screening match that blocks the decision until an officer clears it."""

    id: str
    party: str
    listed_as: str
    source: str
    score: float
    reason: str
    # Added with the published-list loaders; optional so earlier flags still load.
    listed_id: str = ""  # the list's own reference of the matched entry
    listed_name: str = ""  # the entry's primary name (``listed_as`` is the name that matched)
    country_match: bool = False  # the party's country is one of the entry's countries


class ListVersion(_Model):
    source: str
    published: str
    sha256: str


class ScreeningInput(_Model):
    case_id: str
    destination: str
    parties: list[Party]


class ScreeningResult(_Model):
    flags: list[Flag]
    lists: list[ListVersion]


class LicenceInput(_Model):
    case_id: str
    issuance_seq: int


class LicenceDocument(_Model):
    """The licence as customs verify it: the case receipt of the issuance entry."""

    licence_number: str
    receipt: dict[str, Any]
    #: Openings of the issuance entry's confidential fields (the ceilings), so the holder can
    #: show them and anyone can check them against the entry's commitments.
    openings: dict[str, Any] = Field(default_factory=dict)


class OpenDeadline(_Model):
    name: str
    subject: str = ""  # what it is about when there can be several (a shipment id)
    due: datetime
    paused: bool = False
    remaining_seconds: float | None = None  # while paused


class CaseView(_Model):
    case_id: str
    state: str
    flags: list[Flag]
    findings: dict[str, str]  # event -> actor id
    timeline: list[Recorded]
    deadlines: list[OpenDeadline]
    licence_number: str | None = None
    #: Per licence line: the ceiling and what customs have recorded against it.
    usage: list[dict[str, Any]] = Field(default_factory=list)
    awaiting_verification: list[str] = Field(default_factory=list)  # shipment ids
    hold: dict[str, str] | None = None  # owner, reason, until: while the case is in a hold
    runs: int = 1  # workflow runs so far (continue-as-new)


class CaseCarry(_Model):
    """A case's state carried into the next run by continue-as-new (nothing else survives)."""

    state: str
    terminal: list[str]  # the terminal states this case was started under (see lifecycle)
    runs: int  # the number of the run this carry starts
    transitions: int
    timeline: list[Recorded]
    parties: list[Party]
    flags: list[Flag]
    findings: dict[str, tuple[str, str]]
    decided_by: str | None
    decision_data: dict[str, Any]
    statutory_due: datetime | None
    statutory_left_seconds: float | None
    statutory_left_working_days: int | None
    statutory_breached: bool
    reply_due: datetime | None
    reminded: bool
    review_due: datetime | None
    escalated: list[str]
    licence: LicenceDocument | None
    ceilings: list[dict[str, Any]]
    shipped: list[tuple[int, Decimal]]
    shipment_ids: list[str]
    awaiting_verification: dict[str, datetime]
    late_verifications: list[str]
    valid_until: datetime | None
    suspension: dict[str, str] | None
    suspended_until: datetime | None
    appeal_due: datetime | None


class CaseStart(_Model):
    case_id: str = Field(pattern=_NAME)
    applicant: Actor
    application: Application
    config: CaseConfig = Field(default_factory=CaseConfig)
    #: Keep the case's search attributes current. The namespace must have them registered
    #: (``workflows/search_attributes.py``); the time-skipping test server cannot register
    #: custom ones, so its tests start cases with False.
    publish_search_attributes: bool = True
    #: The officer who registered the application on the applicant's behalf, if one did.
    registered_by: str | None = Field(default=None, pattern=_NAME)
    #: Set by the case itself when it continues as new: the state it carries over.
    carried: CaseCarry | None = None
