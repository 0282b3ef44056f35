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
    RECORDS,
    TERMINAL,
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
    assert set(events_for(Role.SIGNING_OFFICIAL)) == {"approve", "refuse", "countersign"}
    assert "approve" not in events_for(Role.MINISTRY_OF_DEFENCE)


def test_docs_are_generated_from_the_table() -> None:
    assert diagram.DOC.read_text(encoding="utf-8") == diagram.document(), (
        "docs/lifecycle.md is stale: run `python -m workflows.diagram`"
    )
    assert "```mermaid\n" + diagram.mermaid() + "```" in README.read_text(encoding="utf-8"), (
        "the README's lifecycle diagram is stale: copy it from docs/lifecycle.md"
    )
