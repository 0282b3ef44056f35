"""The visibility queries that find licence cases (Temporal's list filter language over the
typed search attributes of :mod:`workflows.search_attributes`).

Visibility lists workflow *runs*. A case that continued as new has one closed run per
continuation (status ``ContinuedAsNew``) beside its current one; those are never the case, so
every query leaves them out. The counts behind the metrics also leave out terminated runs: a
case an operator terminated is in no state of the lifecycle any more.
"""

from __future__ import annotations

from workflows import search_attributes as sa
from workflows.lifecycle import State

CASES = "WorkflowType = 'LicenceCase' AND ExecutionStatus != 'ContinuedAsNew'"


def cases(*clauses: str) -> str:
    """Licence cases (one row per case) that meet every clause."""
    return " AND ".join((CASES, *clauses))


def in_state(state: State) -> str:
    """Cases whose workflow holds ``state`` now (running, or completed in it)."""
    return cases(f"{sa.STATE.name} = '{state.value}'", "ExecutionStatus != 'Terminated'")


OVERDUE = cases(f"{sa.OVERDUE.name} = true", "ExecutionStatus = 'Running'")
"""Open cases with a deadline passed."""
