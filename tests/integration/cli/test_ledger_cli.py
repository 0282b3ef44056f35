"""``dozvil ledger …`` end to end: the installed console script, real files, exit codes."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.merkle import verify_consistency, verify_inclusion

DOZVIL = str(Path(sys.executable).with_name("dozvil"))


class Cli:
    """Runs the console script with a data directory of its own."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {
            **os.environ,
            "DOZVIL_DATA_DIR": str(home / "var"),
            "DOZVIL_LOG_ORIGIN": "cli.test/ledger",
            "COLUMNS": "200",
        }
        self.env.pop("DOZVIL_DATABASE_URL", None)
        self.env.pop("DOZVIL_LOG_KEY_FILE", None)

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [DOZVIL, "ledger", *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == code, (done.stdout, done.stderr)
        return done

    def json(self, *args: str) -> dict[str, object]:
        value = json.loads(self(*args, "--json").stdout)
        assert isinstance(value, dict)
        return value


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    run = Cli(tmp_path)
    run("init")
    return run


def append(cli: Cli, n: int, case: str = "UA-1") -> dict[str, object]:
    return cli.json(
        "append",
        "--case", case,
        "--event", "submit",
        "--actor", "officer-1",
        "--role", "licensing_officer",
        "--idempotency-key", f"{case}/{n}",
        "--data", json.dumps({"n": n}),
    )  # fmt: skip


def test_init_creates_a_private_key_and_prints_the_verifier_key(cli: Cli) -> None:
    key = cli.home / "var" / "log.key"
    assert key.stat().st_mode & 0o777 == 0o600
    keys = cli.json("keys")
    assert str(keys["vkey"]).startswith("cli.test/ledger+")
    assert keys["history"] == [{"vkey": keys["vkey"], "from_size": 0}]


def test_append_is_idempotent_and_prints_its_checkpoint(cli: Cli) -> None:
    first = append(cli, 0)
    again = append(cli, 0)
    assert first["replayed"] is False and again["replayed"] is True
    assert first["entry"] == again["entry"]
    assert "cli.test/ledger\n1\n" in str(first["checkpoint"])
    conflict = cli(
        "append", "--case", "UA-1", "--event", "submit", "--actor", "officer-1",
        "--role", "licensing_officer", "--idempotency-key", "UA-1/0", "--data", '{"n": 5}',
        code=1,
    )  # fmt: skip
    assert "different content; nothing was written" in conflict.stderr


def test_bad_input_exits_2_with_a_clear_error(cli: Cli) -> None:
    done = cli(
        "append", "--case", "UA-1", "--event", "submit", "--actor", "officer-1",
        "--role", "licensing_officer", "--idempotency-key", "k", "--data", "{not json",
        code=2,
    )  # fmt: skip
    assert "--data is not JSON" in done.stderr
    done = cli("verify", "--key", "not-a-key", code=2)
    assert "error:" in done.stderr


def test_insecure_key_file_is_refused(cli: Cli) -> None:
    (cli.home / "var" / "log.key").chmod(0o644)
    done = append_raw(cli, code=1)
    assert "chmod 600" in done.stderr


def append_raw(cli: Cli, code: int) -> subprocess.CompletedProcess[str]:
    return cli(
        "append", "--case", "UA-1", "--event", "submit", "--actor", "officer-1",
        "--role", "licensing_officer", "--idempotency-key", "x", code=code,
    )  # fmt: skip


def test_proofs_checkpoints_export_verify_receipt(cli: Cli, tmp_path: Path) -> None:
    for n in range(20):
        append(cli, n, case=f"UA-{n % 3}")
    vkey = str(cli.json("keys")["vkey"])
    cp = cli.json("checkpoint")
    assert cp["tree_size"] == 20
    root = base64.b64decode(str(cp["root_hash"]))

    proof = cli.json("prove-inclusion", "7")
    verify_inclusion(
        7,
        20,
        base64.b64decode(str(proof["leaf_hash"])),
        [base64.b64decode(p) for p in proof["proof"]],  # type: ignore[attr-defined]
        root,
    )
    old = cli.json("checkpoint", "--size", "5")
    cons = cli.json("prove-consistency", "5")
    verify_consistency(
        5,
        20,
        base64.b64decode(str(old["root_hash"])),
        root,
        [base64.b64decode(p) for p in cons["proof"]],  # type: ignore[attr-defined]
    )

    export = tmp_path / "export"
    cli("export", str(export), "--key", vkey)
    assert (export / "checkpoint").read_text() == cp["note"]
    assert (export / "tile" / "entries" / "000.p" / "20").is_file()
    ok = cli("verify", "--export", str(export), "--key", vkey)
    assert ok.stdout.startswith("OK: 20 entries")
    assert cli.json("verify", "--key", vkey)["tree_size"] == 20
    assert cli.json("verify", "--export", str(export), "--key", vkey, "--case", "UA-2")[
        "entries"
    ] == list(range(2, 20, 3))

    # an auditor's old checkpoint proves the log only grew
    kept = tmp_path / "kept-checkpoint"
    kept.write_text(str(old["note"]))
    cli("verify", "--export", str(export), "--key", vkey, "--trusted", str(kept))

    receipt = tmp_path / "receipt.json"
    cli("receipt", "UA-1", "--key", vkey, "--out", str(receipt))
    checked = cli.json("verify", "--receipt", str(receipt), "--key", vkey)
    assert checked["entries"] == list(range(1, 20, 3))
    assert checked["starts_case"] is True

    # one changed byte in an entry bundle: exit 1, one FAIL line naming check and entry
    tampered = tmp_path / "tampered"
    shutil.copytree(export, tampered)
    bundle = tampered / "tile" / "entries" / "000.p" / "20"
    data = bytearray(bundle.read_bytes())
    at = data.index(b'"n":9') + 4
    data[at] = ord("8")
    bundle.write_bytes(bytes(data))
    bad = cli("verify", "--export", str(tampered), "--key", vkey, code=1)
    assert bad.stderr.strip().startswith("FAIL: entry 9: stored-hash: body hashes to")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_log_key_rotation_from_the_command_line(cli: Cli, tmp_path: Path) -> None:
    append(cli, 0)
    first = str(cli.json("keys")["vkey"])
    new_key = tmp_path / "next.key"
    cli("keys", "generate", str(new_key), "--name", "cli.test/ledger")
    cli("keys", "rotate", str(new_key))
    cli.env["DOZVIL_LOG_KEY_FILE"] = str(new_key)
    append(cli, 1)
    report = cli.json("verify", "--key", first)
    assert len(report["log_keys"]) == 2  # type: ignore[arg-type]


def test_python_dash_m_ledger_runs_alone(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "verify" in done.stdout


def test_append_batch_is_all_or_nothing(cli: Cli, tmp_path: Path) -> None:
    lines = [
        {
            "idempotency_key": f"B/{n}",
            "case_id": "UA-9",
            "event": "submit",
            "actor": {"id": "officer-1", "role": "licensing_officer"},
            "data": {"n": n},
        }
        for n in range(5)
    ]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    done = cli.json("append-batch", str(batch))
    assert [e["seq"] for e in done["entries"]] == [0, 1, 2, 3, 4]  # type: ignore[attr-defined]
    assert "cli.test/ledger\n5\n" in str(done["checkpoint"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**lines[0], "idempotency_key": "B/new"}) + '\n{"event": 1}\n')
    refused = cli("append-batch", str(bad), code=2)
    assert "line 2: unknown fields [], missing ['actor', 'idempotency_key']" in refused.stderr
    assert cli.json("checkpoint")["tree_size"] == 5
    listed = cli("checkpoint", "--list").stdout.split()
    assert listed[0::2] == ["0", "5"]


def test_actor_keys_are_registered_and_revoked(cli: Cli) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key = base64.b64encode(raw).decode()
    done = cli(
        "keys", "register-actor", "--actor", "sbu", "--role", "security", "--public-key", key
    )
    key_id = done.stdout.split()[2]
    assert done.stdout.strip().endswith("for sbu at entry 0")
    again = cli(
        "keys", "register-actor", "--actor", "sbu", "--role", "security", "--public-key", key
    )
    assert again.stdout.strip().endswith("at entry 0")  # idempotent
    revoked = cli("keys", "revoke-actor", "--actor", "sbu", "--key-id", key_id, "--reason", "lost")
    assert revoked.stdout.strip() == f"revoked key {key_id} of sbu at entry 1"
    bad = cli(
        "keys", "register-actor", "--actor", "mod", "--role", "defence", "--public-key", "abc",
        code=2,
    )  # fmt: skip
    assert "public key 'abc' is not standard base64" in bad.stderr


def test_entries_prints_a_case_one_json_line_per_entry(cli: Cli) -> None:
    for n in range(3):
        append(cli, n, case="UA-7")
    append(cli, 0, case="UA-8")
    lines = cli("entries", "UA-7").stdout.splitlines()
    bodies = [json.loads(line)["body"] for line in lines]
    assert [b["data"]["n"] for b in bodies] == [0, 1, 2]
    assert {b["case_id"] for b in bodies} == {"UA-7"}
    assert cli("entries", "UA-7", "--event", "withdraw").stdout == ""
    assert "no entries for case 'UA-9'" in cli("entries", "UA-9", code=2).stderr
