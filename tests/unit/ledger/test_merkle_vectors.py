"""``ledger.merkle`` verifiers against the data-driven vectors in ``tests/vectors/merkle``.

The vectors (transparency-dev/merkle ``testdata`` style; see ``generate.py`` there for the
format) were judged by a reference written from RFC 9162's recursive definitions, not by
``ledger.merkle``. A refused vector names the first reason (``errKind``); the verifier's message
must give that same reason.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import VerificationFailed
from ledger.merkle import verify_consistency, verify_inclusion

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "merkle"
INCLUSION = sorted((VECTORS / "inclusion").glob("*.json"))
CONSISTENCY = sorted((VECTORS / "consistency").glob("*.json"))

#: How each errKind reads in a VerificationFailed message.
REASONS = {
    "range": r"^(inclusion: leaf index -?\d+ is outside tree size -?\d+"
    r"|consistency: old size -?\d+ is not within new size -?\d+)$",
    "hash-size": r"^proof: (leaf hash|old root|new root|proof\[\d+\]) is \d+ bytes, want 32$",
    "length": r"^(inclusion|consistency): (proof too (long|short): \d+ hashes"
    r"|proof is empty|proof must be empty (for equal sizes|from the empty tree))$",
    "root": r"^(inclusion: leaf \d+ in tree \d+: computed root [0-9a-f]{64}, want [0-9a-f]*"
    r"|consistency: computed (old|new) root [0-9a-f]{64}, want [0-9a-f]{64}"
    r"|consistency: same size \d+ but roots differ: [0-9a-f]{64} vs [0-9a-f]{64})$",
}


def load(path: Path) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads(path.read_text())
    return vector


def b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def param(path: Path) -> Any:
    return pytest.param(path, id=path.stem)


def check(vector: dict[str, Any], err: VerificationFailed | None) -> None:
    if not vector["wantErr"]:
        assert err is None, f"{vector['desc']}: refused: {err}"
        return
    assert err is not None, f"{vector['desc']}: accepted, want {vector['errKind']} error"
    assert re.match(REASONS[vector["errKind"]], str(err)), (vector["errKind"], str(err))


def test_vectors_exist() -> None:
    assert len(INCLUSION) >= 100
    assert len(CONSISTENCY) >= 100
    for path in [*INCLUSION, *CONSISTENCY]:
        vector = load(path)
        assert isinstance(vector["desc"], str) and isinstance(vector["wantErr"], bool)
        assert ("errKind" in vector) == vector["wantErr"], path.name
    names = {p.stem for p in INCLUSION}
    assert {"0-8-happy-path", "0-8-wrong-leaf", "0-8-trailing-garbage"} <= names
    assert {"0-8-missing-last-hash", "0-8-leafIdx-plus-1", "0-8-treeSize-times-2"} <= names
    assert {"0-8-wrong-root", "0-8-modified-proof-1-bit-40"} <= names


def test_vectors_are_what_generate_py_writes() -> None:
    """The checked-in files are exactly the generator's (deterministic) output."""
    spec = importlib.util.spec_from_file_location(
        "merkle_vectors_generate", VECTORS / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    want: dict[str, bytes] = generate.generate()
    got = {str(p.relative_to(VECTORS)): p.read_bytes() for p in [*INCLUSION, *CONSISTENCY]}
    assert got.keys() == want.keys()
    stale = sorted(name for name in want if got[name] != want[name])
    assert not stale, f"stale vectors (run tests/vectors/merkle/generate.py): {stale[:5]}"


@pytest.mark.parametrize("path", [param(p) for p in INCLUSION])
def test_inclusion_vector(path: Path) -> None:
    v = load(path)
    proof = [b64(p) for p in v["proof"]]
    err: VerificationFailed | None = None
    try:
        verify_inclusion(v["leafIdx"], v["treeSize"], b64(v["leafHash"]), proof, b64(v["root"]))
    except VerificationFailed as exc:
        err = exc
    check(v, err)


@pytest.mark.parametrize("path", [param(p) for p in CONSISTENCY])
def test_consistency_vector(path: Path) -> None:
    v = load(path)
    proof = [b64(p) for p in v["proof"]]
    err: VerificationFailed | None = None
    try:
        verify_consistency(v["size1"], v["size2"], b64(v["root1"]), b64(v["root2"]), proof)
    except VerificationFailed as exc:
        err = exc
    check(v, err)
