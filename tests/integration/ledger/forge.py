"""Forging and tampering, for tests only: what a malicious server holding the log key can write.

The live append path (:meth:`ledger.store.sql.SqlLedger.append_batch`) checks every actor
statement and stamps the wall-clock time, so it can write neither a log whose statements are
bad nor the same log twice. A server that holds the log's signing key can do both by writing
the tables, or an export folder, itself. These helpers do exactly that, from the library's own
building blocks; the production code has no such path and needs none.

Building bodies
    :class:`Draft` describes an entry; :func:`chain` turns drafts into canonical bodies with
    :func:`ledger.entry.build_body`, filling in ``seq``, ``prev`` and ``case_prev`` as an honest
    log would (continuing from a :class:`Head`), at the fixed time :data:`T0` plus ``seq``
    seconds unless a draft gives its own. Nothing is checked: a draft may carry a forged or
    replayed statement.

Writing them
    :func:`append_rows` appends pre-built bodies to an initialised database: the ``entries``
    rows, the ``tree_nodes`` rows they complete (tree levels 8, 16, ...), and optionally a
    checkpoint of the new size signed with the log key (then the ``log_head`` moves too).
    :func:`write_export` writes an export folder in the layout of
    :func:`ledger.store.export.export_log` from a list of bodies, with checkpoints at chosen
    sizes.

Editing an export
    :func:`read_entries` and :func:`write_entries` read and rewrite the entry bundles and the
    level-0 hash tiles as two lists (bodies, stored leaf hashes), which is how a tamperer
    deletes, inserts, swaps or truncates entries; :func:`flip_byte` changes one byte of a file;
    :func:`write_bundle` rewrites one bundle alone; :func:`entry_location` finds a body in its
    bundle file; :func:`tile_file` names a tile's file; :func:`replace_checkpoint` puts a note
    in place of the published (and maybe latest) checkpoint of its size.

Expecting a fault
    :class:`Fault` is what verification must report (check, first bad entry, a regular
    expression searched in the message); :func:`verification_fault` runs full verification
    and returns its fault, :func:`check_fault` asserts it.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Table, func, insert, select, update

from ledger.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from ledger.entry import ZERO_HASH, Actor, build_body, format_time, parse_entry
from ledger.errors import VerificationFailed
from ledger.keys import LOG_KEY_ROTATE, LogKeyHistory
from ledger.merkle import EMPTY_ROOT, CompactRange, leaf_hash
from ledger.note import Signer
from ledger.store.export import EXPORT_FORMAT, ExportSource
from ledger.store.schema import checkpoints, entries, log_head, tree_nodes
from ledger.store.sql import SqlLedger, write_transaction
from ledger.tiles import (
    ENTRIES,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileId,
    encode_entry_bundle,
    encode_hash_tile,
    tile_path,
    tiles_for_size,
)
from ledger.verify import LogSource, verify_log

#: The time of entry 0 of a forged log; entry ``seq`` is ``seq`` seconds later.
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
OFFICER = Actor("officer-1", "licensing_officer")


def entry_time(seq: int) -> str:
    """The fixed time of a forged entry: :data:`T0` plus ``seq`` seconds."""
    return format_time(T0 + timedelta(seconds=seq))


# --- bodies ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """An entry to forge: everything but ``seq``, ``prev`` and ``case_prev``.

    ``idempotency_key`` defaults to ``forged/<seq>``, ``time`` to :func:`entry_time`.
    """

    event: str
    case_id: str | None = None
    actor: Actor = OFFICER
    data: dict[str, Any] = field(default_factory=dict)
    statement: dict[str, Any] | None = None
    from_state: str | None = None
    to_state: str | None = None
    idempotency_key: str | None = None
    time: str | None = None


@dataclass
class Head:
    """Where a chain goes on: the next ``seq``, the last leaf hash, each case's last leaf hash."""

    size: int = 0
    prev: bytes = ZERO_HASH
    cases: dict[str, bytes] = field(default_factory=dict)

    def advance(self, body: bytes) -> None:
        """Move past one body (its own ``seq`` is not looked at)."""
        leaf = leaf_hash(body)
        case_id = parse_entry(body).case_id
        if case_id is not None:
            self.cases[case_id] = leaf
        self.prev = leaf
        self.size += 1


def chain(drafts: Iterable[Draft], head: Head | None = None) -> list[bytes]:
    """Canonical bodies for ``drafts``, chained on from ``head`` (which is advanced in place)."""
    at = head if head is not None else Head()
    bodies: list[bytes] = []
    for d in drafts:
        seq = at.size
        body = build_body(
            seq=seq,
            prev=at.prev,
            case_prev=at.cases.get(d.case_id) if d.case_id is not None else None,
            time=d.time if d.time is not None else entry_time(seq),
            case_id=d.case_id,
            event=d.event,
            from_state=d.from_state,
            to_state=d.to_state,
            actor=d.actor,
            statement=d.statement,
            idempotency_key=d.idempotency_key or f"forged/{seq}",
            commitments={},
            data=d.data,
        )
        leaf = leaf_hash(body)
        if d.case_id is not None:
            at.cases[d.case_id] = leaf
        at.prev = leaf
        at.size += 1
        bodies.append(body)
    return bodies


def head_of(bodies: Iterable[bytes]) -> Head:
    """The :class:`Head` after ``bodies`` (from an empty log)."""
    head = Head()
    for body in bodies:
        head.advance(body)
    return head


class Tree:
    """The Merkle tree of a list of leaf hashes, as the tiles store it.

    ``rows[L]`` are the hashes of tree level ``8 * L`` that are complete (``rows[0]`` the
    leaves); ``roots[n]`` is the root after ``n`` leaves for every ``n`` asked for.
    """

    def __init__(self, leaves: Iterable[bytes], sizes: Iterable[int] = ()) -> None:
        want = set(sizes)
        self.rows: list[list[bytes]] = [[]]
        self.roots: dict[int, bytes] = {0: EMPTY_ROOT} if 0 in want else {}
        tree = CompactRange()
        for leaf in leaves:
            for level, _, node in tree.append(leaf):
                if level % TILE_HEIGHT == 0:
                    row = level // TILE_HEIGHT
                    if row == len(self.rows):
                        self.rows.append([])
                    self.rows[row].append(node)
            if tree.size in want:
                self.roots[tree.size] = tree.root()
        self.size = tree.size


def signed_checkpoint(signer: Signer, origin: str, size: int, root: bytes) -> str:
    """A checkpoint note of ``size`` and ``root``, signed by ``signer``."""
    return sign_checkpoint(Checkpoint(origin, size, root), [signer])


# --- the database ------------------------------------------------------------------------------


def entry_row(seq: int, body: bytes) -> dict[str, Any]:
    """The ``entries`` row of ``body`` at position ``seq``; the columns the store reads besides
    the body (key, case id, event) are taken from the body if it parses as JSON."""
    try:
        obj = json.loads(body)
        key, case_id, event = str(obj["idempotency_key"]), obj["case_id"], str(obj["event"])
    except (ValueError, TypeError, KeyError):
        key, case_id, event = f"forged/{seq}", None, "forged"
    return {
        "seq": seq,
        "idempotency_key": key,
        "request_hash": hashlib.sha256(b"forged\n" + body).digest(),
        "case_id": case_id,
        "event": event,
        "body": body,
        "leaf_hash": leaf_hash(body),
    }


def append_rows(
    ledger: SqlLedger,
    signer: Signer,
    bodies: Sequence[bytes],
    *,
    checkpoint: bool = True,
) -> str | None:
    """Append ``bodies`` as they are to the database behind ``ledger``, after its last row.

    Writes the ``entries`` rows (seq = position), the ``tree_nodes`` they complete, and, with
    ``checkpoint``, a checkpoint of the new size signed by ``signer`` (returned) and the new
    ``log_head``. Without it the rows are left uncovered, as an append that died before
    signing (or a server hiding entries) would leave them. Checks nothing.
    """
    with ledger.engine.connect() as conn:
        start = int(conn.execute(select(func.count()).select_from(entries)).scalar_one())
        origin = str(conn.execute(select(log_head.c.origin)).scalar_one())
    tree = CompactRange.from_reader(ledger.hash_reader(start), start)
    rows: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    for i, body in enumerate(bodies):
        row = entry_row(start + i, body)
        for level, index, node in tree.append(row["leaf_hash"]):
            if level and level % TILE_HEIGHT == 0:
                nodes.append({"level": level, "idx": index, "hash": node})
        rows.append(row)
    note = None
    with write_transaction(ledger.engine) as conn:
        if rows:
            insert_many(conn, entries, rows)
        if nodes:
            conn.execute(insert(tree_nodes), nodes)
        if checkpoint:
            note = signed_checkpoint(signer, origin, tree.size, tree.root())
            conn.execute(insert(checkpoints).values(tree_size=tree.size, note=note))
            if rows:
                conn.execute(
                    update(log_head)
                    .where(log_head.c.id == 1)
                    .values(
                        tree_size=tree.size,
                        head_leaf_hash=rows[-1]["leaf_hash"],
                        edge=b"".join(tree.hashes),
                    )
                )
    return note


def insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """``INSERT`` many rows straight through the driver's ``executemany`` (named parameters,
    in the spelling of the driver's paramstyle): several times faster than Core's ``insert``
    for the tens of thousands of rows of a large forged log."""
    names = list(rows[0])
    style = "%({})s" if conn.dialect.paramstyle in ("pyformat", "format") else ":{}"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) "
        f"VALUES ({', '.join(style.format(n) for n in names)})"
    )
    conn.exec_driver_sql(sql, rows)


# --- export folders ----------------------------------------------------------------------------


def write_export(
    root: Path,
    bodies: Sequence[bytes],
    *,
    signer: Signer,
    origin: str,
    checkpoint_sizes: Iterable[int] = (),
) -> dict[int, str]:
    """Write an export folder of ``bodies`` in the layout of ``export_log``; return its notes.

    Every size in ``checkpoint_sizes`` (and the full size, the latest) gets a checkpoint
    signed by ``signer``. The manifest's key history starts from ``signer``'s key and follows
    the bodies' ``log_key.rotate`` entries (whose checkpoints this helper does not cosign).
    ``root`` must not exist.
    """
    size = len(bodies)
    sizes = sorted({*checkpoint_sizes, size})
    if sizes[0] < 0 or sizes[-1] > size:
        raise ValueError(f"checkpoint sizes {sizes} outside 0..{size}")
    tree = Tree((leaf_hash(b) for b in bodies), sizes)
    notes = {n: signed_checkpoint(signer, origin, n, tree.roots[n]) for n in sizes}
    root.mkdir(parents=True)
    for tile in tiles_for_size(size):
        start = tile.index * TILE_WIDTH
        if tile.level == ENTRIES:
            data = encode_entry_bundle(bodies[start : start + tile.width])
        else:
            data = encode_hash_tile(tree.rows[tile.level][start : start + tile.width])
        _write(root / tile_path(tile), data)
    history = LogKeyHistory(signer.verifier.vkey)
    cases: dict[str | None, list[int]] = {}
    for seq, body in enumerate(bodies):
        entry = parse_entry(body)
        if entry.event == LOG_KEY_ROTATE:
            history.apply(entry)
        cases.setdefault(entry.case_id, []).append(seq)
    side = root / "dozvil"
    side.mkdir()
    _write(
        side / "checkpoints.jsonl",
        "".join(json.dumps({"tree_size": n, "note": notes[n]}) + "\n" for n in sizes).encode(),
    )
    order = sorted(cases, key=lambda c: (c is not None, c or ""))
    _write(
        side / "cases.jsonl",
        "".join(json.dumps({"case_id": c, "seqs": cases[c]}) + "\n" for c in order).encode(),
    )
    manifest = {
        "format": EXPORT_FORMAT,
        "origin": origin,
        "tree_size": size,
        "root_hash": base64.b64encode(tree.roots[size]).decode(),
        "entry_format": 1,
        "log_keys": [{"vkey": k, "from_size": s} for k, s in history.history],
    }
    _write(side / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    _write(root / "checkpoint", notes[size].encode())
    return notes


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def export_size(root: Path) -> int:
    """The tree size of the export's latest checkpoint (the file ``checkpoint``)."""
    return _note_size((root / "checkpoint").read_text(encoding="utf-8"))


def tile_file(root: Path, level: int, index: int) -> Path:
    """The file of hash tile ``index`` at ``level`` (or of entry bundle ``index`` when
    ``level`` is :data:`ENTRIES`), at the paths of the export's checkpoint size."""
    size = export_size(root)
    count = size if level == ENTRIES else size >> (TILE_HEIGHT * level)
    return root / tile_path(TileId(level, index, min(TILE_WIDTH, count - index * TILE_WIDTH)))


def read_entries(root: Path) -> tuple[list[bytes], list[bytes]]:
    """Every entry body of the export and its stored leaf hash (level-0 tiles), in order."""
    source = ExportSource(root)
    size = export_size(root)
    bodies: list[bytes] = []
    leaves: list[bytes] = []
    for n in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        bodies += source.read_bundle(TileId(ENTRIES, n, width))
        leaves += source.read_tile(TileId(0, n, width))
    return bodies, leaves


def write_entries(root: Path, bodies: Sequence[bytes], leaves: Sequence[bytes]) -> None:
    """Replace the export's entry bundles and level-0 tiles by ``bodies`` and ``leaves``.

    The files keep the paths of the checkpoint's size (which is what a verifier reads); the
    lists fill them in order, so a shorter list leaves the last files short (or absent) and a
    longer one spills nowhere. Higher hash tiles are left as they are.
    """
    size = export_size(root)
    for level in ("entries", "0"):
        shutil.rmtree(root / "tile" / level, ignore_errors=True)
    for tile in tiles_for_size(size):
        if tile.level not in (ENTRIES, 0):
            continue
        start = tile.index * TILE_WIDTH
        items = (bodies if tile.level == ENTRIES else leaves)[start : start + tile.width]
        if not items:
            continue
        if tile.level == ENTRIES:
            _write(root / tile_path(tile), encode_entry_bundle(items))
        else:
            _write(root / tile_path(tile), encode_hash_tile(items))


def write_bundle(root: Path, index: int, bodies: Sequence[bytes], leaves: Sequence[bytes]) -> None:
    """Replace one entry bundle and its level-0 tile (index ``index``, at the paths of the
    checkpoint's size) by ``bodies`` and ``leaves``, leaving every other file alone."""
    _write(tile_file(root, ENTRIES, index), encode_entry_bundle(bodies))
    _write(tile_file(root, 0, index), encode_hash_tile(leaves))


def entry_location(root: Path, seq: int) -> tuple[Path, int, int]:
    """Where entry ``seq``'s body lies: its bundle file, its offset there, and its length."""
    path = tile_file(root, ENTRIES, seq // TILE_WIDTH)
    data = path.read_bytes()
    pos = 0
    for _ in range(seq % TILE_WIDTH):
        pos += 2 + int.from_bytes(data[pos : pos + 2], "big")
    return path, pos + 2, int.from_bytes(data[pos : pos + 2], "big")


def flip_byte(path: Path, offset: int) -> None:
    """Change the byte at ``offset`` of a file (its lowest bit)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def replace_checkpoint(root: Path, note: str) -> None:
    """Put ``note`` in place of the export's checkpoint of the same size: the published one in
    ``dozvil/checkpoints.jsonl`` and, if it is of the latest size, the file ``checkpoint``."""
    size = _note_size(note)
    if export_size(root) == size:
        (root / "checkpoint").write_text(note, encoding="utf-8")
    path = root / "dozvil" / "checkpoints.jsonl"
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        if obj["tree_size"] == size:
            obj["note"] = note
        lines.append(json.dumps(obj) + "\n")
    path.write_text("".join(lines), encoding="utf-8")


def published_sizes(root: Path) -> list[int]:
    """The sizes of the export's published checkpoints (``dozvil/checkpoints.jsonl``)."""
    path = root / "dozvil" / "checkpoints.jsonl"
    return [int(json.loads(line)["tree_size"]) for line in path.read_text().splitlines()]


def _note_size(note: str) -> int:
    return parse_checkpoint(note.partition("\n\n")[0] + "\n").size


# --- expected faults ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """What verification must report: the check, the first bad entry, and a regular expression
    that the message must contain (as ``pytest.raises(match=...)``)."""

    check: str
    seq: int | None
    match: str


def verification_fault(source: LogSource, vkey: str, **options: Any) -> VerificationFailed:
    """Run full verification (``verify_log(source, vkey, **options)``), which must fail, and
    return the fault.

    The fault comes back without its traceback (nor those of its causes). Verification that
    stops early leaves the source's readers suspended, and a database reader holds a
    connection; held by the traceback's frames, in reference cycles, they would be finalized
    at some later garbage collection, after their connection was closed. Dropping the
    tracebacks and collecting now closes them while the connection is still there.
    """
    try:
        verify_log(source, vkey, **options)
    except VerificationFailed as exc:
        fault = exc
    else:
        pytest.fail("the tampered log verified")
    cause: BaseException | None = fault
    while cause is not None:
        cause.__traceback__ = None
        cause = cause.__cause__ or cause.__context__
    gc.collect()
    return fault


def check_fault(exc: VerificationFailed, want: Fault) -> None:
    """Assert that ``exc`` is the fault ``want``."""
    assert (exc.check, exc.seq) == (want.check, want.seq), f"got: {exc}"
    assert re.search(want.match, str(exc)), f"{want.match!r} not found in: {exc}"
