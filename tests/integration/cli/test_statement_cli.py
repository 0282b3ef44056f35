"""``dozvil statement keygen|sign``: the installed console script, real key files, exit codes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.canonical import canonicalize
from ledger.keys import actor_key_id
from ledger.statements import parse_statement, statement_message

DOZVIL = str(Path(sys.executable).with_name("dozvil"))


def dozvil(home: Path, *args: str, code: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOZVIL_")}
    done = subprocess.run(
        [DOZVIL, "statement", *args], cwd=home, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == code, (done.stdout, done.stderr)
    return done


def test_keygen_writes_a_private_key_once_and_prints_what_the_registrar_needs(
    tmp_path: Path,
) -> None:
    made = json.loads(dozvil(tmp_path, "keygen", "--out", "sbu.pem", "--json", code=0).stdout)
    key_file = tmp_path / "sbu.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    public = base64.b64decode(made["public_key"], validate=True)
    assert len(public) == 32 and made["key_id"] == actor_key_id(public)
    plain = dozvil(tmp_path, "keygen", "--out", "mod.pem", code=0).stdout
    assert plain.startswith("public_key: ") and "key_id:" in plain

    before = key_file.read_bytes()
    again = dozvil(tmp_path, "keygen", "--out", "sbu.pem", code=2)
    assert "refusing to overwrite" in again.stderr and key_file.read_bytes() == before


def test_sign_prints_a_statement_that_verifies_with_the_public_key(tmp_path: Path) -> None:
    made = json.loads(dozvil(tmp_path, "keygen", "--out", "c.pem", "--json", code=0).stdout)
    lines = [{"line": 1, "quantity": 10, "value": "300000.00"}]
    signed = json.loads(
        dozvil(
            tmp_path, "sign",
            "--key", "c.pem",
            "--issuer", "customs-ua",
            "--case", "UA-2026-0001",
            "--step", "shipment_recorded",
            "--finding", '{"shipment_id": "S-1"}',
            "--lines", json.dumps(lines),
            "--ttl-minutes", "5",
            code=0,
        ).stdout
    )  # fmt: skip
    statement = parse_statement(signed)
    assert (statement.issuer, statement.case_id, statement.step) == (
        "customs-ua",
        "UA-2026-0001",
        "shipment_recorded",
    )
    assert statement.key_id == made["key_id"]
    assert (statement.expiry - statement.time).total_seconds() == 300
    assert signed["statement"]["finding"] == {
        "shipment_id": "S-1",
        "lines_sha256": hashlib.sha256(canonicalize(lines)).hexdigest(),
    }
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(made["public_key"]))
    public.verify(
        base64.b64decode(signed["signature"]), statement_message(signed["statement"])
    )  # raises if the signature does not hold


def test_sign_refuses_bad_input_and_an_exposed_key_with_exit_2(tmp_path: Path) -> None:
    dozvil(tmp_path, "keygen", "--out", "k.pem", code=0)
    base = ["sign", "--key", "k.pem", "--issuer", "sbu", "--case", "UA-1", "--step", "s"]
    assert "--finding: not JSON" in dozvil(tmp_path, *base, "--finding", "{x", code=2).stderr
    listed = dozvil(tmp_path, *base, "--finding", "[1]", code=2)
    assert "want a JSON object" in listed.stderr
    missing = dozvil(tmp_path, *base, "--finding", "@nowhere.json", code=2)
    assert "--finding (nowhere.json): cannot read" in missing.stderr
    (tmp_path / "k.pem").chmod(0o644)
    exposed = dozvil(tmp_path, *base, "--finding", "{}", code=2)
    assert "mode 0644" in exposed.stderr and "chmod 600" in exposed.stderr
