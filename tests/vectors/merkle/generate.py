"""Generate the RFC 9162 inclusion and consistency proof vectors in this folder.

Run from the repository root (deterministic: a second run changes nothing)::

    .venv/bin/python tests/vectors/merkle/generate.py          # rewrite the vectors
    .venv/bin/python tests/vectors/merkle/generate.py --check  # exit 1 if they are stale

Each vector is one JSON file, in the style of transparency-dev/merkle's ``testdata``: hashes
are standard base64 (how Go's ``encoding/json`` writes ``[]byte``), ``desc`` says what was done
to the honest proof and ``wantErr`` whether a verifier must refuse it.

``inclusion/<leafIdx>-<treeSize>-<desc>.json``::

    {"leafIdx": 5, "treeSize": 8, "root": "...", "leafHash": "...", "proof": ["...", ...],
     "desc": "happy path", "wantErr": false}

``consistency/<size1>-<size2>-<desc>.json``::

    {"size1": 6, "size2": 8, "root1": "...", "root2": "...", "proof": ["...", ...],
     "desc": "happy path", "wantErr": false}

A refused vector also carries ``errKind``, the first reason a verifier must refuse it, in the
order a verifier checks them: ``range`` (index or sizes impossible), ``hash-size`` (a hash that
is not 32 bytes), ``length`` (the proof has the wrong number of hashes for the index and sizes
given), ``root`` (the right length, but the implied root(s) differ).

The tree is the classic RFC 6962 test tree (leaves ``""``, ``"\\x00"``, ``"\\x10"``,
``"\\x20\\x21"``, ...) extended with ``b"dozvil leaf <i>"`` up to 300 leaves. Honest proofs and
``wantErr`` come from a reference written straight from the recursive definitions of RFC 9162
§2.1.1 (MTH), §2.1.3.1 (PATH) and §2.1.4.1 (PROOF); this script does not import ``ledger``.
Mutated inputs are judged by that reference, never assumed to fail: an inclusion proof does not
bind the tree size by itself, so e.g. the proof of leaf 0 in a tree of 8 also verifies as one
in a tree of 5 against the same root, and such vectors say ``"wantErr": false``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

CLASSIC = (
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
)
LEAVES = CLASSIC + tuple(f"dozvil leaf {i}".encode() for i in range(len(CLASSIC), 300))

INCLUSION_CASES = [(0, 1), (0, 8), (5, 8), (7, 8), (2, 3), (3, 5), (0, 70), (37, 70), (69, 70)]
INCLUSION_CASES += [(255, 257), (256, 257)]
CONSISTENCY_CASES = [(0, 8), (8, 8), (1, 8), (4, 8), (6, 8), (2, 5), (3, 7), (1, 2)]
CONSISTENCY_CASES += [(37, 70), (64, 70), (256, 257), (255, 300)]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


EMPTY_ROOT = sha256(b"")
GARBAGE = sha256(b"dozvil/tests/vectors/merkle: garbage")
WRONG = sha256(b"dozvil/tests/vectors/merkle: wrong")


def split(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def mth(lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]), RFC 9162 §2.1.1."""
    n = hi - lo
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return sha256(b"\x00" + LEAVES[lo])
    k = split(n)
    return sha256(b"\x01" + mth(lo, lo + k) + mth(lo + k, hi))


def path(m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi]), RFC 9162 §2.1.3.1."""
    if hi - lo == 1:
        return []
    k = split(hi - lo)
    if m < k:
        return [*path(m, lo, lo + k), mth(lo + k, hi)]
    return [*path(m - k, lo + k, hi), mth(lo, lo + k)]


def subproof(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b), RFC 9162 §2.1.4.1."""
    if m == hi - lo:
        return [] if b else [mth(lo, hi)]
    k = split(hi - lo)
    if m <= k:
        return [*subproof(m, lo, lo + k, b), mth(lo + k, hi)]
    return [*subproof(m - k, lo + k, hi, False), mth(lo, lo + k)]


def root_from_path(m: int, n: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Undo PATH(m, D[n]) (the proof has the right length)."""
    if n == 1:
        return leaf
    k = split(n)
    *rest, last = proof
    if m < k:
        return sha256(b"\x01" + root_from_path(m, k, leaf, rest) + last)
    return sha256(b"\x01" + last + root_from_path(m - k, n - k, leaf, rest))


def roots_from_proof(
    m: int, n: int, b: bool, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """Undo SUBPROOF(m, D[n], b) (the proof has the right length): old and new subtree hashes."""
    if m == n:
        return (old_root, old_root) if b else (proof[0], proof[0])
    k = split(n)
    *rest, last = proof
    if m <= k:
        old, new = roots_from_proof(m, k, b, old_root, rest)
        return old, sha256(b"\x01" + new + last)
    old, new = roots_from_proof(m - k, n - k, False, old_root, rest)
    return sha256(b"\x01" + last + old), sha256(b"\x01" + last + new)


def path_length(m: int, n: int) -> int:
    if n == 1:
        return 0
    k = split(n)
    return 1 + (path_length(m, k) if m < k else path_length(m - k, n - k))


def subproof_length(m: int, n: int, b: bool) -> int:
    if m == n:
        return 0 if b else 1
    k = split(n)
    return 1 + (subproof_length(m, k, b) if m <= k else subproof_length(m - k, n - k, False))


def inclusion_error(m: int, n: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> str:
    """Why RFC 9162 refuses this inclusion proof, or "" if it holds."""
    if not 0 <= m < n:
        return "range"
    if any(len(x) != 32 for x in (leaf, *proof)):
        return "hash-size"
    if len(proof) != path_length(m, n):
        return "length"
    return "" if root_from_path(m, n, leaf, proof) == root else "root"


def consistency_error(m: int, n: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> str:
    """Why RFC 9162 refuses this consistency proof, or "" if it holds."""
    if not 0 <= m <= n:
        return "range"
    if any(len(x) != 32 for x in (root1, root2, *proof)):
        return "hash-size"
    if m == 0:
        # RFC 9162 defines no proof from the empty tree: by convention it is empty, and the
        # empty tree's root is MTH({}) = SHA-256() (§2.1.1), as this log's design fixes it.
        if proof:
            return "length"
        return "" if root1 == EMPTY_ROOT and (n or root2 == EMPTY_ROOT) else "root"
    if m == n:
        return "length" if proof else ("" if root1 == root2 else "root")
    if len(proof) != subproof_length(m, n, True):
        return "length"
    return "" if roots_from_proof(m, n, True, root1, proof) == (root1, root2) else "root"


def flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def slug(desc: str) -> str:
    replace = {" + ": "-plus-", " - ": "-minus-", " * ": "-times-", " / ": "-div-", " ": "-"}
    for old, new in replace.items():
        desc = desc.replace(old, new)
    return desc.replace("[", "-").replace("]", "")


def encode(vector: dict[str, Any]) -> bytes:
    return (json.dumps(vector, indent=2) + "\n").encode()


def inclusion_vectors() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for index, size in INCLUSION_CASES:
        leaf, proof, root = mth(index, index + 1), path(index, 0, size), mth(0, size)
        cases: list[tuple[str, int, int, bytes, list[bytes], bytes]] = [
            ("happy path", index, size, leaf, proof, root),
            ("wrong leaf", index, size, sha256(b"\x00WrongLeaf"), proof, root),
            ("leaf of the next entry", index, size, mth(size, size + 1), proof, root),
            ("short leaf hash", index, size, leaf[:31], proof, root),
            ("wrong root", index, size, leaf, proof, WRONG),
            ("empty tree root", index, size, leaf, proof, EMPTY_ROOT),
            ("root bit 0", index, size, leaf, proof, flip(root, 0)),
            ("trailing garbage", index, size, leaf, [*proof, GARBAGE], root),
            ("trailing root", index, size, leaf, [*proof, root], root),
            ("preceding garbage", index, size, leaf, [GARBAGE, *proof], root),
            ("leafIdx + 1", index + 1, size, leaf, proof, root),
            ("leafIdx - 1", index - 1, size, leaf, proof, root),
            ("leafIdx ^ 2", index ^ 2, size, leaf, proof, root),
            ("treeSize + 1", index, size + 1, leaf, proof, root),
            ("treeSize - 1", index, size - 1, leaf, proof, root),
            ("treeSize * 2", index, size * 2, leaf, proof, root),
            ("treeSize / 2", index, size // 2, leaf, proof, root),
        ]
        if proof:
            cases += [
                ("missing last hash", index, size, leaf, proof[:-1], root),
                ("missing first hash", index, size, leaf, proof[1:], root),
                ("empty proof", index, size, leaf, [], root),
                ("short proof hash", index, size, leaf, [proof[0][:31], *proof[1:]], root),
            ]
            for i, p in enumerate(proof):
                bit = (37 * i + 3) % 256
                modified = [*proof[:i], flip(p, bit), *proof[i + 1 :]]
                cases.append((f"modified proof[{i}] bit {bit}", index, size, leaf, modified, root))
        seen: set[tuple[int, int, bytes, tuple[bytes, ...], bytes]] = set()
        for desc, m, n, leaf_hash, proof_hashes, want_root in cases:
            key = (m, n, leaf_hash, tuple(proof_hashes), want_root)
            if key in seen:
                continue
            seen.add(key)
            err = inclusion_error(m, n, leaf_hash, proof_hashes, want_root)
            vector: dict[str, Any] = {
                "leafIdx": m,
                "treeSize": n,
                "root": b64(want_root),
                "leafHash": b64(leaf_hash),
                "proof": [b64(p) for p in proof_hashes],
                "desc": desc,
                "wantErr": bool(err),
            }
            if err:
                vector["errKind"] = err
            out[f"inclusion/{index}-{size}-{slug(desc)}.json"] = encode(vector)
    return out


def consistency_vectors() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for old, new in CONSISTENCY_CASES:
        r1, r2 = mth(0, old), mth(0, new)
        proof = subproof(old, 0, new, True) if old else []
        cases: list[tuple[str, int, int, bytes, bytes, list[bytes]]] = [
            ("happy path", old, new, r1, r2, proof),
            ("wrong root1", old, new, WRONG, r2, proof),
            ("wrong root2", old, new, r1, WRONG, proof),
            ("root1 bit 7", old, new, flip(r1, 7), r2, proof),
            ("root2 bit 7", old, new, r1, flip(r2, 7), proof),
            ("swapped roots", old, new, r2, r1, proof),
            ("short root1", old, new, r1[:31], r2, proof),
            ("trailing garbage", old, new, r1, r2, [*proof, GARBAGE]),
            ("trailing root1", old, new, r1, r2, [*proof, r1]),
            ("trailing root2", old, new, r1, r2, [*proof, r2]),
            ("preceding garbage", old, new, r1, r2, [GARBAGE, *proof]),
            ("preceding root1", old, new, r1, r2, [r1, *proof]),
            ("size1 + 1", old + 1, new, r1, r2, proof),
            ("size1 - 1", old - 1, new, r1, r2, proof),
            ("size1 * 2", old * 2, new, r1, r2, proof),
            ("size2 + 1", old, new + 1, r1, r2, proof),
            ("size2 - 1", old, new - 1, r1, r2, proof),
            ("size2 * 2", old, new * 2, r1, r2, proof),
            ("size2 / 2", old, new // 2, r1, r2, proof),
            ("sizes swapped", new, old, r1, r2, proof),
        ]
        if proof:
            cases += [
                ("empty proof", old, new, r1, r2, []),
                ("truncated proof", old, new, r1, r2, proof[:-1]),
                ("missing first hash", old, new, r1, r2, proof[1:]),
                ("short proof hash", old, new, r1, r2, [*proof[:-1], proof[-1][:31]]),
            ]
            for i, p in enumerate(proof):
                bit = (37 * i + 4) % 256
                modified = [*proof[:i], flip(p, bit), *proof[i + 1 :]]
                cases.append((f"modified proof[{i}] bit {bit}", old, new, r1, r2, modified))
        seen: set[tuple[int, int, bytes, bytes, tuple[bytes, ...]]] = set()
        for desc, m, n, root1, root2, proof_hashes in cases:
            key = (m, n, root1, root2, tuple(proof_hashes))
            if key in seen:
                continue
            seen.add(key)
            err = consistency_error(m, n, root1, root2, proof_hashes)
            vector: dict[str, Any] = {
                "size1": m,
                "size2": n,
                "root1": b64(root1),
                "root2": b64(root2),
                "proof": [b64(p) for p in proof_hashes],
                "desc": desc,
                "wantErr": bool(err),
            }
            if err:
                vector["errKind"] = err
            out[f"consistency/{old}-{new}-{slug(desc)}.json"] = encode(vector)
    return out


def generate() -> dict[str, bytes]:
    """Every vector file: path relative to this folder -> its bytes."""
    vectors = {**inclusion_vectors(), **consistency_vectors()}
    # The mutations that never leave a valid proof must be refused by the reference too.
    # (Except a new root after the empty tree: every tree is consistent with the empty one.)
    never_valid: tuple[str, ...] = ("wrong", "bit", "garbage", "missing", "truncated", "short")
    never_valid += ("trailing", "preceding", "empty proof", "leaf of", "swapped roots")
    for name, data in vectors.items():
        vector = json.loads(data)
        if vector.get("size1") == 0 and "root2" in vector["desc"]:
            continue
        if any(word in vector["desc"] for word in never_valid):
            assert vector["wantErr"], name
    return vectors


def on_disk() -> dict[str, bytes]:
    return {
        str(p.relative_to(HERE)): p.read_bytes()
        for kind in ("inclusion", "consistency")
        for p in sorted((HERE / kind).glob("*.json"))
    }


def main(argv: Sequence[str]) -> int:
    vectors = generate()
    if "--check" in argv:
        if on_disk() != vectors:
            print("tests/vectors/merkle is stale: run generate.py", file=sys.stderr)
            return 1
        return 0
    for name in on_disk().keys() - vectors.keys():
        (HERE / name).unlink()
    for name, data in vectors.items():
        target = HERE / name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(data)
    print(f"wrote {len(vectors)} vectors to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
