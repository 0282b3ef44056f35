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
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ledger.checkpoint import parse_checkpoint
from ledger.commitments import Opening
from ledger.errors import MalformedInput
from ledger.keys import LOG_KEY_ROTATE, LogKeyHistory
from ledger.store.schema import entries, openings
from ledger.store.sql import SqlLedger
from ledger.tiles import (
    ENTRIES,
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
    destination = Path(destination)
    if destination.exists():
        raise MalformedInput(f"export destination {destination} already exists")
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        with ledger.snapshot() as view:
            size = _write(view, tmp, initial_key, with_openings, progress)
        tmp.chmod(0o755)  # mkdtemp makes it private; an export is meant to be published
        os.replace(tmp, destination)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return size


def _write_file(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _write(
    ledger: SqlLedger,
    root: Path,
    initial_key: str,
    with_openings: bool,
    progress: Callable[[int], None] | None,
) -> int:
    latest = ledger.latest_checkpoint()
    size = latest.checkpoint.size
    history = LogKeyHistory(initial_key)
    for tile in tiles_for_size(size):
        if tile.level == ENTRIES:
            bodies = ledger.read_bundle(tile)
            if len(bodies) != tile.width:
                raise MalformedInput(
                    f"the database holds {len(bodies)} entries for {tile_path(tile)}, "
                    f"want {tile.width}: verify the database before exporting"
                )
            _write_file(root, tile_path(tile), encode_entry_bundle(bodies))
            if progress is not None:
                progress(len(bodies))
        else:
            _write_file(root, tile_path(tile), encode_hash_tile(ledger.read_tile(tile)))
    for seq in ledger.case_seqs(None):
        if seq < size:
            entry = ledger.entry(seq)
            if entry.event == LOG_KEY_ROTATE:
                history.apply(entry)
    dozvil = root / "dozvil"
    dozvil.mkdir()
    with (dozvil / "checkpoints.jsonl").open("w", encoding="utf-8") as out:
        for note in ledger.checkpoint_notes():
            cp = parse_checkpoint(note.partition("\n\n")[0] + "\n")
            if cp.size <= size:
                out.write(json.dumps({"tree_size": cp.size, "note": note}) + "\n")
    _write_cases(ledger, dozvil / "cases.jsonl", size)
    if with_openings:
        _write_openings(ledger, dozvil / "openings.jsonl", size)
    manifest = {
        "format": EXPORT_FORMAT,
        "origin": latest.checkpoint.origin,
        "tree_size": size,
        "root_hash": base64.b64encode(latest.checkpoint.root_hash).decode(),
        "entry_format": 1,
        "log_keys": [{"vkey": k, "from_size": s} for k, s in history.history],
    }
    (dozvil / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (root / "checkpoint").write_text(latest.note)
    return size


def _write_cases(ledger: SqlLedger, path: Path, size: int) -> None:
    with ledger.connection() as conn, path.open("w", encoding="utf-8") as out:
        rows = conn.execute(
            select(entries.c.case_id, entries.c.seq)
            .where(entries.c.seq < size)
            .order_by(entries.c.case_id.is_not(None), entries.c.case_id, entries.c.seq)
        ).yield_per(10_000)
        current: Any = ...
        seqs: list[int] = []
        for case_id, seq in rows:
            if case_id != current and current is not ...:
                out.write(json.dumps({"case_id": current, "seqs": seqs}) + "\n")
                seqs = []
            current = case_id
            seqs.append(int(seq))
        if current is not ...:
            out.write(json.dumps({"case_id": current, "seqs": seqs}) + "\n")


def _write_openings(ledger: SqlLedger, path: Path, size: int) -> None:
    with ledger.connection() as conn, path.open("w", encoding="utf-8") as out:
        rows = conn.execute(
            select(openings.c.seq, openings.c.field, openings.c.opening)
            .where(openings.c.seq < size)
            .order_by(openings.c.seq, openings.c.field)
        )
        for seq, name, opening in rows:
            out.write(
                json.dumps({"seq": int(seq), "field": name, "opening": json.loads(opening)}) + "\n"
            )


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
