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
:func:`case_lines`); :mod:`ledger.served` reads a log so served (and mirrors it back into
this layout).
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

from ledger.checkpoint import Checkpoint, checkpoint_in
from ledger.commitments import Opening
from ledger.errors import LedgerError, MalformedInput
from ledger.keys import LOG_KEY_ROTATE, LogKeyHistory
from ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
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
from ledger.verify import _Leaf, check_bundle

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
    with new_folder(destination) as tmp, ledger.snapshot() as view:
        size = _write(view, tmp, initial_key, with_openings, progress)
    return size


@contextmanager
def new_folder(destination: Path) -> Iterator[Path]:
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


def write_file(root: Path, rel: str, data: bytes) -> None:
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
        write_file(root, tile_path(tile), tile_bytes(ledger, tile))
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
        cp = checkpoint_in(note)
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


class TiledSource:
    """A :class:`ledger.verify.LogSource` over the export layout, whatever holds the files:
    subclasses say how a file is read (:meth:`read`), everything else is decoded here."""

    def __init__(self) -> None:
        self._cases: dict[str | None, list[int]] | None = None

    def read(self, rel: str) -> bytes | None:
        """The file at ``rel`` (a path of the layout), or None when there is none."""
        raise NotImplementedError

    def lines(self, rel: str) -> Iterator[str]:
        """The lines of a JSON-lines file of the layout (none when it is absent)."""
        data = self.read(rel)
        if data is not None:
            yield from data.decode("utf-8").splitlines()

    def latest_checkpoint_note(self) -> str:
        data = self.read("checkpoint")
        if data is None:
            raise MalformedInput("the log has no checkpoint")
        return data.decode("utf-8")

    def checkpoint_notes(self) -> Iterator[str]:
        for n, line in enumerate(self.lines("dozvil/checkpoints.jsonl"), 1):
            try:
                yield str(json.loads(line)["note"])
            except (ValueError, KeyError, TypeError) as exc:
                raise MalformedInput(
                    f"dozvil/checkpoints.jsonl:{n}: malformed line: {exc}"
                ) from exc

    def read_tile(self, tile: TileId) -> list[bytes]:
        data = self.read(tile_path(tile))
        if data is None:
            return []
        if len(data) != 32 * tile.width:
            return [data[i : i + 32] for i in range(0, len(data) - len(data) % 32, 32)]
        return decode_hash_tile(data, tile.width)

    def read_bundle(self, tile: TileId) -> list[bytes]:
        """The bundle's entries. A corrupt bundle is read as far as it goes, and what is left
        becomes one last (bad) entry, so verification names the first entry that is wrong."""
        data = self.read(tile_path(tile))
        if data is None:
            return []
        try:
            return decode_entry_bundle(data)
        except MalformedInput:
            return _decode_corrupt_bundle(data)

    def stored_entry_count(self) -> int:
        """An export holds exactly the entries its checkpoint covers (bundles past it are
        never read)."""
        return checkpoint_in(self.latest_checkpoint_note()).size

    def _load_cases(self) -> dict[str | None, list[int]]:
        if self._cases is None:
            cases: dict[str | None, list[int]] = {}
            for n, line in enumerate(self.lines("dozvil/cases.jsonl"), 1):
                try:
                    obj = json.loads(line)
                    cases[obj["case_id"]] = [int(s) for s in obj["seqs"]]
                except (ValueError, KeyError, TypeError) as exc:
                    raise MalformedInput(f"dozvil/cases.jsonl:{n}: malformed line: {exc}") from exc
            self._cases = cases
        return self._cases

    def case_seqs(self, case_id: str | None) -> list[int]:
        return list(self._load_cases().get(case_id, []))

    def stored_openings(self) -> Iterator[tuple[int, str, Opening]]:
        for line in self.lines("dozvil/openings.jsonl"):
            obj = json.loads(line)
            yield int(obj["seq"]), str(obj["field"]), Opening.from_json(obj["opening"])

    def manifest(self) -> dict[str, Any]:
        data = self.read("dozvil/manifest.json")
        if data is None:
            raise MalformedInput("the log has no dozvil/manifest.json")
        manifest: dict[str, Any] = json.loads(data)
        return manifest


class ExportSource(TiledSource):
    """The export layout in a folder (read-only, offline)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = Path(root)
        if not (self.root / "checkpoint").is_file():
            raise MalformedInput(f"{self.root} is not a Dozvil export: no checkpoint file")

    def read(self, rel: str) -> bytes | None:
        path = self.root / rel
        return path.read_bytes() if path.is_file() else None

    def lines(self, rel: str) -> Iterator[str]:
        path = self.root / rel
        if not path.is_file():
            return
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                yield line.rstrip("\n")


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
