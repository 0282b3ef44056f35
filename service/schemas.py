"""What the service accepts and returns: public request and response models, apart from the
workflow's own (so nothing internal leaves unfiltered, and confidential values are absent from
every response by design)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workflows.models import Application, Flag, OpenDeadline, Recorded

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$"
#: A case id: a name without "/", since it is a path segment of every case route.
CASE_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseCreate(_In):
    """A new application. ``case_id`` is chosen by the service when absent. An officer who
    registers an application received on paper names the applicant it is for."""

    case_id: str | None = Field(default=None, pattern=CASE_ID)
    application: Application
    applicant_id: str | None = Field(default=None, pattern=_NAME)


class ActionIn(_In):
    """One event of the lifecycle table, by the authenticated caller."""

    event: str = Field(pattern=_NAME)
    statement: dict[str, Any] | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    confidential: dict[str, Any] = Field(default_factory=dict)


class StatementIn(_In):
    """A signed statement for a case step: the step is the statement's own ``step``."""

    statement: dict[str, Any]
    data: dict[str, Any] = Field(default_factory=dict)
    confidential: dict[str, Any] = Field(default_factory=dict)


class CaseCreated(BaseModel):
    case_id: str
    state: str


class CaseSummary(BaseModel):
    """One case in a listing (from Temporal visibility)."""

    case_id: str
    state: str | None
    exporter_id: str | None
    destination: str | None
    ratings: list[str]
    next_deadline: datetime | None
    overdue: bool
    status: str


class CaseList(BaseModel):
    cases: list[CaseSummary]
    next_page_token: str | None = None


class CaseStatus(BaseModel):
    """What any party to a case may read: where it is and what is due."""

    case_id: str
    state: str
    deadlines: list[OpenDeadline]
    hold: dict[str, str] | None
    licence_number: str | None


class CaseDetail(CaseStatus):
    """The whole case, for the authority's officers, officials and auditors."""

    flags: list[Flag]
    findings: dict[str, str]
    timeline: list[Recorded]
    usage: list[dict[str, Any]]
    awaiting_verification: list[str]
    runs: int


class ExporterIn(_In):
    exporter_id: str = Field(pattern=_NAME)


class ActorKeyIn(_In):
    """An actor's Ed25519 public key (32 bytes, standard base64) and the role it acts in."""

    role: str = Field(pattern=_NAME)
    public_key: str = Field(min_length=40, max_length=64)


class ActorKeyRotate(_In):
    public_key: str = Field(min_length=40, max_length=64)


class ActorKeyRevoke(_In):
    reason: str = Field(min_length=1, max_length=1024)


class LicenceCheck(_In):
    """A licence document as customs hold it: the page (HTML), the QR code's text, or JSON."""

    document: str = Field(min_length=1, max_length=200_000)
    at: datetime | None = None


class LicenceChecked(BaseModel):
    genuine: bool
    validity: str
    licence_number: str
    case_id: str
    valid_from: datetime
    valid_until: datetime
    provisos: list[str]
    ceilings: list[dict[str, Any]] | None
    checkpoint_size: int
    note: str
