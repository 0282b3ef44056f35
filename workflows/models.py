"""What travels between clients, the licence workflow and its activities (pydantic models).

Deterministic and I/O-free: imported by workflow code through the sandbox. Payloads are
encrypted by the payload codec (``runtime/codec.py``) on their way to Temporal.
"""

from __future__ import annotations

from datetime import datetime
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


class CaseConfig(_Model):
    """Deadlines in calendar days (working days arrive with the holiday calendars)."""

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


class CaseStart(_Model):
    case_id: str = Field(pattern=_NAME)
    applicant: Actor
    application: Application
    config: CaseConfig = Field(default_factory=CaseConfig)
    #: Keep the case's search attributes current. The namespace must have them registered
    #: (``workflows/search_attributes.py``); the time-skipping test server cannot register
    #: custom ones, so its tests start cases with False.
    publish_search_attributes: bool = True


class Action(_Model):
    """An update: one event of the lifecycle table, by an authenticated actor."""

    event: str = Field(pattern=_NAME)
    actor: Actor
    statement: dict[str, Any] | None = None  # the actor's signed statement, verbatim
    data: dict[str, Any] = Field(default_factory=dict)
    confidential: dict[str, Any] = Field(default_factory=dict)


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


class OpenDeadline(_Model):
    name: str
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
