"""Export: a C2SP tlog-tiles folder plus the ``dozvil/`` sidecar, and a LogSource over it.

Layout (paths relative to the export root)::

    checkpoint                      the latest signed checkpoint (C2SP tlog-checkpoint note)
    tile/<L>/<N>[.p/<W>]            hash tiles (C2SP tlog-tiles)
    tile/entries/<N>[.p/<W>]        entry bundles: uint16-BE length + RFC 8785 body, repeated
    dozvil/manifest.json            {"format": "dozvil-export/1", "origin", "tree_size",
                                     "root_hash" (base64), "entry_format": 1,
                                     "log_keys": [{"vkey", "from_size"}]}
    dozvil/checkpoints.jsonl        every published checkpoint up to tree_size, one JSON
                                    object {"tree_size": n, "note": "<signed note>"} a line,
                                    in increasing tree_size
    dozvil/cases.jsonl              {"case_id": "<id>" | null, "seqs": [..]} a line, sorted by
                                    case id (null, the log-level entries, first)
    dozvil/openings.jsonl           only with openings: {"seq", "field",
                                    "opening": {"salt", "value"}} a line, ordered by seq

The folder is written under a temporary name and renamed into place when complete, so an
interrupted export never leaves a half-written folder at the destination.

The HTTP service publishes the same files (openings excepted) at the same paths, from the
functions here (:func:`tile_bytes`, :func:`manifest_text`, :func:`checkpoint_lines`,
:func:`case_lines`), and :func:`mirror_log` copies a log so served back into this layout.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ledger.checkpoint import Checkpoint, parse_checkpoint
from ledger.commitments import Opening
from ledger.errors import LedgerError, MalformedInput, VerificationFailed
from ledger.keys import LOG_KEY_ROTATE, LogKeyHistory
from ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from ledger.note import Verifier
from ledger.store.schema import entries, log_head, openings
from ledger.store.sql import SignedCheckpoint, SqlLedger
from ledger.tiles import (
    ENTRIES,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileId,
    decode_entry_bundle,
    decode_hash_tile,
    encode_entry_bundle,
    encode_hash_tile,
    tile_path,
    tiles_for_size,
)
from ledger.verify import _Leaf, check_bundle, verify_entries_included

EXPORT_FORMAT = "dozvil-export/1"
SIDECAR = ("dozvil/manifest.json", "dozvil/checkpoints.jsonl", "dozvil/cases.jsonl")
"""The sidecar files of every export (``dozvil/openings.jsonl`` is only in some)."""


def export_log(
    ledger: SqlLedger,
    destination: Path,
    *,
    initial_key: str,
    with_openings: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the log as of its latest checkpoint to ``destination``; return the tree size.

    ``destination`` must not exist yet. ``initial_key`` is the log's first verifier key; it
    heads the key history in the manifest (later keys come from the log's own entries).
    """
    with _new_folder(destination) as tmp, ledger.snapshot() as view:
        size = _write(view, tmp, initial_key, with_openings, progress)
    return size


@contextmanager
def _new_folder(destination: Path) -> Iterator[Path]:
    """A temporary folder beside ``destination``, renamed to it when the block completes and
    removed if the block fails."""
    destination = Path(destination)
    if destination.exists():
        raise MalformedInput(f"export destination {destination} already exists")
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp makes it private; an export is meant to be published
        os.replace(tmp, destination)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_file(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.writelines(lines)


def _write(
    ledger: SqlLedger,
    root: Path,
    initial_key: str,
    with_openings: bool,
    progress: Callable[[int], None] | None,
) -> int:
    latest = ledger.latest_checkpoint()
    size = latest.checkpoint.size
    for tile in tiles_for_size(size):
        _write_file(root, tile_path(tile), tile_bytes(ledger, tile))
        if progress is not None and tile.level == ENTRIES:
            progress(tile.width)
    history = log_key_history(ledger, size, initial_key)
    dozvil = root / "dozvil"
    dozvil.mkdir()
    _write_lines(dozvil / "checkpoints.jsonl", checkpoint_lines(ledger, size))
    _write_lines(dozvil / "cases.jsonl", case_lines(ledger, size))
    if with_openings:
        _write_lines(dozvil / "openings.jsonl", opening_lines(ledger, size))
    (dozvil / "manifest.json").write_text(manifest_text(latest.checkpoint, history))
    (root / "checkpoint").write_text(latest.note)
    return size


# --- what the log publishes: the export's files, and the HTTP service's bodies --------------


def tile_width(level: int, index: int, size: int) -> int:
    """The width of tile ``index`` of ``level`` (:data:`ENTRIES` for a bundle) in the tree of
    ``size`` leaves; 0 when that tree has no such tile."""
    count = size if level == ENTRIES else size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


def tile_bytes(ledger: SqlLedger, tile: TileId) -> bytes:
    """The bytes of one hash tile or entry bundle of a tree the log has signed.

    An entry bundle the database holds fewer (or more) entries for is refused.
    """
    if tile.level == ENTRIES:
        bodies = ledger.read_bundle(tile)
        if len(bodies) != tile.width:
            raise MalformedInput(
                f"the database holds {len(bodies)} entries for {tile_path(tile)}, "
                f"want {tile.width}: verify the database before exporting"
            )
        return encode_entry_bundle(bodies)
    return encode_hash_tile(ledger.read_tile(tile))


def first_log_key(ledger: SqlLedger) -> str:
    """The log's first verifier key as its database tells it: the old key of its first
    rotation, else the key that signs it now."""
    for seq in ledger.case_seqs(None):
        entry = ledger.entry(seq)
        if entry.event == LOG_KEY_ROTATE:
            return str(entry.data["old_vkey"])
    with ledger.connection() as conn:
        row = conn.execute(select(log_head.c.log_vkey)).first()
    if row is None:
        raise LedgerError("the ledger is not initialised: run `dozvil ledger init`")
    return str(row[0])


def log_key_history(ledger: SqlLedger, size: int, initial_key: str) -> LogKeyHistory:
    """The log's keys from ``initial_key`` on, through its rotations in the first ``size``."""
    history = LogKeyHistory(initial_key)
    for seq in ledger.case_seqs(None):
        if seq < size:
            entry = ledger.entry(seq)
            if entry.event == LOG_KEY_ROTATE:
                history.apply(entry)
    return history


def manifest_text(checkpoint: Checkpoint, history: LogKeyHistory) -> str:
    """``dozvil/manifest.json`` of the tree ``checkpoint`` signs."""
    manifest = {
        "format": EXPORT_FORMAT,
        "origin": checkpoint.origin,
        "tree_size": checkpoint.size,
        "root_hash": base64.b64encode(checkpoint.root_hash).decode(),
        "entry_format": 1,
        "log_keys": [{"vkey": k, "from_size": s} for k, s in history.history],
    }
    return json.dumps(manifest, indent=2) + "\n"


def checkpoint_lines(ledger: SqlLedger, size: int) -> Iterator[str]:
    """The lines of ``dozvil/checkpoints.jsonl``: every published checkpoint up to ``size``."""
    for note in ledger.checkpoint_notes():
        cp = parse_checkpoint(note.partition("\n\n")[0] + "\n")
        if cp.size <= size:
            yield json.dumps({"tree_size": cp.size, "note": note}) + "\n"


def case_lines(ledger: SqlLedger, size: int) -> Iterator[str]:
    """The lines of ``dozvil/cases.jsonl``: each case's entries among the first ``size``."""
    with ledger.connection() as conn:
        rows = conn.execute(
            select(entries.c.case_id, entries.c.seq)
            .where(entries.c.seq < size)
            .order_by(entries.c.case_id.is_not(None), entries.c.case_id, entries.c.seq)
        ).yield_per(10_000)
        current: Any = ...
        seqs: list[int] = []
        for case_id, seq in rows:
            if case_id != current and current is not ...:
                yield json.dumps({"case_id": current, "seqs": seqs}) + "\n"
                seqs = []
            current = case_id
            seqs.append(int(seq))
        if current is not ...:
            yield json.dumps({"case_id": current, "seqs": seqs}) + "\n"


def opening_lines(ledger: SqlLedger, size: int) -> Iterator[str]:
    """The lines of ``dozvil/openings.jsonl`` (for cleared readers only: never published)."""
    with ledger.connection() as conn:
        rows = conn.execute(
            select(openings.c.seq, openings.c.field, openings.c.opening)
            .where(openings.c.seq < size)
            .order_by(openings.c.seq, openings.c.field)
        )
        for seq, name, opening in rows:
            yield (
                json.dumps({"seq": int(seq), "field": name, "opening": json.loads(opening)}) + "\n"
            )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def inclusion_proof_json(ledger: SqlLedger, seq: int, signed: SignedCheckpoint) -> dict[str, Any]:
    """RFC 9162 §2.1.3 proof that entry ``seq`` is in the tree ``signed`` signs, checked before
    it is returned (as ``prove-inclusion --json`` prints it; hashes in base64)."""
    cp = signed.checkpoint
    leaf = leaf_hash(ledger.entry(seq).body)
    proof = ledger.inclusion_proof(seq, cp.size)
    verify_inclusion(seq, cp.size, leaf, proof, cp.root_hash)
    return {
        "leaf_index": seq,
        "tree_size": cp.size,
        "leaf_hash": _b64(leaf),
        "root_hash": _b64(cp.root_hash),
        "proof": [_b64(p) for p in proof],
        "checkpoint": signed.note,
    }


def consistency_proof_json(
    ledger: SqlLedger, old: SignedCheckpoint, new: SignedCheckpoint
) -> dict[str, Any]:
    """RFC 9162 §2.1.4 proof that the tree ``new`` signs extends the one ``old`` signs, checked
    before it is returned (as ``prove-consistency --json`` prints it; hashes in base64)."""
    a, b = old.checkpoint, new.checkpoint
    proof = ledger.consistency_proof(a.size, b.size)
    verify_consistency(a.size, b.size, a.root_hash, b.root_hash, proof)
    return {
        "old_size": a.size,
        "new_size": b.size,
        "old_root": _b64(a.root_hash),
        "new_root": _b64(b.root_hash),
        "proof": [_b64(p) for p in proof],
        "old_checkpoint": old.note,
        "new_checkpoint": new.note,
    }


# --- mirror: a served log back into an export folder -----------------------------------------

Fetch = Callable[[str], bytes | None]
"""GETs a path under a tlog-tiles log's URL prefix: the body, or None when it is not there."""

MIRROR_TRIES = 5


def mirror_log(fetch: Fetch, destination: Path, *, initial_key: str, where: str) -> int:
    """Copy a Dozvil log served as C2SP tlog-tiles into ``destination``, a new folder with
    exactly the layout of an export (without openings); return its tree size.

    The checkpoint is read before and after the sidecar until both agree, so every file is of
    one tree size; then every tile of that size. A partial tile the log has replaced since by a
    wider one is cut from the wider one (tlog-tiles). The folder is kept only if the checkpoint
    is signed by the keys in force at its size, followed from ``initial_key`` through the log's
    own rotation entries (each proved included) as verification follows them. ``where`` (the
    URL) names the log in errors.
    """
    origin = Verifier.from_vkey(initial_key).name
    with _new_folder(destination) as tmp:
        note, size, sidecar = _pinned_head(fetch, where, origin)
        for tile in tiles_for_size(size):
            _write_file(tmp, tile_path(tile), _fetch_tile(fetch, tile, where))
        for name, data in sidecar.items():
            _write_file(tmp, name, data)
        _write_file(tmp, "checkpoint", note)
        verify_entries_included(ExportSource(tmp), initial_key, [])
    return size


def _pinned_head(fetch: Fetch, where: str, origin: str) -> tuple[bytes, int, dict[str, bytes]]:
    """The checkpoint, its size and the sidecar files, all of that one size."""
    note = _get(fetch, "checkpoint", where)
    for _ in range(MIRROR_TRIES):
        cp = _served_checkpoint(note, where)
        if cp.origin != origin:
            raise VerificationFailed(
                "checkpoint-origin",
                f"{where} serves the log {cp.origin!r}, the key is {origin!r}'s",
            )
        sidecar = {name: _get(fetch, name, where) for name in SIDECAR}
        again = _get(fetch, "checkpoint", where)
        if again == note:
            return note, cp.size, sidecar
        note = again
    raise MalformedInput(f"{where} grew each of {MIRROR_TRIES} times it was read: try again")


def _get(fetch: Fetch, path: str, where: str) -> bytes:
    data = fetch(path)
    if data is None:
        raise MalformedInput(f"{where}/{path}: not found (HTTP 404); is this a Dozvil log?")
    return data


def _served_checkpoint(note: bytes, where: str) -> Checkpoint:
    try:
        text, sep, _ = note.decode("utf-8").partition("\n\n")
        if not sep:
            raise MalformedInput("not a signed note")
        return parse_checkpoint(text + "\n")
    except (UnicodeDecodeError, MalformedInput) as exc:
        raise MalformedInput(f"{where}/checkpoint is not a tlog checkpoint: {exc}") from exc


def _fetch_tile(fetch: Fetch, tile: TileId, where: str) -> bytes:
    data = fetch(tile_path(tile))
    if data is None and tile.is_partial:
        # tlog-tiles: a partial tile may be gone once the log grew; its hashes (entries) are
        # the first ones of the wider tile in its place.
        size = _served_checkpoint(_get(fetch, "checkpoint", where), where).size
        width = tile_width(tile.level, tile.index, size)
        if width > tile.width:
            wider = fetch(tile_path(TileId(tile.level, tile.index, width)))
            if wider is not None:
                data = _first_items(wider, tile)
    if data is None:
        raise MalformedInput(f"{where}/{tile_path(tile)}: not found (HTTP 404)")
    return data


def _first_items(data: bytes, tile: TileId) -> bytes:
    """The first ``tile.width`` hashes or entries of a wider tile's bytes."""
    if tile.level != ENTRIES:
        return data[: 32 * tile.width]
    end = 0
    for _ in range(tile.width):
        if end + 2 > len(data):
            break
        end += 2 + int.from_bytes(data[end : end + 2], "big")
    return data[:end]


class ExportSource:
    """A :class:`ledger.verify.LogSource` over an export folder (read-only, offline)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not (self.root / "checkpoint").is_file():
            raise MalformedInput(f"{self.root} is not a Dozvil export: no checkpoint file")
        self._cases: dict[str | None, list[int]] | None = None

    def latest_checkpoint_note(self) -> str:
        return (self.root / "checkpoint").read_text(encoding="utf-8")

    def checkpoint_notes(self) -> Iterator[str]:
        path = self.root / "dozvil" / "checkpoints.jsonl"
        if not path.is_file():
            return
        with path.open(encoding="utf-8") as lines:
            for n, line in enumerate(lines, 1):
                try:
                    yield str(json.loads(line)["note"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise MalformedInput(f"{path}:{n}: malformed line: {exc}") from exc

    def read_tile(self, tile: TileId) -> list[bytes]:
        path = self.root / tile_path(tile)
        if not path.is_file():
            return []
        data = path.read_bytes()
        if len(data) != 32 * tile.width:
            return [data[i : i + 32] for i in range(0, len(data) - len(data) % 32, 32)]
        return decode_hash_tile(data, tile.width)

    def read_bundle(self, tile: TileId) -> list[bytes]:
        """The bundle's entries. A corrupt bundle is read as far as it goes, and what is left
        becomes one last (bad) entry, so verification names the first entry that is wrong."""
        path = self.root / tile_path(tile)
        if not path.is_file():
            return []
        data = path.read_bytes()
        try:
            return decode_entry_bundle(data)
        except MalformedInput:
            return _decode_corrupt_bundle(data)

    def stored_entry_count(self) -> int:
        """An export holds exactly the entries its checkpoint covers (bundles past it are
        never read)."""
        return parse_checkpoint(self.latest_checkpoint_note().partition("\n\n")[0] + "\n").size

    def _load_cases(self) -> dict[str | None, list[int]]:
        if self._cases is None:
            cases: dict[str | None, list[int]] = {}
            path = self.root / "dozvil" / "cases.jsonl"
            with path.open(encoding="utf-8") as lines:
                for line in lines:
                    obj = json.loads(line)
                    cases[obj["case_id"]] = [int(s) for s in obj["seqs"]]
            self._cases = cases
        return self._cases

    def case_seqs(self, case_id: str | None) -> list[int]:
        return list(self._load_cases().get(case_id, []))

    def stored_openings(self) -> Iterator[tuple[int, str, Opening]]:
        path = self.root / "dozvil" / "openings.jsonl"
        if not path.is_file():
            return
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                obj = json.loads(line)
                yield int(obj["seq"]), str(obj["field"]), Opening.from_json(obj["opening"])

    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.root / "dozvil" / "manifest.json").read_text(encoding="utf-8")
        )
        return data


def _decode_corrupt_bundle(data: bytes) -> list[bytes]:
    entries: list[bytes] = []
    pos = 0
    while pos + 2 <= len(data):
        n = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + n > len(data):
            break
        entries.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    if pos < len(data):
        entries.append(data[pos:])
    return entries


class ExportBundleChecker:
    """Steps 1-3 of verification for a run of entries of an export; picklable for workers."""

    def __init__(self, root: Path, size: int) -> None:
        self.root = Path(root)
        self.size = size

    def __call__(self, start: int, count: int) -> list[_Leaf]:
        source = ExportSource(self.root)
        out: list[_Leaf] = []
        for first in range(start, start + count, TILE_WIDTH):
            n = first // TILE_WIDTH
            width = min(TILE_WIDTH, self.size - first)
            bodies = source.read_bundle(TileId(ENTRIES, n, width))
            stored = source.read_tile(TileId(0, n, width))
            out.extend(check_bundle(first, bodies[:width], stored))
            if len(bodies) < width:
                break
        return out
