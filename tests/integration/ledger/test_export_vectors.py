"""The committed export vectors (``tests/vectors/exports/``): verification and the CLI.

Each ``export-*`` folder is an export (C2SP tlog-tiles layout plus ``dozvil/``) with an
``expect.json``: ``{"check", "seq", "match"}`` of the fault full verification must report
(all null for a good log), and ``"trusted"`` naming a checkpoint file beside it when the
fault is against an auditor's trusted checkpoint. ``generate.py`` writes them, identically on
every run; the last test here checks that.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.cli import app
from ledger.errors import VerificationFailed
from ledger.store.export import ExportSource
from ledger.verify import verify_log
from tests.integration.ledger.forge import Fault, check_fault

REPO = Path(__file__).resolve().parents[3]
VECTORS = REPO / "tests" / "vectors" / "exports"
VKEY_FILE = VECTORS / "keys" / "log.vkey"
NAMES = sorted(p.parent.name for p in VECTORS.glob("export-*/expect.json"))
CLASSES = (
    "export-good",
    "export-changed-body",
    "export-changed-hash",
    "export-changed-tile",
    "export-deleted-row",
    "export-deleted-row-at-bundle-end",
    "export-inserted-row",
    "export-swapped-rows",
    "export-truncated-tail",
    "export-unknown-key-checkpoint",
    "export-forged-statement",
    "export-revoked-key-statement",
    "export-replayed-nonce",
    "export-fork",
    "export-shrank",
)


def expectation(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name / "expect.json").read_text())
    return data


def trusted_note(name: str) -> str | None:
    rel = expectation(name).get("trusted")
    return None if rel is None else (VECTORS / name / rel).read_text(encoding="utf-8")


def vkey() -> str:
    return VKEY_FILE.read_text().strip()


def library_fault(name: str) -> VerificationFailed | None:
    """What full verification of the vector reports (None: it verifies)."""
    try:
        verify_log(ExportSource(VECTORS / name), vkey(), trusted_checkpoint=trusted_note(name))
    except VerificationFailed as exc:
        return exc
    return None


def cli_args(name: str) -> list[str]:
    args = ["verify", "--export", str(VECTORS / name), "--key", str(VKEY_FILE)]
    rel = expectation(name).get("trusted")
    if rel is not None:
        args += ["--trusted", str(VECTORS / name / rel)]
    return args


def test_every_vector_is_here() -> None:
    assert set(NAMES) == set(CLASSES)
    total = sum(p.stat().st_size for p in VECTORS.rglob("*") if p.is_file())
    assert total < 500_000, f"the vectors take {total} bytes"


@pytest.mark.parametrize("name", NAMES)
def test_vector_verifies_as_expected(name: str) -> None:
    want = expectation(name)
    exc = library_fault(name)
    if want["check"] is None:
        assert exc is None, f"a good log failed: {exc}"
        return
    assert exc is not None, "a tampered log verified"
    check_fault(exc, Fault(want["check"], want["seq"], want["match"]))


def fail_line(check: str, seq: int | None) -> str:
    """The start of the CLI's ``FAIL:`` line for a fault (the message of VerificationFailed)."""
    return f"FAIL: entry {seq}" if seq is not None else f"FAIL: {check}:"


@pytest.mark.parametrize("name", NAMES)
def test_cli_reports_the_fault(name: str) -> None:
    """``verify --export DIR --key VKEY``: exit 0 and ``OK:`` for a good log; exit 1 and one
    ``FAIL:`` line naming the check and the entry the library names, for a bad one."""
    exc = library_fault(name)
    result = CliRunner().invoke(app, cli_args(name))
    if exc is None:
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("OK: 20 entries"), result.stdout
        return
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    text = lines[0]
    assert text.count("FAIL:") == 1, result.stderr
    assert text.startswith(fail_line(exc.check, exc.seq)), result.stderr
    assert f": {exc.check}: " in text or text.startswith(f"FAIL: {exc.check}:"), result.stderr
    if exc.seq is not None:
        assert re.match(rf"FAIL: entry {exc.seq}( \(case [^)]+\))?: {exc.check}: ", text), text


def test_cli_fail_is_one_line() -> None:
    """The documented contract: one ``FAIL:`` line per fault, whatever the terminal width."""
    result = CliRunner().invoke(app, cli_args("export-changed-hash"))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("FAIL: entry 7: stored-hash: "), lines


@pytest.mark.parametrize(("name", "code"), [("export-good", 0), ("export-deleted-row", 1)])
def test_python_m_ledger_verify(name: str, code: int) -> None:
    """The auditor's entry point itself, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-m", "ledger", *cli_args(name)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == code, done.stderr
    if code == 0:
        assert done.stdout.startswith("OK: 20 entries"), done.stdout
    else:
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr
        text = lines[0]
        assert text.startswith("FAIL: entry 7 (case UA-2026-0003): sequence: "), done.stderr
        assert text.count("FAIL:") == 1


def test_generator_is_deterministic(tmp_path: Path) -> None:
    """``generate.py`` writes exactly the committed vectors."""
    spec = importlib.util.spec_from_file_location(
        "export_vectors_generate", VECTORS / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        names = module.generate(tmp_path)
    finally:
        del sys.modules[spec.name]
    assert sorted(names) == NAMES
    for name in names:
        made = sorted(p.relative_to(tmp_path / name) for p in (tmp_path / name).rglob("*"))
        committed = sorted(p.relative_to(VECTORS / name) for p in (VECTORS / name).rglob("*"))
        assert made == committed, name
        for rel in made:
            if (tmp_path / name / rel).is_file():
                got = (tmp_path / name / rel).read_bytes()
                assert got == (VECTORS / name / rel).read_bytes(), f"{name}/{rel}"
