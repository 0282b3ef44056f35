"""The licence lifecycle: one declarative table of states, events and who may cause them.

Everything that decides who may do what reads this module and nothing else: the workflow's
update validators, the HTTP layer's role checks, the generated docs and the state diagram
(``docs/lifecycle.md``, checked by a test). An *event* names an action, the one role that may
cause it, whether it needs the actor's signed statement, and the deadline it starts; an *edge*
says from which state an event leads to which. Events without edges change no state (clock and
escalation records, findings while a review is open); the workflow records them all in the
ledger just the same.

Deterministic and I/O-free: imported by workflow code through the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    SUBMITTED = "submitted"
    INFORMATION_REQUESTED = "information_requested"
    SCREENING = "screening"
    IN_REVIEW = "in_review"
    COLLEGIAL_REVIEW = "collegial_review"
    AWAITING_DECISION = "awaiting_decision"
    APPROVAL_SIGNED = "approval_signed"
    REFUSAL_SIGNED = "refusal_signed"
    APPROVED = "approved"  # countersigned: the licence is being numbered and issued
    ISSUED = "issued"  # the licence is in force: customs record shipments against it
    SUSPENDED = "suspended"  # a hold: owner, reason and expiry are recorded
    EXHAUSTED = "exhausted"  # every ceiling used up
    EXPIRED = "expired"  # the validity has run out
    REVOKED = "revoked"
    REFUSED = "refused"  # the appeal window is open
    REFUSAL_FINAL = "refusal_final"  # no appeal within the window
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"


#: States a case never leaves.
TERMINAL = frozenset({State.REFUSAL_FINAL, State.WITHDRAWN, State.CLOSED})
#: The terminal states of cases started before the licence's life after issuance was modelled
#: (workflow patch ``post-issuance-v1``): such a case ended at issuance or refusal.
TERMINAL_V1 = frozenset({State.ISSUED, State.REFUSED, State.WITHDRAWN, State.CLOSED})


class Role(StrEnum):
    APPLICANT = "applicant"
    LICENSING_OFFICER = "licensing_officer"
    SECURITY_SERVICE = "security_service"
    MINISTRY_OF_DEFENCE = "ministry_of_defence"
    MINISTRY_OF_FOREIGN_AFFAIRS = "ministry_of_foreign_affairs"
    IMPORTING_STATE_AUTHORITY = "importing_state_authority"
    COLLEGIAL_BODY = "collegial_body"
    SIGNING_OFFICIAL = "signing_official"
    CUSTOMS = "customs"
    REGISTRAR = "registrar"  # the authority's register of exporters and actor keys
    AUDITOR = "auditor"  # reads receipts; the log itself is public
    SYSTEM = "system"  # the workflow itself: timers, screening, review bookkeeping


class Deadline(StrEnum):
    """Clocks the workflow runs; their lengths come from configuration (``CaseConfig``)."""

    STATUTORY = "statutory"  # the decision deadline of the procedure; paused while info is due
    INFORMATION_REPLY = "information_reply"  # the applicant's reply; a reminder goes out first
    REVIEW = "review"  # each agency's finding
    VALIDITY = "validity"  # the licence expires at the end of it
    DELIVERY_VERIFICATION = "delivery_verification"  # the end user confirms each shipment
    SUSPENSION = "suspension"  # a suspension lapses unless lifted or the licence revoked first
    APPEAL = "appeal"  # the applicant may appeal a refusal until then


@dataclass(frozen=True)
class Event:
    name: str
    role: Role
    statement: bool  # the actor's signed statement is required (and goes into the ledger)
    starts: Deadline | None  # the deadline this event starts
    doc: str


@dataclass(frozen=True)
class Edge:
    event: str
    source: State | None  # None: the event that creates the case
    target: State


def _events(*events: Event) -> dict[str, Event]:
    return {e.name: e for e in events}


EVENTS: dict[str, Event] = _events(
    Event("submit", Role.APPLICANT, False, Deadline.STATUTORY, "the application is filed"),
    Event(
        "request_information",
        Role.LICENSING_OFFICER,
        False,
        Deadline.INFORMATION_REPLY,
        "the application is incomplete; the statutory clock stops",
    ),
    Event(
        "provide_information",
        Role.APPLICANT,
        False,
        None,
        "the applicant answers; the statutory clock runs again",
    ),
    Event(
        "accept_complete",
        Role.LICENSING_OFFICER,
        False,
        None,
        "the completeness check passes; screening starts",
    ),
    Event("screening_completed", Role.SYSTEM, False, Deadline.REVIEW, "screening lists checked"),
    Event("clear_flag", Role.LICENSING_OFFICER, False, None, "a screening flag is cleared"),
    Event("security_finding", Role.SECURITY_SERVICE, True, None, "security service finding"),
    Event("defence_finding", Role.MINISTRY_OF_DEFENCE, True, None, "defence finding and needs"),
    Event(
        "foreign_affairs_finding",
        Role.MINISTRY_OF_FOREIGN_AFFAIRS,
        True,
        None,
        "foreign-affairs finding",
    ),
    Event(
        "euc_authenticated",
        Role.IMPORTING_STATE_AUTHORITY,
        True,
        None,
        "the importing state authenticates the end-user certificate",
    ),
    Event("reviews_complete", Role.SYSTEM, False, None, "every agency agrees"),
    Event("reviews_disagree", Role.SYSTEM, False, None, "the agencies disagree"),
    Event(
        "collegial_resolution",
        Role.COLLEGIAL_BODY,
        True,
        None,
        "the collegial body resolves the disagreement",
    ),
    Event("approve", Role.SIGNING_OFFICIAL, True, None, "approval, with any conditions"),
    Event("refuse", Role.SIGNING_OFFICIAL, True, None, "refusal, with coded criteria"),
    Event(
        "countersign",
        Role.SIGNING_OFFICIAL,
        True,
        None,
        "a second, different official countersigns the decision",
    ),
    Event(
        "licence_issued",
        Role.SYSTEM,
        False,
        Deadline.VALIDITY,
        "licence number, validity and ceilings",
    ),
    Event(
        "amend_parties",
        Role.APPLICANT,
        False,
        None,
        "the applicant changes the parties; screening runs again and the agencies review anew",
    ),
    # After refusal.
    Event(
        "appeal",
        Role.APPLICANT,
        False,
        Deadline.STATUTORY,
        "the applicant appeals the refusal (data.grounds); back to decision",
    ),
    Event("appeal_window_closed", Role.SYSTEM, False, None, "no appeal in time: refusal final"),
    # After issuance.
    Event(
        "shipment_recorded",
        Role.CUSTOMS,
        True,
        Deadline.DELIVERY_VERIFICATION,
        "customs record a shipment against the ceilings (over-shipment refused)",
    ),
    Event(
        "delivery_verified",
        Role.IMPORTING_STATE_AUTHORITY,
        True,
        None,
        "the end user's delivery verification for a shipment, authenticated",
    ),
    Event("licence_exhausted", Role.SYSTEM, False, None, "every ceiling is used up"),
    Event(
        "suspend",
        Role.SIGNING_OFFICIAL,
        True,
        Deadline.SUSPENSION,
        "the licence is suspended (data.reason, data.days), e.g. for defence needs",
    ),
    Event("reinstate", Role.SIGNING_OFFICIAL, True, None, "the suspension is lifted"),
    Event(
        "suspension_lapsed",
        Role.SYSTEM,
        False,
        None,
        "the suspension reached its expiry unlifted: the licence is in force again",
    ),
    Event("revoke", Role.SIGNING_OFFICIAL, True, None, "the licence is revoked (data.reason)"),
    Event("licence_expired", Role.SYSTEM, False, None, "the licence's validity has run out"),
    Event(
        "case_closed",
        Role.SYSTEM,
        False,
        None,
        "the licence has ended and every shipment's delivery is verified",
    ),
    Event(
        "close_case",
        Role.LICENSING_OFFICER,
        False,
        None,
        "an officer closes an ended licence's case with verifications outstanding (data.reason)",
    ),
    Event("withdraw", Role.APPLICANT, False, None, "the applicant withdraws"),
    Event(
        "close_without_action",
        Role.SYSTEM,
        False,
        None,
        "no reply to the request for information by its due date",
    ),
    # Clock and escalation records: no state change.
    Event("information_reminder", Role.SYSTEM, False, None, "the reply is due soon"),
    Event("review_overdue", Role.SYSTEM, False, None, "an agency's finding is late: escalated"),
    Event("statutory_breached", Role.SYSTEM, False, None, "the decision deadline has passed"),
    Event(
        "delivery_verification_overdue",
        Role.SYSTEM,
        False,
        None,
        "a shipment's delivery verification is late: escalated",
    ),
)

#: States before the decision is taken (the applicant may withdraw).
OPEN = (
    State.SUBMITTED,
    State.INFORMATION_REQUESTED,
    State.SCREENING,
    State.IN_REVIEW,
    State.COLLEGIAL_REVIEW,
    State.AWAITING_DECISION,
    State.APPROVAL_SIGNED,
    State.REFUSAL_SIGNED,
)

#: States in which a licence has been issued and shipments may still be verified.
_LICENCE_GIVEN = (
    State.ISSUED,
    State.SUSPENDED,
    State.EXHAUSTED,
    State.EXPIRED,
    State.REVOKED,
)
#: States in which the licence can no longer be used; the case closes once every shipment's
#: delivery is verified.
LICENCE_ENDED = (State.EXHAUSTED, State.EXPIRED, State.REVOKED)  # in the docs' order

EDGES: tuple[Edge, ...] = (
    Edge("submit", None, State.SUBMITTED),
    Edge("request_information", State.SUBMITTED, State.INFORMATION_REQUESTED),
    Edge("provide_information", State.INFORMATION_REQUESTED, State.SUBMITTED),
    Edge("close_without_action", State.INFORMATION_REQUESTED, State.CLOSED),
    Edge("accept_complete", State.SUBMITTED, State.SCREENING),
    Edge("screening_completed", State.SCREENING, State.IN_REVIEW),
    Edge("security_finding", State.IN_REVIEW, State.IN_REVIEW),
    Edge("defence_finding", State.IN_REVIEW, State.IN_REVIEW),
    Edge("foreign_affairs_finding", State.IN_REVIEW, State.IN_REVIEW),
    Edge("euc_authenticated", State.IN_REVIEW, State.IN_REVIEW),
    Edge("clear_flag", State.IN_REVIEW, State.IN_REVIEW),
    Edge("clear_flag", State.COLLEGIAL_REVIEW, State.COLLEGIAL_REVIEW),
    Edge("clear_flag", State.AWAITING_DECISION, State.AWAITING_DECISION),
    Edge("reviews_complete", State.IN_REVIEW, State.AWAITING_DECISION),
    Edge("reviews_disagree", State.IN_REVIEW, State.COLLEGIAL_REVIEW),
    Edge("collegial_resolution", State.COLLEGIAL_REVIEW, State.AWAITING_DECISION),
    Edge("approve", State.AWAITING_DECISION, State.APPROVAL_SIGNED),
    Edge("refuse", State.AWAITING_DECISION, State.REFUSAL_SIGNED),
    Edge("countersign", State.APPROVAL_SIGNED, State.APPROVED),
    Edge("countersign", State.REFUSAL_SIGNED, State.REFUSED),
    Edge("licence_issued", State.APPROVED, State.ISSUED),
    *(Edge("withdraw", s, State.WITHDRAWN) for s in OPEN),
    # A party changes: before screening the case stays where it is; after, it is screened and
    # reviewed again.
    Edge("amend_parties", State.SUBMITTED, State.SUBMITTED),
    Edge("amend_parties", State.INFORMATION_REQUESTED, State.INFORMATION_REQUESTED),
    *(
        Edge("amend_parties", s, State.SCREENING)
        for s in (State.IN_REVIEW, State.COLLEGIAL_REVIEW, State.AWAITING_DECISION)
    ),
    Edge("appeal", State.REFUSED, State.AWAITING_DECISION),
    Edge("appeal_window_closed", State.REFUSED, State.REFUSAL_FINAL),
    Edge("shipment_recorded", State.ISSUED, State.ISSUED),
    *(Edge("delivery_verified", s, s) for s in _LICENCE_GIVEN),
    Edge("licence_exhausted", State.ISSUED, State.EXHAUSTED),
    Edge("suspend", State.ISSUED, State.SUSPENDED),
    Edge("reinstate", State.SUSPENDED, State.ISSUED),
    Edge("suspension_lapsed", State.SUSPENDED, State.ISSUED),
    Edge("revoke", State.ISSUED, State.REVOKED),
    Edge("revoke", State.SUSPENDED, State.REVOKED),
    Edge("licence_expired", State.ISSUED, State.EXPIRED),
    Edge("licence_expired", State.SUSPENDED, State.EXPIRED),
    *(Edge("case_closed", s, State.CLOSED) for s in LICENCE_ENDED),
    *(Edge("close_case", s, State.CLOSED) for s in LICENCE_ENDED),
)

#: States in which the statutory decision clock runs.
DECIDING = frozenset({*OPEN, State.APPROVED})

#: Events recorded in any open state without changing it.
RECORDS = frozenset(
    {
        "information_reminder",
        "review_overdue",
        "statutory_breached",
        "delivery_verification_overdue",
    }
)


@dataclass(frozen=True)
class Hold:
    """A state in which the case waits on someone: who owns it, where the reason is recorded,
    and the deadline at which it ends by itself."""

    owner: Role
    reason: str
    expiry: Deadline
    ends_with: str  # the event recorded when it expires


#: Every hold the case can be in; there are no others.
HOLDS: dict[State, Hold] = {
    State.INFORMATION_REQUESTED: Hold(
        Role.APPLICANT, "data.missing of request_information", Deadline.INFORMATION_REPLY,
        "close_without_action",
    ),
    State.SUSPENDED: Hold(
        Role.SIGNING_OFFICIAL, "data.reason of suspend", Deadline.SUSPENSION, "suspension_lapsed"
    ),
    State.REFUSED: Hold(
        Role.APPLICANT, "data.criteria of refuse", Deadline.APPEAL, "appeal_window_closed"
    ),
}  # fmt: skip

#: The review findings: each agency's event, in the order the docs list them.
FINDINGS = (
    "security_finding",
    "defence_finding",
    "foreign_affairs_finding",
    "euc_authenticated",
)


#: Log-level register entries (no case): who may record each. The ledger's own event names.
REGISTRY_EVENTS: dict[str, Role] = {
    "exporter.register": Role.REGISTRAR,
    "actor_key.register": Role.REGISTRAR,
    "actor_key.rotate": Role.REGISTRAR,
    "actor_key.revoke": Role.REGISTRAR,
}


class TransitionRefused(Exception):
    """An event that the table does not allow: wrong state, wrong role, or unknown."""


def target(event: str, state: State | None, terminal: frozenset[State] = TERMINAL) -> State:
    """The state ``event`` leads to from ``state``; raises :class:`TransitionRefused`."""
    if event not in EVENTS:
        raise TransitionRefused(f"unknown event {event!r}")
    if event in RECORDS:
        if state is None or state in terminal:
            raise TransitionRefused(f"{event} is not recorded in state {state}")
        return state
    for edge in EDGES:
        if edge.event == event and edge.source == state:
            return edge.target
    allowed = sorted(str(e.source) for e in EDGES if e.event == event)
    raise TransitionRefused(f"{event} is not allowed in state {state} (only from {allowed})")


def check(
    event: str, state: State | None, role: str, terminal: frozenset[State] = TERMINAL
) -> State:
    """The target state if ``role`` may cause ``event`` in ``state``; raises
    :class:`TransitionRefused` naming what is wrong."""
    to = target(event, state, terminal)
    wanted = EVENTS[event].role
    if role != wanted:
        raise TransitionRefused(f"{event} is for the {wanted} role, not {role!r}")
    return to


def events_for(role: Role | str) -> list[str]:
    """The events a role may cause (for the HTTP layer's authorization)."""
    return [e.name for e in EVENTS.values() if e.role == role]
