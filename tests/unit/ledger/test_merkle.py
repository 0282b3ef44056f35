"""RFC 9162 Merkle trees: ``ledger.merkle`` against a reference written straight from the RFC.

The reference below (``ref_mth``, ``ref_path``, ``ref_proof``, ``ref_root_from_path``,
``ref_roots_from_proof``) is a literal transcription of the recursive definitions of RFC 9162
§2.1.1 (MTH), §2.1.3.1 (PATH) and §2.1.4.1 (PROOF / SUBPROOF); the two verifiers run those same
recursions backwards. It shares no code with ``ledger.merkle``, which uses the iterative
algorithms of §2.1.3.2 and §2.1.4.2.

The hard-coded answers are for the classic 8-leaf test tree of RFC 6962 implementations
(certificate-transparency, transparency-dev/merkle, Go's sumdb/tlog). They were computed with
the reference and agree with Go's ``golang.org/x/mod/sumdb/tlog`` (``TreeHash``,
``ProveRecord``, ``ProveTree``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import cache

import pytest

from ledger.errors import LedgerError, MalformedInput, VerificationFailed
from ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    Node,
    consistency_proof,
    fold_nodes,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_nodes,
    root_from_inclusion_proof,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# --- the reference, from RFC 9162 ------------------------------------------------------------

#: The RFC 6962 test tree: D[0..7].
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
MAX = 70
#: D[0..69]: the classic tree, then leaves of our own.
D = CLASSIC + tuple(f"dozvil leaf {i}".encode() for i in range(len(CLASSIC), MAX))


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def split(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def ref_mth(lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]), RFC 9162 §2.1.1."""
    n = hi - lo
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + D[lo])
    k = split(n)
    return sha256(b"\x01" + ref_mth(lo, lo + k) + ref_mth(lo + k, hi))


def ref_path(m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi]), RFC 9162 §2.1.3.1."""
    n = hi - lo
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return [*ref_path(m, lo, lo + k), ref_mth(lo + k, hi)]
    return [*ref_path(m - k, lo + k, hi), ref_mth(lo, lo + k)]


def ref_subproof(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b), RFC 9162 §2.1.4.1."""
    n = hi - lo
    if m == n:
        return [] if b else [ref_mth(lo, hi)]
    k = split(n)
    if m <= k:
        return [*ref_subproof(m, lo, lo + k, b), ref_mth(lo + k, hi)]
    return [*ref_subproof(m - k, lo + k, hi, False), ref_mth(lo, lo + k)]


def ref_proof(m: int, n: int) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), RFC 9162 §2.1.4.1."""
    return ref_subproof(m, 0, n, True)


def ref_root_from_path(m: int, n: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """Undo PATH(m, D[n]): the root it implies for ``leaf``, or None if its length is wrong."""
    if n == 1:
        return leaf if not path else None
    if not path:
        return None
    k = split(n)
    *rest, last = path
    if m < k:
        sub = ref_root_from_path(m, k, leaf, rest)
        return None if sub is None else sha256(b"\x01" + sub + last)
    sub = ref_root_from_path(m - k, n - k, leaf, rest)
    return None if sub is None else sha256(b"\x01" + last + sub)


def ref_roots_from_proof(
    m: int, n: int, b: bool, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes] | None:
    """Undo SUBPROOF(m, D[n], b): (old-tree part, new-tree part) it implies, or None."""
    if m == n:
        if b:
            return (old_root, old_root) if not proof else None
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    k = split(n)
    *rest, last = proof
    if m <= k:
        sub = ref_roots_from_proof(m, k, b, old_root, rest)
        return None if sub is None else (sub[0], sha256(b"\x01" + sub[1] + last))
    sub = ref_roots_from_proof(m - k, n - k, False, old_root, rest)
    if sub is None:
        return None
    return sha256(b"\x01" + last + sub[0]), sha256(b"\x01" + last + sub[1])


def ref_verify_inclusion(m: int, n: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    if not 0 <= m < n or any(len(h) != 32 for h in (leaf, root, *path)):
        return False
    return ref_root_from_path(m, n, leaf, path) == root


def ref_verify_consistency(
    m: int, n: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    if not 0 <= m <= n or any(len(h) != 32 for h in (old_root, new_root, *proof)):
        return False
    if m == 0:  # No proof from the empty tree (by convention empty); its root is MTH({}).
        return not proof and old_root == ref_mth(0, 0) and (n > 0 or new_root == old_root)
    roots = ref_roots_from_proof(m, n, True, old_root, proof)
    return roots == (old_root, new_root)


class RefReader:
    """A HashReader serving complete nodes of the reference tree of ``size`` leaves."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.reads: list[Node] = []

    def read_nodes(self, nodes: Sequence[Node]) -> list[bytes]:
        out = []
        for level, index in nodes:
            lo, hi = index << level, (index + 1) << level
            assert level >= 0 and index >= 0 and hi <= self.size, f"no node {(level, index)}"
            self.reads.append((level, index))
            out.append(ref_mth(lo, hi))
        return out


def exact(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern for exactly ``message``."""
    return f"^{re.escape(message)}$"


def h(hexdigits: str) -> bytes:
    return bytes.fromhex(hexdigits)


# --- known answers: the classic tree ---------------------------------------------------------

CLASSIC_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
CLASSIC_LEAVES = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
H_2_4 = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"  # MTH(D[2:4])
H_4_8 = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"  # MTH(D[4:8])
H_6_8 = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"  # MTH(D[6:8])
H_4_6 = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"  # MTH(D[4:6])
H_4_7 = "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e"  # MTH(D[4:7])
L = CLASSIC_LEAVES
R = CLASSIC_ROOTS

CLASSIC_INCLUSION = {
    (0, 8): [L[1], H_2_4, H_4_8],
    (5, 8): [L[4], H_6_8, R[4]],
    (2, 3): [R[2]],
    (3, 5): [L[2], R[2], L[4]],
    (0, 1): [],
}
CLASSIC_CONSISTENCY = {
    (1, 8): [L[1], H_2_4, H_4_8],
    (6, 8): [H_4_6, H_6_8, R[4]],
    (2, 5): [H_2_4, L[4]],
    (3, 7): [L[2], L[3], R[2], H_4_7],
    (4, 8): [H_4_8],
    (8, 8): [],
}


def test_hash_primitives() -> None:
    assert leaf_hash(b"") == sha256(b"\x00") == h(L[0])
    assert node_hash(b"a" * 32, b"b" * 32) == sha256(b"\x01" + b"a" * 32 + b"b" * 32)
    assert HASH_SIZE == 32


def test_empty_root_is_sha256_of_nothing() -> None:
    want = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert want == EMPTY_ROOT == ref_mth(0, 0)
    assert root_hash(RefReader(0), 0) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT
    assert fold_nodes([]) == EMPTY_ROOT


@pytest.mark.parametrize("i", range(8))
def test_classic_leaf_hashes(i: int) -> None:
    assert leaf_hash(CLASSIC[i]) == ref_mth(i, i + 1) == h(L[i])


@pytest.mark.parametrize("size", sorted(CLASSIC_ROOTS))
def test_classic_roots(size: int) -> None:
    want = h(CLASSIC_ROOTS[size])
    assert ref_mth(0, size) == want
    assert root_hash(RefReader(size), size) == want
    compact = CompactRange()
    compact.append_many(leaf_hash(d) for d in CLASSIC[:size])
    assert compact.root() == want


@pytest.mark.parametrize(("index", "size"), sorted(CLASSIC_INCLUSION))
def test_classic_inclusion_proofs(index: int, size: int) -> None:
    want = [h(x) for x in CLASSIC_INCLUSION[index, size]]
    assert ref_path(index, 0, size) == want
    assert inclusion_proof(RefReader(size), index, size) == want
    verify_inclusion(index, size, h(L[index]), want, h(R[size]))


@pytest.mark.parametrize(("old", "new"), sorted(CLASSIC_CONSISTENCY))
def test_classic_consistency_proofs(old: int, new: int) -> None:
    want = [h(x) for x in CLASSIC_CONSISTENCY[old, new]]
    assert ref_proof(old, new) == want
    assert consistency_proof(RefReader(new), old, new) == want
    verify_consistency(old, new, h(R[old]), h(R[new]), want)


# --- exhaustive agreement with the reference up to 70 leaves ----------------------------------


def test_reference_verifiers_accept_reference_proofs() -> None:
    """Sanity of the reference itself: its verifiers undo its proofs."""
    for n in range(1, MAX + 1):
        for m in range(n):
            assert ref_verify_inclusion(m, n, ref_mth(m, m + 1), ref_path(m, 0, n), ref_mth(0, n))
        for m in range(n + 1):
            proof = ref_proof(m, n) if m else []
            assert ref_verify_consistency(m, n, ref_mth(0, m), ref_mth(0, n), proof)


@pytest.mark.parametrize("size", range(MAX + 1))
def test_root_hash_matches_reference(size: int) -> None:
    reader = RefReader(size)
    assert root_hash(reader, size) == ref_mth(0, size)
    assert len(reader.reads) <= max(1, size.bit_length())


@pytest.mark.parametrize("size", range(1, MAX + 1))
def test_inclusion_proofs_match_reference(size: int) -> None:
    root = ref_mth(0, size)
    for index in range(size):
        reader = RefReader(size)
        proof = inclusion_proof(reader, index, size)
        assert proof == ref_path(index, 0, size), (index, size)
        leaf = ref_mth(index, index + 1)
        verify_inclusion(index, size, leaf, proof, root)
        assert root_from_inclusion_proof(index, size, leaf, proof) == root
        # O(log n) node reads: each proof element is at most 2 log2(size) nodes.
        assert len(reader.reads) <= 2 * size.bit_length() ** 2


@pytest.mark.parametrize("new", range(MAX + 1))
def test_consistency_proofs_match_reference(new: int) -> None:
    new_root = ref_mth(0, new)
    for old in range(new + 1):
        proof = consistency_proof(RefReader(new), old, new)
        want = ref_proof(old, new) if old else []
        assert proof == want, (old, new)
        verify_consistency(old, new, ref_mth(0, old), new_root, proof)


def test_wrong_size_can_pass_exactly_when_the_rfc_says_so() -> None:
    """An inclusion proof alone does not bind the tree size: RFC 9162 §2.1.3.2 accepts the proof
    of leaf 0 in the size-8 tree as one in a size-5 tree (same path shape). The verifier must
    agree with the RFC, and the checkpoint's signed size is what binds the size."""
    proof = [h(x) for x in CLASSIC_INCLUSION[0, 8]]
    verify_inclusion(0, 5, h(L[0]), proof, h(R[8]))
    assert ref_verify_inclusion(0, 5, h(L[0]), proof, h(R[8]))
    for size in range(1, 17):
        for index in range(size):
            ok = ref_verify_inclusion(index, size, h(L[0]), proof, h(R[8]))
            try:
                verify_inclusion(index, size, h(L[0]), proof, h(R[8]))
            except VerificationFailed:
                assert not ok, (index, size)
            else:
                assert ok, (index, size)


# --- verification failures, with their exact messages ----------------------------------------

PROOF_0_8 = [h(x) for x in CLASSIC_INCLUSION[0, 8]]
ROOT_8 = h(R[8])
LEAF_0 = h(L[0])


@pytest.mark.parametrize(
    ("index", "size", "message"),
    [
        (-1, 8, "inclusion: leaf index -1 is outside tree size 8"),
        (8, 8, "inclusion: leaf index 8 is outside tree size 8"),
        (0, 0, "inclusion: leaf index 0 is outside tree size 0"),
        (0, -1, "inclusion: leaf index 0 is outside tree size -1"),
    ],
)
def test_inclusion_index_outside_tree(index: int, size: int, message: str) -> None:
    with pytest.raises(VerificationFailed, match=exact(message)) as info:
        verify_inclusion(index, size, LEAF_0, PROOF_0_8, ROOT_8)
    assert info.value.check == "inclusion"
    assert info.value.seq is None


def test_inclusion_bad_hash_lengths() -> None:
    with pytest.raises(VerificationFailed, match=exact("proof: leaf hash is 31 bytes, want 32")):
        verify_inclusion(0, 8, LEAF_0[:31], PROOF_0_8, ROOT_8)
    bad = [PROOF_0_8[0], PROOF_0_8[1] + b"\x00", PROOF_0_8[2]]
    with pytest.raises(VerificationFailed, match=exact("proof: proof[1] is 33 bytes, want 32")):
        verify_inclusion(0, 8, LEAF_0, bad, ROOT_8)
    with pytest.raises(VerificationFailed, match=exact("proof: proof[0] is 0 bytes, want 32")):
        verify_inclusion(0, 8, LEAF_0, [b"", *PROOF_0_8[1:]], ROOT_8)


def test_inclusion_wrong_proof_length() -> None:
    with pytest.raises(VerificationFailed, match=exact("inclusion: proof too long: 4 hashes")):
        verify_inclusion(0, 8, LEAF_0, [*PROOF_0_8, ROOT_8], ROOT_8)
    with pytest.raises(VerificationFailed, match=exact("inclusion: proof too short: 2 hashes")):
        verify_inclusion(0, 8, LEAF_0, PROOF_0_8[:2], ROOT_8)
    with pytest.raises(VerificationFailed, match=exact("inclusion: proof too short: 0 hashes")):
        verify_inclusion(0, 8, LEAF_0, [], ROOT_8)
    with pytest.raises(VerificationFailed, match=exact("inclusion: proof too long: 1 hashes")):
        verify_inclusion(0, 1, LEAF_0, [LEAF_0], LEAF_0)


def test_inclusion_wrong_root() -> None:
    wrong_leaf = h(L[1])
    got = root_from_inclusion_proof(0, 8, wrong_leaf, PROOF_0_8)
    message = f"inclusion: leaf 0 in tree 8: computed root {got.hex()}, want {ROOT_8.hex()}"
    with pytest.raises(VerificationFailed, match=exact(message)):
        verify_inclusion(0, 8, wrong_leaf, PROOF_0_8, ROOT_8)
    with pytest.raises(VerificationFailed, match=r"^inclusion: leaf 0 in tree 8: computed root "):
        verify_inclusion(0, 8, LEAF_0, PROOF_0_8, h(R[7]))
    # A single-leaf tree: the root is the leaf hash.
    verify_inclusion(0, 1, LEAF_0, [], LEAF_0)
    with pytest.raises(VerificationFailed, match=r"^inclusion: leaf 0 in tree 1: computed root"):
        verify_inclusion(0, 1, LEAF_0, [], EMPTY_ROOT)


R4, R6, R8 = h(R[4]), h(R[6]), h(R[8])
PROOF_6_8 = [h(x) for x in CLASSIC_CONSISTENCY[6, 8]]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (5, 4, "consistency: old size 5 is not within new size 4"),
        (-1, 4, "consistency: old size -1 is not within new size 4"),
        (0, -1, "consistency: old size 0 is not within new size -1"),
    ],
)
def test_consistency_sizes_out_of_order(old: int, new: int, message: str) -> None:
    with pytest.raises(VerificationFailed, match=exact(message)) as info:
        verify_consistency(old, new, R4, R4, [])
    assert info.value.check == "consistency"


def test_consistency_bad_hash_lengths() -> None:
    with pytest.raises(VerificationFailed, match=exact("proof: old root is 0 bytes, want 32")):
        verify_consistency(6, 8, b"", R8, PROOF_6_8)
    with pytest.raises(VerificationFailed, match=exact("proof: new root is 64 bytes, want 32")):
        verify_consistency(6, 8, R6, R8 * 2, PROOF_6_8)
    bad = [*PROOF_6_8[:2], PROOF_6_8[2][:-1]]
    with pytest.raises(VerificationFailed, match=exact("proof: proof[2] is 31 bytes, want 32")):
        verify_consistency(6, 8, R6, R8, bad)


def test_consistency_equal_sizes() -> None:
    verify_consistency(8, 8, R8, R8, [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(
        VerificationFailed, match=exact("consistency: proof must be empty for equal sizes")
    ):
        verify_consistency(8, 8, R8, R8, [R8])
    message = f"consistency: same size 8 but roots differ: {R8.hex()} vs {R6.hex()}"
    with pytest.raises(VerificationFailed, match=exact(message)):
        verify_consistency(8, 8, R8, R6, [])


def test_consistency_from_the_empty_tree() -> None:
    verify_consistency(0, 8, EMPTY_ROOT, R8, [])
    with pytest.raises(
        VerificationFailed, match=exact("consistency: proof must be empty from the empty tree")
    ):
        verify_consistency(0, 8, EMPTY_ROOT, R8, [R8])


def test_consistency_from_the_empty_tree_checks_the_empty_root() -> None:
    """The root of the empty tree is SHA-256("") (RFC 9162 §2.1.1, DESIGN "The ledger"): a
    size-0 checkpoint with another root is no tree at all, so nothing is consistent with it."""
    with pytest.raises(VerificationFailed, match=r"^consistency: .*root"):
        verify_consistency(0, 8, R4, R8, [])


def test_consistency_wrong_proof_length() -> None:
    with pytest.raises(VerificationFailed, match=exact("consistency: proof is empty")):
        verify_consistency(6, 8, R6, R8, [])
    # Old size a power of two: the old root is prepended, so an empty proof is "too short".
    with pytest.raises(VerificationFailed, match=exact("consistency: proof too short: 0 hashes")):
        verify_consistency(4, 8, R4, R8, [])
    with pytest.raises(VerificationFailed, match=exact("consistency: proof too short: 2 hashes")):
        verify_consistency(6, 8, R6, R8, PROOF_6_8[:2])
    with pytest.raises(VerificationFailed, match=exact("consistency: proof too long: 4 hashes")):
        verify_consistency(6, 8, R6, R8, [*PROOF_6_8, R8])


def test_consistency_wrong_roots() -> None:
    with pytest.raises(VerificationFailed, match=r"^consistency: computed old root [0-9a-f]{64}"):
        verify_consistency(6, 8, R4, R8, PROOF_6_8)
    message = f"consistency: computed new root {R8.hex()}, want {R4.hex()}"
    with pytest.raises(VerificationFailed, match=exact(message)):
        verify_consistency(6, 8, R6, R4, PROOF_6_8)
    with pytest.raises(VerificationFailed, match=r"^consistency: computed old root .*, want "):
        verify_consistency(6, 8, R8, R6, PROOF_6_8)  # swapped


# --- proof construction: preconditions and the reader -----------------------------------------


def test_construction_preconditions() -> None:
    reader = RefReader(8)
    with pytest.raises(MalformedInput, match=exact("leaf index 8 is outside a tree of size 8")):
        inclusion_proof(reader, 8, 8)
    with pytest.raises(MalformedInput, match=exact("leaf index -1 is outside a tree of size 8")):
        inclusion_proof(reader, -1, 8)
    with pytest.raises(MalformedInput, match=exact("no consistency proof from size 5 to size 4")):
        consistency_proof(reader, 5, 4)
    with pytest.raises(MalformedInput, match=exact("no consistency proof from size -1 to size 4")):
        consistency_proof(reader, -1, 4)
    with pytest.raises(MalformedInput, match=exact("tree size -1 is negative")):
        root_hash(reader, -1)
    assert reader.reads == []
    assert consistency_proof(reader, 0, 8) == []
    assert consistency_proof(reader, 8, 8) == []
    assert reader.reads == []


class ShortReader:
    def read_nodes(self, nodes: Sequence[Node]) -> list[bytes]:
        return [EMPTY_ROOT]


def test_reader_returning_the_wrong_number_of_hashes() -> None:
    with pytest.raises(MalformedInput, match=exact("hash reader returned 1 hashes, want 3")):
        root_hash(ShortReader(), 7)
    with pytest.raises(LedgerError, match="hash reader returned"):
        inclusion_proof(ShortReader(), 6, 7)


# --- range_nodes and fold_nodes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "nodes"),
    [
        (0, 0, []),
        (3, 3, []),
        (0, 1, [(0, 0)]),
        (0, 8, [(3, 0)]),
        (0, 7, [(2, 0), (1, 2), (0, 6)]),
        (4, 7, [(1, 2), (0, 6)]),
        (5, 8, [(0, 5), (1, 3)]),
        (1, 4, [(0, 1), (1, 1)]),
        (8, 16, [(3, 1)]),
        (0, 70, [(6, 0), (2, 16), (1, 34)]),
        (64, 70, [(2, 16), (1, 34)]),
        (3, 13, [(0, 3), (2, 1), (2, 2), (0, 12)]),
    ],
)
def test_range_nodes_known(start: int, end: int, nodes: list[Node]) -> None:
    assert range_nodes(start, end) == nodes


def test_range_nodes_cover_every_range_exactly() -> None:
    for start in range(MAX + 1):
        for end in range(start, MAX + 1):
            nodes = range_nodes(start, end)
            pos = start
            for level, index in nodes:
                assert level >= 0
                assert index << level == pos, (start, end, nodes)  # contiguous and aligned
                pos += 1 << level
            assert pos == end
            assert len(nodes) <= 2 * max(1, (end - start).bit_length())


def test_fold_nodes_gives_the_mth_of_every_subtree_range() -> None:
    """Every range a proof element can name — D[lo+k:hi] and D[lo:lo+k] of the RFC recursion,
    i.e. an aligned range no longer than its alignment — folds to its MTH."""
    for start in range(MAX):
        align = start & -start if start else 1 << MAX.bit_length()
        for end in range(start + 1, min(MAX, start + align) + 1):
            nodes = range_nodes(start, end)
            hashes = [ref_mth(i << lvl, (i + 1) << lvl) for lvl, i in nodes]
            assert fold_nodes(hashes) == ref_mth(start, end), (start, end)


def test_fold_nodes_small() -> None:
    a, b, c = b"a" * 32, b"b" * 32, b"c" * 32
    assert fold_nodes([a]) == a
    assert fold_nodes([a, b]) == node_hash(a, b)
    assert fold_nodes([a, b, c]) == node_hash(a, node_hash(b, c))


# --- CompactRange -----------------------------------------------------------------------------


def test_compact_range_roots_and_finished_nodes() -> None:
    compact = CompactRange()
    for size in range(1, MAX + 1):
        finished = compact.append(ref_mth(size - 1, size))
        assert compact.size == size
        assert compact.root() == ref_mth(0, size)
        # The nodes completed by leaf size-1: every complete node whose range ends at `size`.
        want = [
            (level, (size >> level) - 1, ref_mth(size - (1 << level), size))
            for level in range(size.bit_length())
            if size % (1 << level) == 0
        ]
        assert finished == want, size
        # Its hashes are the complete subtrees of the right edge, largest first.
        assert compact.hashes == [
            ref_mth(i << lvl, (i + 1) << lvl) for lvl, i in range_nodes(0, size)
        ]


@pytest.mark.parametrize("size", [0, 1, 2, 3, 8, 13, 64, 70])
def test_compact_range_from_reader(size: int) -> None:
    loaded = CompactRange.from_reader(RefReader(size), size)
    built = CompactRange()
    built.append_many(ref_mth(i, i + 1) for i in range(size))
    assert loaded == built
    assert loaded.root() == ref_mth(0, size)
    if size < MAX:
        # It keeps growing like one built leaf by leaf.
        loaded.append(ref_mth(size, size + 1))
        assert loaded.root() == ref_mth(0, size + 1)
