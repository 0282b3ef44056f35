"""The lifecycle table: every event in every state for every role, and the generated docs."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from workflows import diagram
from workflows.lifecycle import (
    EDGES,
    EVENTS,
    FINDINGS,
    HOLDS,
    RECORDS,
    TERMINAL,
    TERMINAL_V1,
    Role,
    State,
    TransitionRefused,
    check,
    events_for,
    target,
)

STATES: list[State | None] = [None, *State]
README = Path(__file__).resolve().parents[3] / "README.md"


def allowed(event: str, state: State | None) -> State | None:
    """The table itself, read the plain way: the edge's target, if any."""
    if event in RECORDS:
        return state if state is not None and state not in TERMINAL else None
    for edge in EDGES:
        if edge.event == event and edge.source == state:
            return edge.target
    return None


@pytest.mark.parametrize(
    ("event", "state", "role"),
    list(itertools.product(EVENTS, STATES, Role)),
    ids=lambda v: str(v),
)
def test_every_event_in_every_state_for_every_role(
    event: str, state: State | None, role: Role
) -> None:
    want = allowed(event, state)
    if want is not None and EVENTS[event].role == role:
        assert check(event, state, role) == want
    else:
        with pytest.raises(TransitionRefused) as info:
            check(event, state, role)
        assert event in str(info.value)


def test_unknown_events_are_refused() -> None:
    with pytest.raises(TransitionRefused, match="unknown event"):
        target("approve_everything", State.SUBMITTED)


def test_the_table_is_whole() -> None:
    """Every edge names a known event; every state but the new case is reachable; nothing
    leaves a terminal state; every event has exactly one role; findings need statements."""
    assert all(e.event in EVENTS for e in EDGES)
    reached = {e.target for e in EDGES}
    assert reached == set(State)
    assert not [e for e in EDGES if e.source in TERMINAL]
    assert all(EVENTS[f].statement for f in FINDINGS)
    assert all(EVENTS[e].statement for e in ("approve", "refuse", "countersign"))
    assert set(events_for(Role.SIGNING_OFFICIAL)) == {
        "approve",
        "refuse",
        "countersign",
        "suspend",
        "reinstate",
        "revoke",
    }
    assert "approve" not in events_for(Role.MINISTRY_OF_DEFENCE)
    assert events_for(Role.CUSTOMS) == ["shipment_recorded"]
    assert EVENTS["shipment_recorded"].statement and EVENTS["delivery_verified"].statement


def test_every_open_state_has_a_way_out() -> None:
    """No state but the terminal ones traps a case."""
    for state in set(State) - TERMINAL:
        assert [e for e in EDGES if e.source == state and e.target != state], state


def test_every_hold_has_an_owner_a_reason_and_an_expiry() -> None:
    """The holds are states; each ends by itself through a system event at its deadline."""
    assert set(HOLDS) == {State.INFORMATION_REQUESTED, State.SUSPENDED, State.REFUSED}
    for state, hold in HOLDS.items():
        assert EVENTS[hold.ends_with].role == Role.SYSTEM
        assert target(hold.ends_with, state) != state
        assert hold.reason and hold.owner != Role.SYSTEM


def test_cases_started_before_post_issuance_end_at_issuance() -> None:
    """The v1 terminal set (replayed histories) stops records after issuance or refusal."""
    with pytest.raises(TransitionRefused):
        target("statutory_breached", State.ISSUED, TERMINAL_V1)
    assert target("statutory_breached", State.ISSUED) == State.ISSUED


def test_docs_are_generated_from_the_table() -> None:
    assert diagram.DOC.read_text(encoding="utf-8") == diagram.document(), (
        "docs/lifecycle.md is stale: run `python -m workflows.diagram`"
    )
    assert "```mermaid\n" + diagram.mermaid() + "```" in README.read_text(encoding="utf-8"), (
        "the README's lifecycle diagram is stale: copy it from docs/lifecycle.md"
    )
