"""The lifecycle table rendered for people: a Mermaid state diagram and a table of events.

``python -m workflows.diagram`` rewrites ``docs/lifecycle.md``; a test checks that the committed
file (and the diagram in the README) is what the table generates.
"""

from __future__ import annotations

import sys
from pathlib import Path

from workflows.lifecycle import EDGES, EVENTS, RECORDS, TERMINAL

DOC = Path(__file__).resolve().parent.parent / "docs" / "lifecycle.md"


def mermaid() -> str:
    """``stateDiagram-v2`` of every state-changing edge, labelled ``event (role)``."""
    lines = ["stateDiagram-v2"]
    for edge in EDGES:
        if edge.source == edge.target:
            continue  # findings and flag clearances: listed in the table below
        source = "[*]" if edge.source is None else edge.source.value
        event = EVENTS[edge.event]
        lines.append(f"    {source} --> {edge.target.value}: {edge.event} ({event.role.value})")
    lines.extend(f"    {state.value} --> [*]" for state in sorted(TERMINAL))
    return "\n".join(lines) + "\n"


def events_table() -> str:
    rows = [
        "| event | role | signed statement | starts | from → to |",
        "| --- | --- | --- | --- | --- |",
    ]
    for event in EVENTS.values():
        if event.name in RECORDS:
            moves = "any open state (no change)"
        else:
            moves = ", ".join(
                f"{'new' if e.source is None else e.source.value} → {e.target.value}"
                for e in EDGES
                if e.event == event.name
            )
        starts = event.starts.value if event.starts else ""
        statement = "yes" if event.statement else ""
        rows.append(f"| `{event.name}` | {event.role.value} | {statement} | {starts} | {moves} |")
    return "\n".join(rows) + "\n"


def document() -> str:
    return (
        "# The licence lifecycle\n\n"
        "Generated from `workflows/lifecycle.py` by `python -m workflows.diagram`; "
        "`tests/unit/workflows/test_lifecycle.py` checks it is current.\n\n"
        "```mermaid\n" + mermaid() + "```\n\n"
        "Events (one role each; `system` events are the workflow's own):\n\n" + events_table()
    )


def main() -> None:
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(document(), encoding="utf-8")
    sys.stdout.write(f"wrote {DOC}\n")


if __name__ == "__main__":
    main()
