"""``dozvil statement …``: an external service's or official's own key and signed statements.

``keygen --out FILE`` writes a new Ed25519 private key, PKCS#8 PEM (what ``openssl pkey``
reads), under the ledger's key-file rules (:mod:`ledger.keyfile`): created with mode 0600,
never over an existing file, and refused when read back if its group or others may access it.
It prints the public key and key id the registrar registers (``POST /actors/{id}/keys``).

``sign`` prints the signed statement (:mod:`ledger.statements`) for ``dozvil case act
--statement`` or ``POST /cases/{id}/statements``. Exit codes: 0 done, 2 bad usage or input.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from cli.http import UsageProblem, handles_problems, json_arg, json_object
from ledger.canonical import canonicalize
from ledger.errors import LedgerError
from ledger.keyfile import read_private_file, write_private_file
from ledger.keys import actor_key_id, encode_public_key, raw_public_key
from ledger.statements import DEFAULT_TTL, sign_statement

app = typer.Typer(
    name="statement",
    help="Keys and signed statements of external services and signing officials.",
    no_args_is_help=True,
)


def write_actor_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write ``key`` to a new file, PKCS#8 PEM, mode 0600; never overwrites."""
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    write_private_file(path, pem, "key")


def load_actor_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in ``path``; refused unless only its owner may access the file."""
    data = read_private_file(path, "key")
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise LedgerError(f"{path}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise LedgerError(f"{path}: holds a {type(key).__name__}, want an Ed25519 key")
    return key


def actor_key(path: Path, *, create: bool = False) -> Ed25519PrivateKey:
    """The key in ``path``; with ``create``, a new one written there first if it is absent."""
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_actor_key(path, Ed25519PrivateKey.generate())
    return load_actor_key(path)


def lines_sha256(lines: Any) -> str:
    """SHA-256 (hex) of the RFC 8785 form of a shipment's lines, as customs sign it."""
    return hashlib.sha256(canonicalize(lines)).hexdigest()


@app.command()
@handles_problems
def keygen(
    out: Annotated[Path, typer.Option("--out", help="New private key file (mode 0600).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write a new Ed25519 statement key and print its public key (base64) and key id."""
    key = Ed25519PrivateKey.generate()
    try:
        write_actor_key(out, key)
    except LedgerError as exc:
        raise UsageProblem(str(exc)) from exc
    public = raw_public_key(key.public_key())
    facts = {"public_key": encode_public_key(public), "key_id": actor_key_id(public)}
    if as_json:
        sys.stdout.write(json.dumps({"file": str(out), **facts}, indent=2) + "\n")
        return
    typer.echo(f"public_key: {facts['public_key']}")
    typer.echo(f"key_id:     {facts['key_id']}")


@app.command()
@handles_problems
def sign(
    key: Annotated[Path, typer.Option("--key", help="Your private key file (from keygen).")],
    issuer: Annotated[str, typer.Option("--issuer", help="Your actor id.")],
    case: Annotated[str, typer.Option("--case", help="The case the statement is for.")],
    step: Annotated[str, typer.Option("--step", help="The event (e.g. security_finding).")],
    finding: Annotated[
        str, typer.Option("--finding", help="The finding: a JSON object, @FILE or -.")
    ],
    lines: Annotated[
        str | None,
        typer.Option(
            "--lines",
            help="A shipment's lines (JSON list, @FILE or -): adds their lines_sha256 to the "
            "finding (send the lines themselves as the action's confidential `lines`).",
        ),
    ] = None,
    ttl_minutes: Annotated[
        float,
        typer.Option("--ttl-minutes", min=0.1, help="Minutes until the statement expires."),
    ] = DEFAULT_TTL.total_seconds() / 60,
) -> None:
    """Print a signed statement (JSON) for a case step."""
    body = json_object(finding, "--finding")
    if lines is not None:
        shipped = json_arg(lines, "--lines")
        if not isinstance(shipped, list):
            raise UsageProblem("--lines: want a JSON list of shipment lines")
        body["lines_sha256"] = lines_sha256(shipped)
    try:
        statement = sign_statement(
            load_actor_key(key),
            issuer=issuer,
            case_id=case,
            step=step,
            finding=body,
            time=datetime.now(UTC),
            ttl=timedelta(minutes=ttl_minutes),
        )
    except LedgerError as exc:
        raise UsageProblem(str(exc)) from exc
    sys.stdout.write(json.dumps(statement, ensure_ascii=False) + "\n")
