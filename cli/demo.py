"""``make run`` (until the workflow engine lands): one licence case through the ledger.

It initialises the embedded ledger from :class:`runtime.settings.Settings` (SQLite under
``var/``), registers the keys of the agencies that sign findings, records a case from
submission to issuance with signed statements and a confidential end user, exports the log as
a tlog-tiles folder, verifies it offline with the public key alone, and writes the licence
receipt. It is idempotent: run it twice and the second run appends nothing new.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from rich.console import Console

from ledger.entry import Actor
from ledger.keyfile import load_signer, write_signer
from ledger.keys import ACTOR_KEY_REGISTER, register_data
from ledger.note import Signer
from ledger.receipts import build_receipt, dumps_receipt, verify_receipt
from ledger.statements import sign_statement
from ledger.store.export import ExportSource, export_log
from ledger.store.sql import AppendRequest, SqlLedger
from ledger.verify import verify_log
from runtime.settings import Settings

console = Console(soft_wrap=True)
CASE = "UA-2026-0001"
AGENCIES = {
    "sbu": "security_service",
    "mod": "ministry_of_defence",
    "mfa": "ministry_of_foreign_affairs",
    "official-1": "signing_official",
    "official-2": "signing_official",
}
OFFICER = Actor("officer-1", "licensing_officer")


def _actor_key(folder: Path, actor_id: str) -> Ed25519PrivateKey:
    """Each demo agency keeps its own key (in production: in its own systems)."""
    path = folder / f"{actor_id}.pem"
    if path.exists():
        key = load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return key
    key = Ed25519PrivateKey.generate()
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    path.chmod(0o600)
    return key


def _signer(settings: Settings) -> Signer:
    path = settings.key_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_signer(path, Signer.generate(settings.log_origin))
    return load_signer(path)


def _step(
    keys: dict[str, Ed25519PrivateKey],
    n: int,
    event: str,
    actor_id: str,
    from_state: str | None,
    to_state: str,
    finding: dict[str, Any] | None = None,
    **extra: Any,
) -> AppendRequest:
    role = AGENCIES.get(actor_id, OFFICER.role)
    statement = None
    if finding is not None:
        statement = sign_statement(
            keys[actor_id],
            issuer=actor_id,
            case_id=CASE,
            step=event,
            finding=finding,
            time=datetime.now(UTC),
        )
    return AppendRequest(
        idempotency_key=f"{CASE}/{n}",
        case_id=CASE,
        event=event,
        actor=Actor(actor_id, role),
        from_state=from_state,
        to_state=to_state,
        statement=statement,
        **extra,
    )


def run(settings: Settings) -> None:
    data = settings.data_dir
    if settings.ledger_url.startswith("sqlite:///"):
        data.mkdir(parents=True, exist_ok=True)
    signer = _signer(settings)
    ledger = SqlLedger.open(settings.ledger_url, signer)
    ledger.init(settings.log_origin)
    vkey = signer.verifier.vkey
    console.print(f"[bold]ledger[/bold] {settings.ledger_url}  origin {settings.log_origin}")
    console.print(f"log verifier key: {vkey}", highlight=False, soft_wrap=True)

    keys = {a: _actor_key(data / "actor-keys", a) for a in AGENCIES}
    ledger.append_batch(
        [
            AppendRequest(
                idempotency_key=f"register/{a}",
                case_id=None,
                event=ACTOR_KEY_REGISTER,
                actor=Actor("registrar", "registrar"),
                data=register_data(a, role, keys[a].public_key()),
            )
            for a, role in AGENCIES.items()
        ]
    )
    if ledger.case_seqs(CASE):
        console.print(f"case {CASE} is already recorded; nothing new appended")
    else:
        # fmt: off
        steps = [
            _step(keys, 0, "submit", "officer-1", None, "submitted",
                  data={"goods": [{"rating": "ML10", "quantity": 40, "value_eur": 1_200_000}],
                        "destination": "PL", "euc_sha256": "9f" * 32},
                  confidential={"end_user": "Ministry of National Defence, Warsaw"}),
            _step(keys, 1, "complete", "officer-1", "submitted", "screening"),
            _step(keys, 2, "screen", "officer-1", "screening", "in_review",
                  data={"lists": [], "matches": []}),
            _step(keys, 3, "review.security", "sbu", "in_review", "in_review",
                  finding={"result": "no-objection"}),
            _step(keys, 4, "review.defence", "mod", "in_review", "in_review",
                  finding={"result": "no-objection", "defence_needs": False}),
            _step(keys, 5, "review.foreign", "mfa", "in_review", "awaiting_decision",
                  finding={"result": "no-objection"}),
            _step(keys, 6, "decide", "official-1", "awaiting_decision", "decided",
                  finding={"decision": "approve", "provisos": ["no re-export"]}),
            _step(keys, 7, "countersign", "official-2", "decided", "issued",
                  finding={"decision": "approve"},
                  data={"licence": "UA-L-2026-0001", "valid_until": "2029-11-25"}),
        ]
        # fmt: on
        for request in steps:
            entry = ledger.append(request).entries[0]
            console.print(f"  entry {entry.seq:>3}  {entry.event:<16} -> {entry.to_state}")

    export = data / "export"
    if export.exists():
        shutil.rmtree(export)
    size = export_log(ledger, export, initial_key=vkey)
    report = verify_log(ExportSource(export), vkey)
    console.print(
        f"[green]OK:[/green] export {export} ({size} entries) verified offline: "
        f"{report.checkpoints} checkpoints, {report.statements} signed statements"
    )
    issuance = ledger.case_seqs(CASE)[-1]
    receipt = build_receipt(ledger, ledger, vkey, CASE, [issuance])
    receipt_path = data / "licence-UA-L-2026-0001.json"
    receipt_path.write_text(dumps_receipt(receipt))
    verify_receipt(json.loads(receipt_path.read_text()), vkey)
    console.print(f"[green]OK:[/green] licence receipt {receipt_path} verifies")
    console.print("\nVerify it yourself, offline:")
    console.print(
        f"  .venv/bin/dozvil ledger verify --export {export} --key '{vkey}'",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"  .venv/bin/dozvil ledger verify --receipt {receipt_path} --key '{vkey}'",
        highlight=False,
        soft_wrap=True,
    )


def main() -> None:
    run(Settings())


if __name__ == "__main__":
    main()
