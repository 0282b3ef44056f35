"""``dozvil licence …``: print a licence document, and check one as customs do.

``verify`` exit codes: 0 the document is genuine (whatever its validity window says), 1 it is
not (the reason is printed), 2 bad usage or a file that holds no licence document.
``render`` exits 0, 1 when the document's parts disagree, 2 when it cannot be read.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ledger.entry import parse_time
from ledger.errors import LedgerError, MalformedInput, VerificationFailed
from ledger.keyfile import load_verifier
from licence.document import UnreadableDocument
from licence.render import render as render_page
from licence.verify import LicenceReport, read_document, verify_document

app = typer.Typer(
    name="licence",
    help="The licence document: render it for print, verify it offline (customs).",
    no_args_is_help=True,
)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

GENUINE, NOT_GENUINE, BAD_USAGE = 0, 1, 2

STATUS_NOTE = (
    "This document proves that the licence was issued as shown. A later suspension, "
    "revocation, expiry or exhaustion is recorded later in the case: check the case's current "
    "status with the licensing authority."
)


def _usage(message: str) -> NoReturn:
    err.print(Text.assemble(("error: ", "red"), message))
    raise typer.Exit(BAD_USAGE)


def _read(file: Path) -> str:
    """The file's text (``-``: standard input); bad usage when it cannot be read."""
    try:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
        return data.decode("utf-8-sig")
    except OSError as exc:
        _usage(f"{file}: cannot read: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        _usage(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})")


def _trust_key(key: str | None, key_file: Path | None) -> str:
    if (key is None) == (key_file is None):
        _usage("give the log's first public key with exactly one of --key or --key-file")
    try:
        return load_verifier(key if key is not None else Path(str(key_file))).vkey
    except LedgerError as exc:
        _usage(str(exc))


def parse_at(value: str | None) -> datetime:
    """``--at``: an ISO 8601 date or time; no zone means UTC; none means now."""
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        _usage(f"--at {value!r} is not an ISO 8601 time, e.g. 2027-03-01T12:00:00Z")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _status_at(report: LicenceReport, at: datetime) -> Text:
    state = report.validity(at)
    if state == "valid":
        verdict = ("within the validity window", "green")
    elif state == "expired":
        verdict = ("EXPIRED: past valid until", "bold red")
    else:
        verdict = ("NOT YET VALID: before valid from", "bold red")
    return Text.assemble(_when(at), ": ", verdict)


def _print_genuine(report: LicenceReport, at: datetime) -> None:
    out.print(
        Text.assemble(("GENUINE", "bold green"), "  licence ", (report.licence_number, "bold"))
    )
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("case", report.case_id)
    facts.add_row("validity", f"{_when(report.valid_from)} to {_when(report.valid_until)}")
    facts.add_row("at", _status_at(report, at))
    facts.add_row("issued", _when(parse_time(report.issued_at)))
    rotations = f", {report.key_rotations} key rotation(s) followed" if report.key_rotations else ""
    facts.add_row(
        "ledger",
        f"entry {report.seq} of log {report.origin}, checkpoint of size "
        f"{report.checkpoint_size}{rotations}",
    )
    if report.ceilings is None:
        facts.add_row("ceilings", "not disclosed in this document")
    elif not report.ceilings:
        facts.add_row("ceilings", "none")
    else:
        table = Table("rating", "quantity", "value", "currency", box=None, padding=(0, 2, 0, 0))
        for c in report.ceilings:
            table.add_row(c.rating, str(c.quantity), c.value, c.currency)
        facts.add_row("ceilings", table)
    provisos = "\n".join(f"{i}. {p}" for i, p in enumerate(report.provisos, 1)) or "none"
    facts.add_row("provisos", provisos)
    out.print(facts)
    out.print(Text(STATUS_NOTE, style="dim"))


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


@app.command()
def verify(
    file: Annotated[
        Path,
        typer.Argument(
            help="The licence page (HTML), the QR code's text (DZL1:…) or the licence JSON; "
            "- reads standard input."
        ),
    ],
    key: Annotated[
        str | None,
        typer.Option(help="The log's first public key (name+hash+base64), as published."),
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="A file holding that key (one line).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(help="Check the validity window at this ISO 8601 time (UTC if no zone)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check a licence document offline: GENUINE (exit 0) or NOT GENUINE and why (exit 1)."""
    vkey = _trust_key(key, key_file)
    moment = parse_at(at)
    text = _read(file)
    try:
        report = verify_document(text, vkey)
    except UnreadableDocument as exc:
        _usage(f"{file}: {exc}")
    except LedgerError as exc:
        check = exc.check if isinstance(exc, VerificationFailed) else type(exc).__name__
        if as_json:
            _print_json({"genuine": False, "check": check, "reason": str(exc)})
        else:
            out.print(Text.assemble(("NOT GENUINE", "bold red"), ": ", str(exc)))
        raise typer.Exit(NOT_GENUINE) from exc
    if as_json:
        _print_json({"genuine": True, **report.to_json(moment), "note": STATUS_NOTE})
    else:
        _print_genuine(report, moment)


@app.command()
def render(
    document: Annotated[
        Path, typer.Argument(help="The licence document: the JSON of the case's licence.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Write the page here.")],
) -> None:
    """Write the printable licence page (A4 HTML, the document in a QR code)."""
    text = _read(document)
    try:
        page = render_page(read_document(text))
    except MalformedInput as exc:
        _usage(f"{document}: {exc}")
    except LedgerError as exc:
        err.print(Text.assemble(("FAIL: ", "red"), str(exc)))
        raise typer.Exit(NOT_GENUINE) from exc
    try:
        output.write_text(page.html, encoding="utf-8")
    except OSError as exc:
        _usage(f"{output}: cannot write: {exc.strerror or exc}")
    err.print(
        f"wrote {output}: licence {page.report.licence_number}, QR version {page.qr.version} "
        f"(error correction {page.qr.error}), payload {len(page.payload)} characters",
        markup=False,
        highlight=False,
    )
