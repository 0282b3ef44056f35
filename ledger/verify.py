"""Verification of a whole log, one case, or one entry, over any :class:`LogSource`.

A source is the live database (:class:`ledger.store.sql.SqlLedger`) or an export folder
(:class:`ledger.store.export.ExportSource`); the checks are the same. The auditor supplies the
trust anchor: the log's *initial* public key (``name+hash+base64``). Key rotations are followed
through the log's own ``log_key.rotate`` entries.

Full verification streams the log once, in bounded memory, and stops at the first fault. For
each entry, in order:

1. ``stored-hash``   the stored leaf hash (database column or level-0 tile) is the hash of the body
2. ``entry-format``  the body parses, is RFC 8785 canonical, and has every field
3. ``sequence``      the body's ``seq`` is its position (catches deleted, inserted, swapped rows)
4. ``prev-chain``    ``prev`` is the leaf hash of the entry before
5. ``case-chain``    ``case_prev`` is the leaf hash of the case's previous entry
6. ``key-registry``  actor key and log key events are consistent
7. ``statement``     a signed statement verifies against the registry as it stood then
8. ``tile``          every completed tree node at level 8, 16, ... equals its stored tile hash
9. ``checkpoint``    each published checkpoint of this size has the recomputed root, and
   ``checkpoint-signature``: is signed by the log key in force (both keys across a rotation)

The common case takes shorter ways to the same checks, in the same order and with the same
faults: :func:`check_bundle` runs steps 1-3 of a bundle in one loop that falls back to the entry
by entry reference at the first doubt, and :meth:`_Sequential.feed_bundle` folds a whole
bundle's leaves into the tree only where a tile or checkpoint needs them
(``tests/property/test_verify_fast.py`` holds both to the reference).

Then: ``truncated`` (the log holds fewer entries than its latest checkpoint),
``unsigned-entries`` (entries no checkpoint covers), and ``consistency`` (the log's root at
the size of the auditor's trusted checkpoint equals that checkpoint's root, and the log did not
shrink).
"""

from __future__ import annotations

import hashlib
import json.encoder
import multiprocessing
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from ledger.canonical import MAX_ENTRY_BYTES, _c_encode, is_canonical, loads
from ledger.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from ledger.commitments import Opening, check_opening
from ledger.entry import (
    _ACTOR_FIELDS,
    _FIELDS,
    _HEX_HASH,
    _NAME,
    _TIME,
    FORMAT_VERSION,
    ZERO_HASH,
    Entry,
    parse_entry,
    parse_time,
)
from ledger.errors import (
    LedgerError,
    MalformedInput,
    StatementRejected,
    UnknownKey,
    VerificationFailed,
)
from ledger.keys import LOG_KEY_ROTATE, KeyRegistry, LogKeyHistory
from ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    inclusion_proof,
    leaf_hash,
    node_hash,
    verify_inclusion,
)
from ledger.note import Verifier, Verifiers
from ledger.statements import verify_statement
from ledger.tiles import ENTRIES, TILE_HEIGHT, TILE_WIDTH, TileHashReader, TileId


class LogSource(Protocol):
    """What verification reads: checkpoints, hash tiles, entry bundles, case index."""

    def latest_checkpoint_note(self) -> str: ...

    def checkpoint_notes(self) -> Iterator[str]:
        """Every published checkpoint, in increasing tree size."""
        ...

    def read_tile(self, tile: TileId) -> list[bytes]: ...

    def read_bundle(self, tile: TileId) -> list[bytes]: ...

    def stored_entry_count(self) -> int: ...

    def case_seqs(self, case_id: str | None) -> list[int]: ...

    def stored_openings(self) -> Iterator[tuple[int, str, Opening]]:
        """Openings the source holds, ordered by seq (an export may hold none)."""
        ...


@contextmanager
def snapshot_of(source: LogSource) -> Iterator[LogSource]:
    """The source as of one moment. A live database keeps growing while it is verified; a
    source that can (``SqlLedger.snapshot``) pins one consistent read for the whole check."""
    pin = getattr(source, "snapshot", None)
    if pin is None:
        yield source
        return
    with pin() as pinned:
        yield pinned


@dataclass
class Report:
    """What a successful verification covered."""

    origin: str
    tree_size: int
    root_hash: bytes
    entries: int = 0
    checkpoints: int = 0
    statements: int = 0
    openings: int = 0
    cases: int = 0
    log_keys: list[str] = field(default_factory=list)


class _Leaf(NamedTuple):
    """What the sequential checks need of one entry, after the per-entry checks."""

    leaf: bytes
    prev: bytes
    case_id: str | None
    case_prev: bytes | None
    entry: Entry | None  # kept only for log-level and statement-bearing entries


def _fail(check: str, message: str, seq: int | None, case_id: str | None = None) -> None:
    raise VerificationFailed(check, message, seq=seq, case_id=case_id)


def check_bundle(start: int, bodies: list[bytes], stored: list[bytes]) -> list[_Leaf]:
    """Steps 1-3 for the entries of one bundle: independent of every other bundle."""
    fast = _check_bundle_fast(start, bodies, stored)
    if fast is not None:
        return fast
    return _check_bundle_reference(start, bodies, stored)


def _check_bundle_reference(start: int, bodies: list[bytes], stored: list[bytes]) -> list[_Leaf]:
    """:func:`check_bundle` entry by entry through :func:`parse_entry`: names the first fault."""
    out: list[_Leaf] = []
    for i, body in enumerate(bodies):
        seq = start + i
        leaf = leaf_hash(body)
        # (1) stored-hash
        want = stored[i] if i < len(stored) else b""
        if leaf != want:
            _fail(
                "stored-hash",
                f"body hashes to {leaf.hex()}, stored leaf hash is {want.hex() or 'missing'}",
                seq,
            )
        # (2) entry-format
        try:
            entry = parse_entry(body)
        except MalformedInput as exc:
            _fail("entry-format", str(exc), seq)
        # (3) sequence
        if entry.seq != seq:
            what = "missing or moved" if entry.seq > seq else "duplicated or moved"
            _fail(
                "sequence",
                f"position {seq} holds the body of entry {entry.seq}: entry {seq} is {what}",
                seq,
                entry.case_id,
            )
        keep = entry.case_id is None or entry.statement is not None
        out.append(_Leaf(leaf, entry.prev, entry.case_id, entry.case_prev, entry if keep else None))
    return out


_FAST_ERRORS = (LedgerError, ValueError, TypeError, KeyError, RecursionError)
# parse_entry's checks of time, case_id, event, from_state, to_state, actor id and role as one
# match of the very same patterns, one a line: no pattern matches a newline, so the joined text
# matches exactly when each value matches its own pattern. A null case_id, from_state or
# to_state stands in as a value its pattern accepts.
_FIELD_LINES = re.compile(
    "\n".join(f"(?:{p.pattern})" for p in (_TIME, _NAME, _NAME, _NAME, _NAME, _NAME, _NAME))
)
if _HEX_HASH.pattern != "[0-9a-f]{64}":
    raise RuntimeError("ledger.verify: the fast entry check is out of step with ledger.entry")
# An entry's fields in RFC 8785 order (sorted: no key has a character at or above U+D800).
_SORTED_FIELDS = (
    "actor",
    "case_id",
    "case_prev",
    "commitments",
    "data",
    "event",
    "from_state",
    "idempotency_key",
    "prev",
    "seq",
    "statement",
    "time",
    "to_state",
    "v",
)
if tuple(sorted(_FIELDS)) != _SORTED_FIELDS or sorted(_ACTOR_FIELDS) != ["id", "role"]:
    raise RuntimeError("ledger.verify: the fast entry check is out of step with ledger.entry")
_entry_fields = operator.itemgetter(*_SORTED_FIELDS)
_actor_fields = operator.itemgetter("id", "role")
_encode_string = json.encoder.encode_basestring


def _encode(value: object) -> str:
    """The canonical text of a value :func:`loads` gave its text for (``is_canonical``'s
    encoder: only called when ``_c_encode`` exists)."""
    assert _c_encode is not None
    return "".join(_c_encode(value, 0))


def _check_bundle_fast(start: int, bodies: list[bytes], stored: list[bytes]) -> list[_Leaf] | None:
    """:func:`check_bundle` for a bundle every entry of which passes steps 1-3, else None.

    The checks of :func:`parse_entry` (the same patterns, the same :func:`loads`), in one loop
    and without building an :class:`Entry` for the entries the sequential checks do not keep.
    It only ever accepts: on the first doubt it returns None and the reference loop decides
    (and names the fault). Accepting means every entry passes :func:`parse_entry` and the
    result is the reference loop's; ``tests/property/test_verify_fast.py`` checks both on
    generated and corrupted bundles.

    The canonical form is :func:`is_canonical`'s comparison of the text with the encoding of
    its value, put together field by field: the encoder writes an object as its members in
    key order, each as the encoded key, ``:`` and the encoded value. The 14 keys are known and
    so are their encodings; a value that matched its name, hash or time pattern has no
    character to escape, so it encodes as itself in quotes, an ``int`` as its ``str``; the
    rest (the idempotency key, ``commitments``, ``data``, ``statement``) go through the very
    encoder ``is_canonical`` uses.
    """
    if len(stored) < len(bodies) or _c_encode is None:
        return None
    sha256 = hashlib.sha256
    hex_hash = _HEX_HASH.fullmatch
    field_lines = _FIELD_LINES.fullmatch
    fromisoformat = datetime.fromisoformat
    fromhex = bytes.fromhex
    entry_fields = _entry_fields
    actor_fields = _actor_fields
    encode = _encode
    encode_string = _encode_string
    quote = '"'
    new_leaf = tuple.__new__  # what _Leaf(...) calls, without its Python-level __new__
    out: list[_Leaf] = []
    append = out.append
    seq = start
    try:
        for body, want in zip(bodies, stored, strict=False):
            # (1) stored-hash
            leaf = sha256(b"\x00" + body).digest()
            if leaf != want or len(body) > MAX_ENTRY_BYTES:
                return None
            # (2) entry-format: parse_entry's checks. 14 members, each of the 14 fields.
            obj, text = loads(body)
            if type(obj) is not dict or len(obj) != len(_SORTED_FIELDS):
                return None
            (
                actor,
                case_id,
                case_prev,
                commitments,
                data,
                event,
                from_state,
                key,
                prev,
                s,
                statement,
                time,
                to_state,
                v,
            ) = entry_fields(obj)
            # (3) sequence: seq is start + i >= 0, so a match is also a non-negative integer
            if (
                type(v) is not int
                or v != FORMAT_VERSION
                or type(s) is not int
                or s != seq
                or type(actor) is not dict
                or len(actor) != 2
                or (statement is not None and type(statement) is not dict)
                or type(commitments) is not dict
                or type(data) is not dict
                or type(key) is not str
                or not key
            ):
                return None
            actor_id, role = actor_fields(actor)
            # _HEX_HASH: bytes.fromhex refuses anything but a str of hex digit pairs (maybe
            # spaced: then shorter than 32 bytes), and its lowercase .hex() is the str itself
            # only when that was 64 lowercase hex digits
            prev_hash = fromhex(prev)
            if len(prev) != 64 or prev_hash.hex() != prev:
                return None
            case_prev_hash = None
            if case_prev is not None:
                case_prev_hash = fromhex(case_prev)
                if len(case_prev) != 64 or case_prev_hash.hex() != case_prev:
                    return None
            # str.join refuses anything but strings (TypeError): only strings are matched.
            lines = "\n".join(
                (
                    time,
                    "0" if case_id is None else case_id,
                    event,
                    "0" if from_state is None else from_state,
                    "0" if to_state is None else to_state,
                    actor_id,
                    role,
                )
            )
            if not field_lines(lines):
                return None
            if commitments:
                for c in commitments.values():
                    if type(c) is not str or not hex_hash(c):
                        return None
            fromisoformat(time[:-1] + "+00:00")  # parse_time's second half: ValueError
            if text is None:
                if not is_canonical(obj, body, text):
                    return None
            elif text != (
                f'{{"actor":{{"id":"{actor_id}","role":"{role}"}},'
                f'"case_id":{"null" if case_id is None else quote + case_id + quote},'
                f'"case_prev":{"null" if case_prev is None else quote + case_prev + quote},'
                f'"commitments":{encode(commitments) if commitments else "{}"},'
                f'"data":{encode(data)},"event":"{event}",'
                f'"from_state":{"null" if from_state is None else quote + from_state + quote},'
                f'"idempotency_key":{encode_string(key)},"prev":"{prev}","seq":{s},'
                f'"statement":{"null" if statement is None else encode(statement)},'
                f'"time":"{time}",'
                f'"to_state":{"null" if to_state is None else quote + to_state + quote},"v":1}}'
            ):
                return None
            entry = parse_entry(body) if case_id is None or statement is not None else None
            append(new_leaf(_Leaf, (leaf, prev_hash, case_id, case_prev_hash, entry)))
            seq += 1
    except _FAST_ERRORS:
        return None
    return out


class _Checkpoints:
    """Walks the published checkpoints alongside the entry stream."""

    def __init__(self, notes: Iterator[str], size: int) -> None:
        self.notes = notes
        self._final_size = size
        self._next: tuple[Checkpoint, str] | None = None
        self._last_size = -1
        self.count = 0
        self.last_note: str | None = None
        self._advance()

    def _advance(self) -> None:
        note = next(self.notes, None)
        if note is None:
            self._next = None
            return
        text, sep, _ = note.partition("\n\n")
        if not sep:
            _fail("checkpoint", "a published checkpoint is not a signed note", None)
        cp = parse_checkpoint(text + "\n")
        if cp.size <= self._last_size:
            _fail(
                "checkpoint",
                f"published checkpoints out of order: size {cp.size} after {self._last_size}",
                None,
            )
        if cp.size > self._final_size:
            _fail(
                "checkpoint",
                f"a published checkpoint has size {cp.size}, beyond the latest "
                f"checkpoint's size {self._final_size}",
                None,
            )
        self._last_size = cp.size
        self._next = (cp, note)

    def is_due(self, size: int) -> bool:
        """True when a published checkpoint of ``size`` is next."""
        return self._next is not None and self._next[0].size == size

    def next_size(self) -> int | None:
        """The size of the next published checkpoint (None after the last)."""
        return None if self._next is None else self._next[0].size

    def due(self, size: int) -> Iterator[tuple[Checkpoint, str]]:
        while self._next is not None and self._next[0].size == size:
            yield self._next
            self.count += 1
            self.last_note = self._next[1]
            self._advance()


def check_checkpoint_signatures(
    note: str, required: Iterable[str], origin: str, size: int
) -> Checkpoint:
    """A checkpoint must carry a valid signature by every key in ``required``.

    A fault names the checkpoint's last entry (``size - 1``), as a root fault does.
    """
    keys = sorted(set(required))
    seq = size - 1 if size else None
    try:
        verifiers = Verifiers([Verifier.from_vkey(k) for k in keys])
        cp, opened = open_checkpoint(note, verifiers, origin=origin)
    except UnknownKey as exc:
        raise VerificationFailed(
            "checkpoint-signature",
            f"checkpoint of size {size}: {exc}; want a signature by {', '.join(keys)}",
            seq=seq,
        ) from exc
    except VerificationFailed as exc:
        raise VerificationFailed(
            "checkpoint-signature", f"checkpoint of size {size}: {exc.detail}", seq=seq
        ) from exc
    signed = {v.vkey for v in opened.verified}
    missing = [k for k in keys if k not in signed]
    if missing:
        _fail(
            "checkpoint-signature",
            f"checkpoint of size {size} lacks a signature by {', '.join(missing)}",
            seq,
        )
    return cp


class _Sequential:
    """Steps 4-9: the checks that need the entries before."""

    def __init__(
        self,
        source: LogSource,
        initial_key: str,
        latest: Checkpoint,
        trusted: tuple[Checkpoint, str] | None,
    ) -> None:
        self.source = source
        self.latest = latest
        self.trusted = trusted
        self.registry = KeyRegistry()
        self.log_keys = LogKeyHistory(initial_key)
        self.tree = CompactRange()
        self.prev = ZERO_HASH
        self.case_heads: dict[str, bytes] = {}
        self.nonces: set[tuple[str, str]] = set()
        self.statements = 0
        self.checkpoints = _Checkpoints(source.checkpoint_notes(), latest.size)
        self.tiles: dict[int, tuple[int, list[bytes]]] = {}
        self.openings = source.stored_openings()
        self.next_opening = next(self.openings, None)
        self.opened = 0
        self._check_size(0)

    def close(self) -> None:
        """Release the source's open readers (database cursors, files)."""
        for reader in (self.checkpoints.notes, self.openings):
            close = getattr(reader, "close", None)
            if close is not None:
                close()

    def feed(self, seq: int, item: _Leaf) -> None:
        # (4) prev-chain
        if item.prev != self.prev:
            _fail(
                "prev-chain",
                f"prev is {item.prev.hex()}, want leaf hash of entry {seq - 1} {self.prev.hex()}",
                seq,
                item.case_id,
            )
        # (5) case-chain
        if item.case_id is not None:
            want = self.case_heads.get(item.case_id)
            if item.case_prev != want:
                _fail(
                    "case-chain",
                    f"case_prev is {item.case_prev.hex() if item.case_prev else 'null'}, "
                    f"want {want.hex() if want else 'null (first entry of the case)'}",
                    seq,
                    item.case_id,
                )
            self.case_heads[item.case_id] = item.leaf
        elif item.case_prev is not None:
            _fail("case-chain", "a log-level entry must have case_prev null", seq)
        entry = item.entry
        if entry is not None:
            self._check_kept(entry)
        self._check_openings(seq, entry, item)
        self.prev = item.leaf
        # (8) tile
        for level, index, node in self.tree.append(item.leaf):
            if level and level % TILE_HEIGHT == 0:
                self._check_tile_hash(level // TILE_HEIGHT, index, node, seq)
        # (9) checkpoint
        self._check_size(seq + 1)

    def feed_bundle(self, start: int, leaves: Sequence[_Leaf]) -> None:
        """:meth:`feed` each of ``leaves`` (the entries from ``start`` on), in order.

        A whole bundle (256 entries from a multiple of 256) in which no opening is due takes a
        shorter way to the same checks in the same order. Steps 4-7 run entry by entry; the
        leaves are folded into the compact range only where a check needs the tree: at a
        checkpoint (or the trusted checkpoint) inside the bundle, whose root comes from the
        range so far plus the bundle's leaves before it, folded as appending them one by one
        would have left them; and after the bundle's last entry, whose leaves fold into one
        node of level 8 for steps 8 and 9. Elsewhere inside a bundle, steps 8-9 find nothing
        to check: no node of level 8 or up is complete and no checkpoint has that size.
        """
        count = len(leaves)
        end = start + count
        if (
            count != TILE_WIDTH
            or start % TILE_WIDTH
            or self.tree.size != start
            or (self.next_opening is not None and self.next_opening[0] < end)
        ):
            for i, item in enumerate(leaves):
                self.feed(start + i, item)
            return
        heads = self.case_heads
        prev = self.prev
        done = 0
        while True:
            stop = self._next_root_check(start + done, end) - start
            for leaf, item_prev, case_id, case_prev, entry in leaves[done:stop]:
                # (4) prev-chain, (5) case-chain: feed reports any fault
                if item_prev != prev or (
                    heads.get(case_id) != case_prev
                    if case_id is not None
                    else case_prev is not None
                ):
                    self.prev = prev
                    self._feed_from(start, leaves, done)
                    return
                if case_id is not None:
                    heads[case_id] = leaf
                prev = leaf
                if entry is not None:
                    self._check_kept(entry)
                done += 1
            if stop == count:
                break
            # (9) a checkpoint inside the bundle
            partial = CompactRange(start + stop, self.tree.hashes + _subtrees(leaves, stop))
            self._check_size(start + stop, partial)
        self.prev = prev
        # (8) tile
        self._append_bundle([item.leaf for item in leaves], end - 1)
        # (9) checkpoint
        self._check_size(end)

    def _next_root_check(self, after: int, end: int) -> int:
        """The first size in ``(after, end)`` with a checkpoint to check, else ``end``."""
        stop = end
        size = self.checkpoints.next_size()
        if size is not None and after < size < stop:
            stop = size
        if self.trusted is not None and after < self.trusted[0].size < stop:
            stop = self.trusted[0].size
        return stop

    def _feed_from(self, start: int, leaves: Sequence[_Leaf], done: int) -> None:
        """Back to :meth:`feed` after the first ``done`` leaves of a bundle went the short way
        (their steps 4-7 done, and steps 8-9 up to the last checkpoint size among them)."""
        for item in leaves[:done]:
            self.tree.append(item.leaf)  # completes no node of level 8: ``done`` < 256
        for i in range(done, len(leaves)):
            self.feed(start + i, leaves[i])

    def _append_bundle(self, leaves: list[bytes], seq: int) -> None:
        """Append a whole aligned bundle's leaves to the compact range, checking the nodes of
        level 8, 16, ... it completes against their tiles, as :meth:`feed` would at ``seq``."""
        h = _fold_perfect(leaves)
        tree = self.tree
        index = tree.size >> TILE_HEIGHT  # of the bundle's node at level 8
        level = TILE_HEIGHT
        self._check_tile_hash(1, index, h, seq)
        hashes = tree.hashes  # all of level 8 and up: the tree size is a multiple of 256
        while (index >> (level - TILE_HEIGHT)) & 1:
            h = node_hash(hashes.pop(), h)
            level += 1
            if level % TILE_HEIGHT == 0:
                self._check_tile_hash(level // TILE_HEIGHT, index >> (level - TILE_HEIGHT), h, seq)
        hashes.append(h)
        tree.size += len(leaves)

    def _check_kept(self, entry: Entry) -> None:
        # (6) key-registry
        self.registry.apply(entry)
        self.log_keys.apply(entry)
        # (7) statement
        if entry.statement is not None:
            self._check_statement(entry)

    def _check_statement(self, entry: Entry) -> None:
        assert entry.statement is not None
        if entry.case_id is None:
            _fail("statement", "a statement outside any case", entry.seq)
        assert entry.case_id is not None
        try:
            stmt = verify_statement(
                entry.statement,
                self.registry,
                case_id=entry.case_id,
                step=entry.event,
                at=parse_time(entry.time),
                seen_nonce=lambda issuer, nonce: (issuer, nonce) in self.nonces,
            )
        except StatementRejected as exc:
            raise VerificationFailed(
                "statement", f"{exc.reason}: {exc}", seq=entry.seq, case_id=entry.case_id
            ) from exc
        except LedgerError as exc:
            raise VerificationFailed(
                "statement", str(exc), seq=entry.seq, case_id=entry.case_id
            ) from exc
        self.nonces.add((stmt.issuer, stmt.nonce))
        self.statements += 1

    def _check_openings(self, seq: int, entry: Entry | None, item: _Leaf) -> None:
        while self.next_opening is not None and self.next_opening[0] == seq:
            _, name, opening = self.next_opening
            commitments = entry.commitments if entry is not None else None
            if commitments is None:
                # The entry was not kept; re-read it (openings are rare).
                tile = TileId(ENTRIES, seq // TILE_WIDTH, TILE_WIDTH)
                body = self._bundle_entry(tile, seq)
                commitments = parse_entry(body).commitments
            if name not in commitments:
                _fail("commitment-opening", f"opening for unknown field {name!r}", seq)
            try:
                check_opening(commitments[name], opening)
            except VerificationFailed as exc:
                raise VerificationFailed(
                    "commitment-opening", f"field {name!r}: {exc.detail}", seq=seq
                ) from exc
            self.opened += 1
            self.next_opening = next(self.openings, None)
        if self.next_opening is not None and self.next_opening[0] < seq:
            _fail("commitment-opening", "openings are not ordered by seq", self.next_opening[0])

    def _bundle_entry(self, tile: TileId, seq: int) -> bytes:
        size = self.latest.size
        width = min(TILE_WIDTH, size - tile.index * TILE_WIDTH)
        bodies = self.source.read_bundle(TileId(ENTRIES, tile.index, width))
        return bodies[seq % TILE_WIDTH]

    def _check_tile_hash(self, tile_level: int, index: int, node: bytes, seq: int) -> None:
        n = index // TILE_WIDTH
        cached = self.tiles.get(tile_level)
        if cached is None or cached[0] != n:
            count = self.latest.size >> (TILE_HEIGHT * tile_level)
            width = min(TILE_WIDTH, count - n * TILE_WIDTH)
            cached = (n, self.source.read_tile(TileId(tile_level, n, width)))
            self.tiles[tile_level] = cached
        hashes = cached[1]
        got = hashes[index % TILE_WIDTH] if index % TILE_WIDTH < len(hashes) else b""
        if got != node:
            _fail(
                "tile",
                f"tile level {tile_level} hash {index} is {got.hex() or 'missing'}, "
                f"the entries give {node.hex()}",
                seq,
            )

    def _check_size(self, size: int, tree: CompactRange | None = None) -> None:
        """Step 9 at ``size``: ``tree`` holds the first ``size`` leaves (default: all so far)."""
        trusted = (
            self.trusted if self.trusted is not None and self.trusted[0].size == size else None
        )
        if trusted is None and not self.checkpoints.is_due(size):
            return  # nothing to compare the root with at this size
        root = (tree if tree is not None else self.tree).root() if size else EMPTY_ROOT
        for cp, note in self.checkpoints.due(size):
            mismatch = (
                f"checkpoint of size {size} has root {cp.root_hash.hex()}, "
                f"the entries give {root.hex()}"
            )
            self._check_checkpoint(cp, note, root, "checkpoint", mismatch)
        if trusted is not None:
            cp, note = trusted
            mismatch = (
                f"your trusted checkpoint of size {size} has root {cp.root_hash.hex()}, "
                f"but the log's root at that size is {root.hex()}: the log forked"
            )
            self._check_checkpoint(cp, note, root, "consistency", mismatch)

    def _check_checkpoint(
        self, cp: Checkpoint, note: str, root: bytes, check: str, mismatch: str
    ) -> None:
        """The checkpoint has the entries' root (else ``check`` fails) and the right keys."""
        if cp.root_hash != root:
            _fail(check, mismatch, cp.size - 1 if cp.size else None)
        check_checkpoint_signatures(
            note, self.log_keys.keys_for_checkpoint(cp.size), self.latest.origin, cp.size
        )


def _fold_perfect(row: list[bytes]) -> bytes:
    """The root of a perfect subtree from its 2**k leaf hashes (node_hash, level by level)."""
    sha256 = hashlib.sha256
    while len(row) > 1:
        row = [sha256(b"\x01" + row[i] + row[i + 1]).digest() for i in range(0, len(row), 2)]
    return row[0]


def _subtrees(leaves: Sequence[_Leaf], count: int) -> list[bytes]:
    """What :class:`CompactRange` holds after appending the first ``count`` leaves to an
    empty range: the perfect subtrees of the set bits of ``count``, largest first."""
    out: list[bytes] = []
    first = 0
    for level in range(count.bit_length() - 1, -1, -1):
        if count >> level & 1:
            span = 1 << level
            out.append(_fold_perfect([item.leaf for item in leaves[first : first + span]]))
            first += span
    return out


def _read_latest(source: LogSource) -> tuple[Checkpoint, str]:
    note = source.latest_checkpoint_note()
    text, sep, _ = note.partition("\n\n")
    if not sep:
        raise VerificationFailed("checkpoint", "the latest checkpoint is not a signed note")
    return parse_checkpoint(text + "\n"), note


def _bundles(source: LogSource, size: int) -> Iterator[tuple[int, list[bytes], list[bytes]]]:
    for n in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        bodies = source.read_bundle(TileId(ENTRIES, n, width))
        stored = source.read_tile(TileId(0, n, width))
        start = n * TILE_WIDTH
        if len(bodies) < width:
            # Check what is there first: a deleted row shows up as a sequence fault.
            check_bundle(start, bodies, stored)
            end = start + len(bodies)
            if _entries_follow(source, n + 1, size):
                _fail("sequence", f"entry {end} is missing: entries after it are present", end)
            _fail(
                "truncated", f"the log ends at entry {end - 1}, its checkpoint covers {size}", end
            )
        if len(bodies) > width:
            check_bundle(start, bodies[:width], stored)
            _fail(
                "unsigned-entries",
                f"bundle {n} holds {len(bodies)} entries, the checkpoint covers {width}",
                start + width,
            )
        yield start, bodies, stored


def _entries_follow(source: LogSource, n: int, size: int) -> bool:
    """True when bundle ``n`` of the tree of ``size`` holds anything."""
    if n * TILE_WIDTH >= size:
        return False
    width = min(TILE_WIDTH, size - n * TILE_WIDTH)
    return bool(source.read_bundle(TileId(ENTRIES, n, width)))


def verify_log(
    source: LogSource,
    initial_key: str,
    *,
    trusted_checkpoint: str | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
    bundle_reader: Callable[[int, int], list[_Leaf]] | None = None,
) -> Report:
    """Full verification (steps 1-9, then truncation, coverage and consistency).

    ``initial_key`` is the verifier key the log started with. ``trusted_checkpoint`` is a
    signed checkpoint the auditor kept from before. ``workers > 1`` runs steps 1-3 in that many
    processes through ``bundle_reader`` (a picklable function of ``(start, width)``).
    """
    with snapshot_of(source) as pinned:
        return _verify_log(
            pinned,
            initial_key,
            trusted_checkpoint=trusted_checkpoint,
            progress=progress,
            workers=workers,
            bundle_reader=bundle_reader,
        )


def _verify_log(
    source: LogSource,
    initial_key: str,
    *,
    trusted_checkpoint: str | None,
    progress: Callable[[int], None] | None,
    workers: int,
    bundle_reader: Callable[[int, int], list[_Leaf]] | None,
) -> Report:
    latest, latest_note = _read_latest(source)
    trusted = None
    if trusted_checkpoint is not None:
        text, sep, _ = trusted_checkpoint.partition("\n\n")
        if not sep:
            raise MalformedInput("the trusted checkpoint is not a signed note")
        trusted = (parse_checkpoint(text + "\n"), trusted_checkpoint)
        if trusted[0].origin != latest.origin:
            _fail(
                "consistency",
                f"trusted checkpoint is for origin {trusted[0].origin!r}, "
                f"this log is {latest.origin!r}",
                None,
            )
        if trusted[0].size > latest.size:
            _fail(
                "consistency",
                f"the log shrank: your trusted checkpoint has size {trusted[0].size}, "
                f"the log's latest has {latest.size}",
                latest.size,
            )
    state = _Sequential(source, initial_key, latest, trusted)
    try:
        return _verify_stream(state, source, latest, latest_note, progress, workers, bundle_reader)
    finally:
        state.close()


def _verify_stream(
    state: _Sequential,
    source: LogSource,
    latest: Checkpoint,
    latest_note: str,
    progress: Callable[[int], None] | None,
    workers: int,
    bundle_reader: Callable[[int, int], list[_Leaf]] | None,
) -> Report:
    size = latest.size
    chunks: Iterable[tuple[int, list[_Leaf]]]
    if workers > 1 and bundle_reader is not None:
        chunks = _parallel_chunks(bundle_reader, size, workers)
    else:
        chunks = ((start, check_bundle(start, b, s)) for start, b, s in _bundles(source, size))
    done = 0
    for start, leaves in chunks:
        for first in range(0, len(leaves), TILE_WIDTH):
            state.feed_bundle(start + first, leaves[first : first + TILE_WIDTH])
        done += len(leaves)
        if progress is not None:
            progress(len(leaves))
    if done != size:
        _fail("truncated", f"the log holds {done} entries, its checkpoint covers {size}", done)
    stored = source.stored_entry_count()
    if stored > size:
        _fail(
            "unsigned-entries",
            f"the log holds {stored} entries but its latest checkpoint covers only {size}",
            size,
        )
    # (9) for the latest checkpoint too, when it is not the last published one.
    if state.checkpoints.last_note != latest_note:
        if state.tree.root() != latest.root_hash and size:
            _fail(
                "checkpoint",
                f"the latest checkpoint's root {latest.root_hash.hex()} is not "
                f"the root of the entries {state.tree.root().hex()}",
                size - 1,
            )
        check_checkpoint_signatures(
            latest_note, state.log_keys.keys_for_checkpoint(size), latest.origin, size
        )
    if next(state.openings, None) is not None or state.next_opening is not None:
        pending = state.next_opening
        _fail(
            "commitment-opening",
            "an opening names an entry beyond the log",
            pending[0] if pending else None,
        )
    return Report(
        origin=latest.origin,
        tree_size=size,
        root_hash=latest.root_hash,
        entries=size,
        checkpoints=state.checkpoints.count,
        statements=state.statements,
        openings=state.opened,
        cases=len(state.case_heads),
        log_keys=[k for k, _ in state.log_keys.history],
    )


def _parallel_chunks(
    reader: Callable[[int, int], list[_Leaf]], size: int, workers: int
) -> Iterator[tuple[int, list[_Leaf]]]:
    """Steps 1-3 in ``workers`` processes, results consumed in order (bounded by imap)."""
    step = TILE_WIDTH * 16
    jobs = [(start, min(step, size - start)) for start in range(0, size, step)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        for (start, _), leaves in zip(
            jobs, pool.imap(_call_reader, [(reader, j) for j in jobs]), strict=True
        ):
            yield start, leaves


def _call_reader(
    args: tuple[Callable[[int, int], list[_Leaf]], tuple[int, int]],
) -> list[_Leaf]:
    reader, (start, count) = args
    return reader(start, count)


def entry_included(seq: int, body: bytes, proof: Sequence[bytes], checkpoint: Checkpoint) -> Entry:
    """``body`` is entry ``seq`` of the tree ``checkpoint`` signs (RFC 9162 §2.1.3.2), and a
    well-formed entry that says so itself."""
    try:
        verify_inclusion(seq, checkpoint.size, leaf_hash(body), proof, checkpoint.root_hash)
    except VerificationFailed as exc:
        raise VerificationFailed("inclusion", exc.detail, seq=seq) from exc
    try:
        entry = parse_entry(body)
    except MalformedInput as exc:
        raise VerificationFailed("entry-format", str(exc), seq=seq) from exc
    if entry.seq != seq:
        _fail("sequence", f"the body says seq {entry.seq}, the proof is for {seq}", seq)
    return entry


@dataclass
class CaseReport:
    """What a case verification covered."""

    case_id: str
    tree_size: int
    entries: list[Entry]


def verify_entries_included(
    source: LogSource,
    initial_key: str,
    seqs: list[int],
) -> tuple[Checkpoint, list[Entry]]:
    """Each of ``seqs`` is in the tree of the latest checkpoint (RFC 9162 §2.1.3.2).

    The checkpoint's signature is checked against the log key in force at its size, which is
    folded from the log-level entries (themselves checked for inclusion).
    """
    with snapshot_of(source) as pinned:
        return _verify_entries_included(pinned, initial_key, seqs)


def verified_log_keys(source: LogSource, initial_key: str) -> tuple[Checkpoint, LogKeyHistory]:
    """The latest checkpoint and the log's key history from ``initial_key`` on.

    The history is folded from the log-level entries, each proved included under the latest
    checkpoint, whose signature is checked against the keys it names for its size. The
    history then tells which keys must sign any earlier published checkpoint.
    """
    with snapshot_of(source) as pinned:
        latest, _, keys = _included_under_latest(pinned, initial_key, [])
    return latest, keys


def _verify_entries_included(
    source: LogSource, initial_key: str, seqs: list[int]
) -> tuple[Checkpoint, list[Entry]]:
    latest, found, _ = _included_under_latest(source, initial_key, seqs)
    return latest, found


def _included_under_latest(
    source: LogSource, initial_key: str, seqs: list[int]
) -> tuple[Checkpoint, list[Entry], LogKeyHistory]:
    latest, note = _read_latest(source)
    size = latest.size
    reader = TileHashReader(source, size)
    cache: dict[int, list[bytes]] = {}

    def body_at(seq: int) -> bytes:
        n = seq // TILE_WIDTH
        if n not in cache:
            width = min(TILE_WIDTH, size - n * TILE_WIDTH)
            cache.clear()
            cache[n] = source.read_bundle(TileId(ENTRIES, n, width))
        bodies = cache[n]
        if seq % TILE_WIDTH >= len(bodies):
            _fail("truncated", f"entry {seq} is missing from the log", seq)
        return bodies[seq % TILE_WIDTH]

    checked: dict[int, Entry] = {}

    def included(seq: int) -> Entry:
        if not 0 <= seq < size:
            _fail("inclusion", f"entry {seq} is outside the log's tree of size {size}", seq)
        entry = checked.get(seq)
        if entry is None:
            proof = inclusion_proof(reader, seq, size)
            entry = checked[seq] = entry_included(seq, body_at(seq), proof, latest)
        return entry

    keys = LogKeyHistory(initial_key)
    for seq in source.case_seqs(None):
        entry = included(seq)
        if entry.event == LOG_KEY_ROTATE:
            keys.apply(entry)
    check_checkpoint_signatures(note, keys.keys_for_checkpoint(size), latest.origin, size)
    return latest, [included(s) for s in seqs], keys


def verify_case(source: LogSource, initial_key: str, case_id: str) -> CaseReport:
    """One case: every entry included under the latest checkpoint, and its ``case_prev`` chain.

    Statements in the case are checked against the actor key registry folded from the
    log-level entries before each of them.
    """
    with snapshot_of(source) as pinned:
        seqs = pinned.case_seqs(case_id)
        if not seqs:
            raise MalformedInput(f"the log has no entries for case {case_id!r}")
        latest, case_entries = _verify_entries_included(pinned, initial_key, seqs)
        _, log_entries = _verify_entries_included(pinned, initial_key, pinned.case_seqs(None))
    check_case_chain(case_entries)
    _check_case_statements(case_entries, log_entries)
    return CaseReport(case_id, latest.size, case_entries)


def check_case_chain(case_entries: list[Entry]) -> None:
    """Each entry's ``case_prev`` is the leaf hash of the case's entry before it."""
    want: bytes | None = None
    for entry in case_entries:
        if entry.case_prev != want:
            _fail(
                "case-chain",
                f"case_prev is {entry.case_prev.hex() if entry.case_prev else 'null'}, "
                f"want {want.hex() if want else 'null (first entry of the case)'}",
                entry.seq,
                entry.case_id,
            )
        want = leaf_hash(entry.body)


def _check_case_statements(case_entries: list[Entry], log_entries: list[Entry]) -> None:
    registry = KeyRegistry()
    pending = iter(log_entries)
    nxt = next(pending, None)
    nonces: set[tuple[str, str]] = set()
    for entry in case_entries:
        while nxt is not None and nxt.seq < entry.seq:
            registry.apply(nxt)
            nxt = next(pending, None)
        if entry.statement is None:
            continue
        assert entry.case_id is not None
        try:
            stmt = verify_statement(
                entry.statement,
                registry,
                case_id=entry.case_id,
                step=entry.event,
                at=parse_time(entry.time),
                seen_nonce=lambda issuer, nonce: (issuer, nonce) in nonces,
            )
        except StatementRejected as exc:
            raise VerificationFailed(
                "statement", f"{exc.reason}: {exc}", seq=entry.seq, case_id=entry.case_id
            ) from exc
        nonces.add((stmt.issuer, stmt.nonce))


def verify_entry(source: LogSource, initial_key: str, seq: int) -> Entry:
    """One entry: its inclusion under the latest signed checkpoint."""
    _, found = verify_entries_included(source, initial_key, [seq])
    return found[0]


def check_openings(entry: Entry, opened: Mapping[str, Opening]) -> None:
    """Each opening handed to an auditor matches the entry's commitment."""
    for name, opening in opened.items():
        if name not in entry.commitments:
            _fail("commitment-opening", f"entry has no commitment named {name!r}", entry.seq)
        check_opening(entry.commitments[name], opening)
