"""``dozvil case …``: a thin shell over the service's ``/cases`` routes, as one principal.

Each command is one request (:mod:`cli.http`): who may do what is the service's decision (the
lifecycle table), and a refusal is printed as the service's problem, in one line, exit 1.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cli.http import (
    TokenOption,
    UrlOption,
    UsageProblem,
    client,
    handles_problems,
    json_arg,
    json_object,
)

app = typer.Typer(
    name="case",
    help="Licence cases through the HTTP service: start, list, show, act.",
    no_args_is_help=True,
)
# Piped output is not cut to 80 columns: case ids and events stay whole for the next command.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the service's JSON.")]


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def _when(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M")


@app.command()
@handles_problems
def start(
    application: Annotated[
        str, typer.Argument(help="The application: JSON text, @FILE, or - for standard input.")
    ],
    case_id: Annotated[
        str | None, typer.Option("--case-id", help="Choose the case id (default: the service's).")
    ] = None,
    applicant_id: Annotated[
        str | None,
        typer.Option("--applicant-id", help="An officer filing a paper application: for whom."),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """File an application (applicant), or register one received on paper (officer)."""
    body: dict[str, Any] = {"application": json_object(application, "application")}
    if case_id is not None:
        body["case_id"] = case_id
    if applicant_id is not None:
        body["applicant_id"] = applicant_id
    with client(url, token) as service:
        created = service.post("/cases", body)
    if as_json:
        _print_json(created)
    else:
        out.print(f"case {created['case_id']} started", highlight=False)


@app.command("list")
@handles_problems
def list_cases(
    state: Annotated[str | None, typer.Option(help="Only cases in this state.")] = None,
    exporter: Annotated[str | None, typer.Option(help="Only this exporter's cases.")] = None,
    destination: Annotated[str | None, typer.Option(help="ISO country code.")] = None,
    rating: Annotated[str | None, typer.Option(help="Control-list entry, e.g. ML10.")] = None,
    overdue: Annotated[
        bool | None, typer.Option("--overdue/--not-overdue", help="Only (not) overdue cases.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 100,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search cases (Temporal visibility): officers and officials see all, an applicant its
    own exporter's."""
    params: dict[str, Any] = {"limit": limit}
    for name, value in (
        ("state", state),
        ("exporter", exporter),
        ("destination", destination),
        ("rating", rating),
    ):
        if value is not None:
            params[name] = value
    if overdue is not None:
        params["overdue"] = "true" if overdue else "false"
    with client(url, token) as service:
        found = service.get("/cases", **params)
    if as_json:
        _print_json(found)
        return
    table = Table(
        "case",
        "state",
        "exporter",
        "to",
        "ratings",
        "next deadline (UTC)",
        "overdue",
        box=box.SIMPLE,
    )
    for case in found["cases"]:
        table.add_row(
            case["case_id"],
            case["state"] or "",
            case["exporter_id"] or "",
            case["destination"] or "",
            ",".join(case["ratings"]),
            _when(case["next_deadline"]),
            Text("yes", style="bold red") if case["overdue"] else "",
        )
    out.print(table)
    out.print(f"{len(found['cases'])} case(s)", highlight=False)


def _print_case(case: dict[str, Any]) -> None:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("case", case["case_id"])
    facts.add_row("state", case["state"])
    if case.get("licence_number"):
        facts.add_row("licence", case["licence_number"])
    if case.get("hold"):
        hold = case["hold"]
        facts.add_row("hold", ", ".join(f"{k} {v}" for k, v in hold.items()))
    for deadline in case["deadlines"]:
        about = f" ({deadline['subject']})" if deadline.get("subject") else ""
        paused = " paused" if deadline.get("paused") else ""
        due = _when(deadline["due"])
        facts.add_row("due", f"{deadline['name']}{about}: {due} UTC{paused}")
    for flag in case.get("flags", []):
        facts.add_row(
            "flag",
            f"{flag['id']}: {flag['party']} ~ {flag['listed_as']} ({flag['source']}, "
            f"score {flag['score']})",
        )
    for event, actor in case.get("findings", {}).items():
        facts.add_row("finding", f"{event} by {actor}")
    for line in case.get("usage", []):
        quantity, value = line["quantity"], line["value"]
        facts.add_row(
            "shipped",
            f"line {line['line']} ({line['rating']}): {quantity['shipped']} of "
            f"{quantity['ceiling']}, {value['shipped']} of {value['ceiling']} {line['currency']}",
        )
    if case.get("awaiting_verification"):
        facts.add_row(
            "awaiting", "delivery verification of " + ", ".join(case["awaiting_verification"])
        )
    out.print(facts, highlight=False)
    if case.get("timeline"):
        table = Table("entry", "at (UTC)", "event", "by", "→ state", box=box.SIMPLE)
        for step in case["timeline"]:
            table.add_row(
                str(step["seq"]),
                _when(step["time"]),
                step["event"],
                step["actor"]["id"],
                step["to_state"] or "",
            )
        out.print(table)


@app.command()
@handles_problems
def show(
    case_id: Annotated[str, typer.Argument(help="The case id.")],
    status: Annotated[
        bool,
        typer.Option(
            "--status", help="Only where it is and what is due (every party to a case may)."
        ),
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """A case: timeline, flags, findings, deadlines (the authority), or its status."""
    path = f"/cases/{case_id}/status" if status else f"/cases/{case_id}"
    with client(url, token) as service:
        case = service.get(path)
    if as_json:
        _print_json(case)
    else:
        _print_case(case)


@app.command()
@handles_problems
def act(
    case_id: Annotated[str, typer.Argument(help="The case id.")],
    event: Annotated[str, typer.Argument(help="The event (docs/lifecycle.md), in your role.")],
    data: Annotated[
        str | None, typer.Option("--data", help="The event's data: JSON object, @FILE or -.")
    ] = None,
    confidential: Annotated[
        str | None,
        typer.Option(
            "--confidential",
            help="Confidential fields (the ledger keeps only commitments): JSON object, @FILE "
            "or -.",
        ),
    ] = None,
    statement: Annotated[
        str | None,
        typer.Option(
            "--statement", help="Your signed statement (dozvil statement sign): JSON, @FILE or -."
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record one event of the case's lifecycle as the caller (a signed statement where the
    table requires one)."""
    body: dict[str, Any] = {
        "event": event,
        "data": json_object(data, "--data"),
        "confidential": json_object(confidential, "--confidential"),
    }
    if statement is not None:
        signed = json_arg(statement, "--statement")
        if not isinstance(signed, dict):
            raise UsageProblem("--statement: want the signed statement's JSON object")
        body["statement"] = signed
    with client(url, token) as service:
        recorded = service.post(f"/cases/{case_id}/actions", body)
    if as_json:
        _print_json(recorded)
        return
    out.print(
        f"{case_id}: {recorded['event']} recorded at entry {recorded['seq']} "
        f"({recorded['from_state']} → {recorded['to_state']}, checkpoint size "
        f"{recorded['checkpoint_size']})",
        highlight=False,
    )
