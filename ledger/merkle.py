"""The RFC 9162 Merkle tree: hashes, proofs, and their checks.

Hashing (§2.1.1) is kept apart from proofs. Proof *construction* needs stored hashes; it reaches
storage through :class:`HashReader`, which returns the hashes of complete subtrees named by
``(level, index)``: the node at ``level`` L and ``index`` I covers leaves
``[I * 2**L, (I + 1) * 2**L)``. Proof *verification* needs no storage at all.

Functions are paired: :func:`inclusion_proof` with :func:`verify_inclusion`,
:func:`consistency_proof` with :func:`verify_consistency`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ledger.errors import MalformedInput, VerificationFailed

HASH_SIZE = 32
#: RFC 9162 §2.1.1: the hash of an empty tree is the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

Node = tuple[int, int]
"""A complete subtree: ``(level, index)``."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


class HashReader(Protocol):
    """Reads the hashes of complete subtrees from some store."""

    def read_nodes(self, nodes: Sequence[Node]) -> list[bytes]:
        """Return the hash of each ``(level, index)`` node, in the order asked."""
        ...


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``), RFC 9162 §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[Node]:
    """The complete subtrees whose concatenation is the leaf range ``[start, end)``.

    For a range that is itself an RFC 9162 subtree (as every proof element is), the hash of the
    range is these nodes folded right to left with :func:`node_hash` (see :func:`fold_nodes`).
    Nodes are returned left to right (for such a subtree range, larger first); there are at
    most ``2 * log2(end - start)``.
    """
    nodes: list[Node] = []
    while start < end:
        # Largest aligned power of two starting at `start` that fits in the range.
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while (1 << level) > end - start:
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def fold_nodes(hashes: Sequence[bytes]) -> bytes:
    """Hash of a range from its :func:`range_nodes` hashes: fold right to left (RFC 9162 MTH)."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]) as leaf ranges, leaf-most first."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.4.1 PROOF(m, D[n]) / SUBPROOF as leaf ranges, in proof order."""
    ranges: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    # SUBPROOF(m, D[lo:hi], b): iterative form, collecting right-to-left then reversed.
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                ranges.append((lo, hi))
            break
        k = _split(n)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    ranges.reverse()
    return ranges


def _read_ranges(reader: HashReader, ranges: list[tuple[int, int]]) -> list[bytes]:
    per_range = [range_nodes(a, b) for a, b in ranges]
    wanted = [node for nodes in per_range for node in nodes]
    hashes = reader.read_nodes(wanted)
    if len(hashes) != len(wanted):
        raise MalformedInput(f"hash reader returned {len(hashes)} hashes, want {len(wanted)}")
    out: list[bytes] = []
    pos = 0
    for nodes in per_range:
        out.append(fold_nodes(hashes[pos : pos + len(nodes)]))
        pos += len(nodes)
    return out


def root_hash(reader: HashReader, size: int) -> bytes:
    """RFC 9162 §2.1.1 MTH of the first ``size`` leaves, read in O(log size) node reads."""
    if size < 0:
        raise MalformedInput(f"tree size {size} is negative")
    if size == 0:
        return EMPTY_ROOT
    return _read_ranges(reader, [(0, size)])[0]


def inclusion_proof(reader: HashReader, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1: the inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
    if not 0 <= index < size:
        raise MalformedInput(f"leaf index {index} is outside a tree of size {size}")
    return _read_ranges(reader, _inclusion_ranges(index, size))


def consistency_proof(reader: HashReader, old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1: the consistency proof from ``old_size`` to ``new_size``."""
    if not 0 <= old_size <= new_size:
        raise MalformedInput(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    return _read_ranges(reader, _consistency_ranges(old_size, new_size))


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationFailed("proof", f"{name} is {len(value)} bytes, want {HASH_SIZE}")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2 steps 1-5: the root implied by an inclusion proof."""
    if not 0 <= index < size:
        raise VerificationFailed("inclusion", f"leaf index {index} is outside tree size {size}")
    _check_hash("leaf hash", leaf)
    fn, sn, r = index, size - 1, leaf
    for i, p in enumerate(proof):
        _check_hash(f"proof[{i}]", p)
        if sn == 0:
            raise VerificationFailed("inclusion", f"proof too long: {len(proof)} hashes")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationFailed("inclusion", f"proof too short: {len(proof)} hashes")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: raise :class:`VerificationFailed` unless the proof holds."""
    got = root_from_inclusion_proof(index, size, leaf, proof)
    if got != root:
        raise VerificationFailed(
            "inclusion",
            f"leaf {index} in tree {size}: computed root {got.hex()}, want {root.hex()}",
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: raise :class:`VerificationFailed` unless the proof holds."""
    if not 0 <= old_size <= new_size:
        raise VerificationFailed(
            "consistency", f"old size {old_size} is not within new size {new_size}"
        )
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    for i, p in enumerate(proof):
        _check_hash(f"proof[{i}]", p)
    if old_size == new_size:
        if proof:
            raise VerificationFailed("consistency", "proof must be empty for equal sizes")
        if old_root != new_root:
            raise VerificationFailed(
                "consistency",
                f"same size {old_size} but roots differ: {old_root.hex()} vs {new_root.hex()}",
            )
        return
    if old_size == 0:
        if proof:
            raise VerificationFailed("consistency", "proof must be empty from the empty tree")
        if old_root != EMPTY_ROOT:
            raise VerificationFailed(
                "consistency",
                f"computed old root {EMPTY_ROOT.hex()}, want {old_root.hex()}",
            )
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: old size is a power of two
        path.insert(0, old_root)
    if not path:
        raise VerificationFailed("consistency", "proof is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:  # step 6
        if sn == 0:
            raise VerificationFailed("consistency", f"proof too long: {len(proof)} hashes")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationFailed("consistency", f"proof too short: {len(proof)} hashes")
    if fr != old_root:
        raise VerificationFailed(
            "consistency", f"computed old root {fr.hex()}, want {old_root.hex()}"
        )
    if sr != new_root:
        raise VerificationFailed(
            "consistency", f"computed new root {sr.hex()}, want {new_root.hex()}"
        )


@dataclass
class CompactRange:
    """The right edge of a tree being built leaf by leaf, in O(log n) memory.

    ``hashes[i]`` is the hash of a complete subtree; sizes are the set bits of ``size``, largest
    first. Used by streaming verification and by the append path to compute roots without
    reading the tree back.
    """

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return each complete node it finished as ``(level, index, hash)``.

        The first item is the leaf itself at level 0.
        """
        index = self.size
        h = leaf
        level = 0
        finished = [(0, index, h)]
        while (index >> level) & 1:
            h = node_hash(self.hashes.pop(), h)
            level += 1
            finished.append((level, index >> level, h))
        self.hashes.append(h)
        self.size += 1
        return finished

    def append_many(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """RFC 9162 MTH of the leaves appended so far."""
        return fold_nodes(self.hashes)

    @classmethod
    def from_reader(cls, reader: HashReader, size: int) -> CompactRange:
        """Load the right edge of the tree of ``size`` leaves from stored hashes."""
        nodes = range_nodes(0, size)
        return cls(size=size, hashes=list(reader.read_nodes(nodes)) if nodes else [])
