"""``dozvil demo``: one licence case through a running stack (``dozvil up``), every role
through its own door with its own token, then the log verified offline.

The tokens are the embedded default's (``var/tokens.json``, written by the first ``dozvil
up``). The external services and officials sign with keys the demo keeps in
``var/demo-keys/`` (0600; made on first use, reused after), which the registrar registers.
Then: the applicant applies, the officer requests information, the applicant answers, the
officer accepts, screening runs, the four agencies post signed findings, official A approves,
official B countersigns and the licence is issued; customs check the printed licence and
record a shipment; the importing state's authority verifies the delivery. Last, the auditor's
and customs' commands run as an outsider would run them: the whole log mirrored from the
service's tlog-tiles endpoints and verified, the case receipt, the licence page — each with
the log's first public key alone.

That key is the authority's to publish (``dozvil up`` prints it, ``dozvil ledger keys`` reads
it from the log key file); the demo, running beside the stack, takes it from there, never from
the service it is checking. Exit 0 only if every step and every check passed.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.markup import escape

from cli.http import Service, ServiceProblem, UrlOption, service_url
from cli.statement import actor_key, lines_sha256
from cli.up import DEMO_EXPORTER, PRINCIPALS, TOKENS_FILE, dozvil_command
from ledger.errors import LedgerError
from ledger.keys import encode_public_key
from ledger.statements import sign_statement
from ledger.store.sql import SqlLedger
from runtime.settings import Settings
from workflows import lifecycle as lc

out = Console(soft_wrap=True, highlight=False)

#: The principals who sign statements (the roles the lifecycle table asks a statement of), and
#: so whose keys the registrar registers.
SIGNERS = {
    pid: role
    for pid, role, _ in PRINCIPALS
    if role in {e.role for e in lc.EVENTS.values() if e.statement}
}
#: Each agency's finding, by the principal in the finding event's role.
FINDINGS = {
    event: next(pid for pid, role in SIGNERS.items() if role == lc.EVENTS[event].role)
    for event in lc.FINDINGS
}
WAIT_S = 30.0


class DemoFailed(Exception):
    """A step did not do what it should have."""


def application() -> dict[str, Any]:
    """The demo exporter's application: 40 strike drones for the Polish armed forces."""
    certificate = b"EUC-PL-2026-0042: end-user certificate, Agencja Uzbrojenia"
    return {
        "exporter_id": DEMO_EXPORTER,
        "procedure": "military",
        "kind": "individual",
        "goods": [
            {
                "rating": "ML10",
                "description": "Ударний БПЛА «Лютий»",
                "quantity": 40,
                "unit": "pcs",
                "value": "1200000.00",
                "currency": "EUR",
            }
        ],
        "parties": [
            {"role": "consignee", "name": "Agencja Uzbrojenia", "country": "PL"},
            {"role": "end_user", "name": "Polish Armed Forces", "country": "PL"},
        ],
        "end_use": "Обладнання для збройних сил держави-отримувача",
        "destination": "PL",
        "euc_reference": "EUC-PL-2026-0042",
        "euc_sha256": hashlib.sha256(certificate).hexdigest(),
    }


class Steps:
    """Numbered steps, one line each: ✓ with what came back, or ✗ with why."""

    def __init__(self) -> None:
        self.count = 0

    @contextmanager
    def step(self, who: str, what: str) -> Iterator[list[str]]:
        self.count += 1
        detail: list[str] = []
        number = self.count
        actor = f"[bold]{escape(f'{who:<12}')}[/bold] {escape(what)}"
        try:
            yield detail
        except (ServiceProblem, DemoFailed, LedgerError, OSError) as exc:
            out.print(f"{number:>2} [red]✗[/red] {actor}: [red]{escape(str(exc))}[/red]")
            raise DemoFailed(f"step {number} ({who}: {what}) failed") from exc
        done = f" [dim]— {escape(', '.join(detail))}[/dim]" if detail else ""
        out.print(f"{number:>2} [green]✓[/green] {actor}{done}")


def _shell(args: list[str]) -> str:
    return " ".join(f"'{a}'" if "+" in a or " " in a else a for a in args)


@dataclass
class Demo:
    settings: Settings
    url: str
    tokens: dict[str, str]
    keys_dir: Path
    steps: Steps

    def post(self, principal: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with Service(self.url, self.tokens[principal]) as service:
            answer: dict[str, Any] = service.post(path, body)
        return answer

    def get(self, principal: str, path: str) -> dict[str, Any]:
        with Service(self.url, self.tokens[principal]) as service:
            answer: dict[str, Any] = service.get(path)
        return answer

    def key(self, actor: str) -> Ed25519PrivateKey:
        return actor_key(self.keys_dir / f"{actor}.pem", create=True)

    def act(self, principal: str, case_id: str, event: str, **body: Any) -> str:
        """An event without a statement; the entry it was recorded at."""
        recorded = self.post(principal, f"/cases/{case_id}/actions", {"event": event, **body})
        return f"entry {recorded['seq']}"

    def sign(
        self, issuer: str, case_id: str, step: str, finding: dict[str, Any], **body: Any
    ) -> str:
        """The issuer's signed statement for a step; the entry it was recorded at."""
        statement = sign_statement(
            self.key(issuer),
            issuer=issuer,
            case_id=case_id,
            step=step,
            finding=finding,
            time=datetime.now(UTC),
        )
        recorded = self.post(
            issuer, f"/cases/{case_id}/statements", {"statement": statement, **body}
        )
        return f"entry {recorded['seq']}"

    def until(self, case_id: str, state: str) -> dict[str, Any]:
        """The case's status once it is in ``state`` (the workflow's own steps take a moment)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            status = self.get("officer-1", f"/cases/{case_id}/status")
            if status["state"] == state:
                return status
            if time.monotonic() > deadline:
                raise DemoFailed(f"case {case_id} is {status['state']}, not {state}")
            time.sleep(0.1)

    def command(self, who: str, what: str, args: list[str]) -> str:
        """Run one of the commands an outsider runs; the first line of its verdict."""
        with self.steps.step(who, what) as detail:
            done = subprocess.run(
                [*dozvil_command(), *args], capture_output=True, text=True, timeout=120, check=False
            )
            lines = (done.stdout.strip() or done.stderr.strip()).splitlines()
            verdict = lines[0] if lines else f"exit code {done.returncode}"
            if done.returncode != 0:
                raise DemoFailed(f"exit code {done.returncode}: {done.stderr.strip() or verdict}")
            detail.append(verdict)
        return verdict


def play(demo: Demo) -> str:
    """Every step of the case; returns its id."""
    step = demo.steps.step
    with step("service", f"ready at {demo.url}") as detail, Service(demo.url) as public:
        detail.append(f"ledger size {public.get('/readyz')['ledger_size']}")

    with step("registrar-1", f"registers exporter {DEMO_EXPORTER}") as detail:
        recorded = demo.post("registrar-1", "/exporters", {"exporter_id": DEMO_EXPORTER})
        detail.append(f"entry {recorded['seq']}")
    for actor, role in SIGNERS.items():
        with step("registrar-1", f"registers the key of {actor} ({role})") as detail:
            public_key = encode_public_key(demo.key(actor).public_key())
            key = {"role": role.value, "public_key": public_key}
            recorded = demo.post("registrar-1", f"/actors/{actor}/keys", key)
            detail.append(f"entry {recorded['seq']}")

    with step("applicant-1", "applies: 40 × ML10 strike drones to PL") as detail:
        created = demo.post("applicant-1", "/cases", {"application": application()})
        case_id = str(created["case_id"])
        demo.until(case_id, "submitted")
        detail.append(f"case {case_id}")
    with step("officer-1", "requests information") as detail:
        missing = ["signed original of the end-user certificate"]
        detail.append(
            demo.act("officer-1", case_id, "request_information", data={"missing": missing})
        )
    with step("applicant-1", "provides it") as detail:
        documents = ["EUC-PL-2026-0042, original, scanned"]
        detail.append(
            demo.act("applicant-1", case_id, "provide_information", data={"documents": documents})
        )
    with step("officer-1", "accepts the application as complete") as detail:
        detail.append(demo.act("officer-1", case_id, "accept_complete"))
    with step("screening", "checks the parties and the destination") as detail:
        demo.until(case_id, "in_review")
        flags = demo.get("officer-1", f"/cases/{case_id}")["flags"]
        if flags:
            raise DemoFailed(f"screening flagged {[f['party'] for f in flags]}")
        detail.append("no flags: in review")
    for event, agency in FINDINGS.items():
        with step(agency, f"signs its finding ({event})") as detail:
            detail.append(demo.sign(agency, case_id, event, {"opinion": "no_objection"}))
    with step("official-a", "approves (signed), with a proviso") as detail:
        conditions = {"provisos": ["No re-export without the authority's written consent"]}
        detail.append(
            demo.sign(
                "official-a",
                case_id,
                "approve",
                {"decision": "approve"},
                data={"conditions": conditions},
            )
        )
    with step("official-b", "countersigns (four eyes): the licence is issued") as detail:
        demo.sign("official-b", case_id, "countersign", {"decision": "countersign"})
        status = demo.until(case_id, "issued")
        detail.append(f"licence {status['licence_number']}")

    licence_page = demo.settings.data_dir / f"licence-{case_id}.html"
    with step("customs-ua", "checks the printed licence") as detail:
        with Service(demo.url, demo.tokens["customs-ua"]) as customs:
            page = customs.text(f"/cases/{case_id}/licence.html")
        licence_page.write_text(page, encoding="utf-8")
        checked = demo.post("customs-ua", "/licences/verify", {"document": page})
        if not checked["genuine"] or checked["validity"] != "valid":
            raise DemoFailed(f"the licence does not check out: {checked}")
        detail.append(f"genuine, {checked['validity']}; saved as {licence_page}")
    with step("customs-ua", "records shipment S-1 (10 of 40 drones)") as detail:
        lines = [{"line": 1, "quantity": 10, "value": "300000.00"}]
        finding = {
            "shipment_id": "S-1",
            "declaration": "UA-CD-2026-000123",
            "lines_sha256": lines_sha256(lines),
        }
        detail.append(
            demo.sign(
                "customs-ua", case_id, "shipment_recorded", finding, confidential={"lines": lines}
            )
        )
    with step("euc-pl", "verifies the delivery of S-1") as detail:
        finding = {"shipment_id": "S-1", "dvc": "DVC-PL-2026-0042"}
        detail.append(demo.sign("euc-pl", case_id, "delivery_verified", finding))

    receipt = demo.settings.data_dir / f"receipt-{case_id}.json"
    with step("auditor-1", "fetches the case receipt") as detail:
        body = demo.get("auditor-1", f"/cases/{case_id}/receipt")
        receipt.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        detail.append(f"saved as {receipt}")
    return case_id


def verify_offline(demo: Demo, case_id: str, vkey: str) -> list[tuple[str, list[str]]]:
    """The outsiders' commands, run; returns them for printing."""
    data = demo.settings.data_dir
    commands = [
        (
            "auditor: the whole log, mirrored",
            ["ledger", "verify", "--url", demo.url, "--key", vkey],
        ),
        (
            "auditor: the case receipt",
            ["ledger", "verify", "--receipt", str(data / f"receipt-{case_id}.json"), "--key", vkey],
        ),
        (
            "customs: the licence page",
            ["licence", "verify", str(data / f"licence-{case_id}.html"), "--key", vkey],
        ),
    ]
    for label, args in commands:
        who, _, what = label.partition(": ")
        demo.command(who, f"verifies {what}, offline", args)
    return commands


def run(settings: Settings, url: str, tokens_path: Path, keys_dir: Path) -> int:
    try:
        listing = json.loads(tokens_path.read_text(encoding="utf-8"))
        tokens = {pid: str(entry["token"]) for pid, entry in listing.items()}
    except FileNotFoundError:
        out.print(
            f"[red]error:[/red] no {tokens_path}: start the stack first (`dozvil up` writes "
            "the tokens on its first run; if you deleted them, delete the principals file too "
            "and start it again for new ones)"
        )
        return 2
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        out.print(f"[red]error:[/red] {tokens_path}: not a tokens file ({exc!r})")
        return 2
    from service.app import initial_key  # the service's own rule (imported here: it is heavy)

    ledger = SqlLedger.open(settings.ledger_url)
    try:
        vkey = initial_key(settings, ledger)
    except (LedgerError, OSError) as exc:
        out.print(f"[red]error:[/red] the log's first key: {exc} (is this the stack's folder?)")
        return 2
    finally:
        ledger.engine.dispose()
    demo = Demo(settings, url, tokens, keys_dir, Steps())
    started = time.monotonic()
    try:
        case_id = play(demo)
        commands = verify_offline(demo, case_id, vkey)
    except DemoFailed as exc:
        out.print(f"[red bold]FAILED:[/red bold] {escape(str(exc))}")
        return 1
    except KeyError as exc:
        out.print(f"[red bold]FAILED:[/red bold] {tokens_path} has no token for {exc}")
        return 1
    out.print(
        f"\n[green bold]OK:[/green bold] case [bold]{case_id}[/bold] from application to "
        f"verified delivery, {demo.steps.count} steps in {time.monotonic() - started:.1f} s; "
        "the ledger verifies offline."
    )
    out.print("\nWhat an auditor and customs run, with the log's public key alone:")
    for label, args in commands:
        out.print(f"  [dim]# {escape(label)}[/dim]")
        out.print(f"  {escape(_shell([*dozvil_command(), *args]))}")
    return 0


def demo(
    url: UrlOption = None,
    tokens: Annotated[
        Path | None,
        typer.Option(help="The principals' tokens (default: DOZVIL_DATA_DIR/tokens.json)."),
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(help="The signers' private keys (default: DOZVIL_DATA_DIR/demo-keys)."),
    ] = None,
) -> None:
    """Play one licence case through the running stack as every role, then verify the ledger
    offline from the service's tlog-tiles endpoints. Exit 0 only if everything passed."""
    settings = Settings()
    code = run(
        settings,
        service_url(settings, url),
        tokens or settings.data_dir / TOKENS_FILE,
        keys or settings.data_dir / "demo-keys",
    )
    raise typer.Exit(code)
