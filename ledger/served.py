"""A log served over HTTP as C2SP tlog-tiles, read by someone who trusts only its first key.

A Dozvil service publishes its log at ``/checkpoint``, ``/tile/...`` and the ``/dozvil/``
sidecar, the paths of an export (:mod:`ledger.store.export`), and answers RFC 9162 proofs at
``/proof/inclusion`` and ``/proof/consistency``. Nothing it sends is believed:

* :class:`ServedSource` pins one checkpoint and the sidecar of that same tree size, and reads
  tiles on demand; it is a :class:`ledger.verify.LogSource`, so the checks of
  :mod:`ledger.verify` run on it as on an export.
* :func:`mirror_log` copies the whole log into an export folder, kept only if its checkpoint
  is signed by the keys in force at its size.
* :func:`check_inclusion_answer` and :func:`check_consistency_answer` check what the proof
  endpoints answer: the signed checkpoints against the log's key history, the proofs against
  their roots, and the entry against the leaf it proves.
* :class:`ServedProofs` gives :func:`ledger.receipts.build_receipt` the proofs and checkpoints
  from the served tiles, so a receipt is built from the public log alone.

:func:`http_fetch` is the one place that speaks HTTP (standard library only).
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ledger.checkpoint import Checkpoint, checkpoint_in, parse_checkpoint
from ledger.entry import Entry
from ledger.errors import MalformedInput, VerificationFailed
from ledger.keys import LogKeyHistory
from ledger.merkle import inclusion_proof, leaf_hash, verify_consistency
from ledger.note import Verifier
from ledger.store.export import (
    SIDECAR,
    ExportSource,
    TiledSource,
    new_folder,
    tile_width,
    write_file,
)
from ledger.store.sql import SignedCheckpoint
from ledger.tiles import ENTRIES, TILE_WIDTH, TileHashReader, TileId, tile_path, tiles_for_size
from ledger.verify import (
    check_checkpoint_signatures,
    entry_included,
    verified_log_keys,
    verify_entries_included,
)

Fetch = Callable[[str], bytes | None]
"""GETs a path under a tlog-tiles log's URL prefix: the body, or None when it is not there."""

HTTP_TIMEOUT = 60.0
MIRROR_TRIES = 5


# --- HTTP -------------------------------------------------------------------------------------


def http_fetch(url: str) -> Fetch:
    """A :data:`Fetch` of paths under ``url``: the body, or None for a 404. No answer, or any
    other status, is a :class:`MalformedInput` naming the URL (and the problem's detail)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MalformedInput(f"--url {url!r}: want an http:// or https:// URL")
    base = url.rstrip("/")

    def fetch(path: str) -> bytes | None:
        where = f"{base}/{path}"
        request = urllib.request.Request(where, headers={"User-Agent": "dozvil-ledger"})
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as exc:
            with exc:
                if exc.code == 404:
                    return None
                detail = _problem_detail(exc.read())
            raise MalformedInput(f"{where}: HTTP {exc.code} {exc.reason}{detail}") from exc
        except urllib.error.URLError as exc:
            raise MalformedInput(f"cannot reach {where}: {exc.reason}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise MalformedInput(f"{where}: no HTTP answer: {exc!r}") from exc

    return fetch


def _problem_detail(body: bytes) -> str:
    """``": <detail>"`` of an RFC 9457 problem document, or nothing."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return ""
    return f": {detail}" if isinstance(detail, str) and detail else ""


# --- one pinned tree size ---------------------------------------------------------------------


class ServedSource(TiledSource):
    """The served log as of one checkpoint: the checkpoint and sidecar are read once, of the
    same tree size (:meth:`pin`), tiles when verification asks for them."""

    def __init__(self, fetch: Fetch, where: str, note: bytes, sidecar: dict[str, bytes]) -> None:
        super().__init__()
        self.fetch = fetch
        self.where = where
        self.note = note
        self.checkpoint = served_checkpoint(note, where)
        self._sidecar = sidecar
        self._tiles: dict[str, TileId] | None = None  # the tiles of this size, by path

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @classmethod
    def pin(cls, fetch: Fetch, where: str, initial_key: str) -> ServedSource:
        """Read the checkpoint before and after the sidecar until both agree, so every file is
        of one tree size (a log may grow while it is read). The log must be the one whose
        first key is ``initial_key`` (its origin is that key's name)."""
        origin = Verifier.from_vkey(initial_key).name
        note = _get(fetch, "checkpoint", where)
        for _ in range(MIRROR_TRIES):
            cp = served_checkpoint(note, where)
            if cp.origin != origin:
                raise VerificationFailed(
                    "checkpoint-origin",
                    f"{where} serves the log {cp.origin!r}, the key is {origin!r}'s",
                )
            sidecar = {name: _get(fetch, name, where) for name in SIDECAR}
            again = _get(fetch, "checkpoint", where)
            if again == note:
                return cls(fetch, where, note, sidecar)
            note = again
        raise MalformedInput(f"{where} grew each of {MIRROR_TRIES} times it was read: try again")

    def read(self, rel: str) -> bytes | None:
        if rel == "checkpoint":
            return self.note
        if rel in self._sidecar:
            return self._sidecar[rel]
        if rel.startswith("tile/"):
            return self._tile(rel)
        return self.fetch(rel)

    def _tile(self, rel: str) -> bytes:
        if self._tiles is None:
            self._tiles = {tile_path(t): t for t in tiles_for_size(self.size)}
        tile = self._tiles.get(rel)
        if tile is None:
            raise MalformedInput(f"{rel} is not a tile of the log at size {self.size}")
        return fetch_tile(self.fetch, tile, self.where)

    def entry_body(self, seq: int) -> bytes:
        """The body of entry ``seq`` as served (unchecked: prove it included before use)."""
        if not 0 <= seq < self.size:
            raise MalformedInput(f"entry {seq} is not in the log of size {self.size}")
        n = seq // TILE_WIDTH
        bodies = self.read_bundle(TileId(ENTRIES, n, min(TILE_WIDTH, self.size - n * TILE_WIDTH)))
        if seq % TILE_WIDTH >= len(bodies):
            raise VerificationFailed("truncated", f"entry {seq} is missing from the log", seq=seq)
        return bodies[seq % TILE_WIDTH]


def served_checkpoint(note: bytes, where: str) -> Checkpoint:
    """The checkpoint of a served note (its signatures are checked elsewhere)."""
    try:
        text, sep, _ = note.decode("utf-8").partition("\n\n")
        if not sep:
            raise MalformedInput("not a signed note")
        return parse_checkpoint(text + "\n")
    except (UnicodeDecodeError, MalformedInput) as exc:
        raise MalformedInput(f"{where}/checkpoint is not a tlog checkpoint: {exc}") from exc


def _get(fetch: Fetch, path: str, where: str) -> bytes:
    data = fetch(path)
    if data is None:
        raise MalformedInput(f"{where}/{path}: not found (HTTP 404); is this a Dozvil log?")
    return data


def fetch_tile(fetch: Fetch, tile: TileId, where: str) -> bytes:
    """A tile's bytes. A partial tile may be gone once the log grew (tlog-tiles); its hashes
    (or entries) are then the first ones of the wider tile in its place."""
    data = fetch(tile_path(tile))
    if data is None and tile.is_partial:
        size = served_checkpoint(_get(fetch, "checkpoint", where), where).size
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


# --- the whole log ----------------------------------------------------------------------------


def mirror_log(fetch: Fetch, destination: Path, *, initial_key: str, where: str) -> int:
    """Copy a Dozvil log served as C2SP tlog-tiles into ``destination``, a new folder with
    exactly the layout of an export (without openings); return its tree size.

    Every file is of one tree size (:meth:`ServedSource.pin`). The folder is kept only if the
    checkpoint is signed by the keys in force at its size, followed from ``initial_key``
    through the log's own rotation entries (each proved included) as verification follows
    them. ``where`` (the URL) names the log in errors.
    """
    source = ServedSource.pin(fetch, where, initial_key)
    with new_folder(destination) as tmp:
        for tile in tiles_for_size(source.size):
            write_file(tmp, tile_path(tile), fetch_tile(fetch, tile, where))
        for name in SIDECAR:
            write_file(tmp, name, source.read(name) or b"")
        write_file(tmp, "checkpoint", source.note)
        verify_entries_included(ExportSource(tmp), initial_key, [])
    return source.size


# --- the proof endpoints' answers -------------------------------------------------------------


@dataclass(frozen=True)
class ServedLog:
    """A served log whose latest checkpoint is checked, with the key history it proves."""

    source: ServedSource
    keys: LogKeyHistory

    @classmethod
    def open(cls, fetch: Fetch, where: str, initial_key: str) -> ServedLog:
        source = ServedSource.pin(fetch, where, initial_key)
        _, keys = verified_log_keys(source, initial_key)
        return cls(source, keys)

    def signed(self, note: str) -> Checkpoint:
        """The checkpoint of ``note`` once it carries the signatures its size asks for."""
        cp = served_checkpoint(note.encode("utf-8"), self.source.where)
        if cp.size > self.source.size:
            raise VerificationFailed(
                "checkpoint",
                f"a checkpoint of size {cp.size} is beyond the log's latest ({self.source.size})",
            )
        return check_checkpoint_signatures(
            note, self.keys.keys_for_checkpoint(cp.size), self.source.checkpoint.origin, cp.size
        )

    def published(self, size: int) -> str:
        """The signed note of the published checkpoint of ``size``, checked."""
        if size == self.source.size:
            note = self.source.note.decode("utf-8")
        else:
            notes = self.source.checkpoint_notes()
            note = next((n for n in notes if checkpoint_in(n).size == size), "")
            if not note:
                raise MalformedInput(
                    f"no checkpoint of size {size} is published "
                    f"(see {self.source.where}/dozvil/checkpoints.jsonl)"
                )
        self.signed(note)
        return note

    def ask(self, path: str) -> dict[str, Any]:
        """GET a JSON answer (an object) from the service."""
        body = _get(self.source.fetch, path, self.source.where)
        try:
            answer = json.loads(body)
        except ValueError as exc:
            raise MalformedInput(f"{self.source.where}/{path}: not JSON: {exc}") from exc
        if not isinstance(answer, dict):
            raise MalformedInput(f"{self.source.where}/{path}: not a JSON object")
        return answer


class ServedProofs:
    """What :func:`ledger.receipts.build_receipt` asks of a store, from the served log itself:
    inclusion proofs from its tiles and published checkpoints from its sidecar, each checked
    against the key history. An auditor so builds a receipt without the service's help."""

    def __init__(self, log: ServedLog) -> None:
        self._log = log
        self._reader = TileHashReader(log.source, log.source.size)

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]:
        return inclusion_proof(self._reader, seq, size)

    def checkpoint_at(self, size: int) -> SignedCheckpoint:
        note = self._log.published(size)
        return SignedCheckpoint(self._log.signed(note), note)


def check_inclusion_answer(log: ServedLog, answer: dict[str, Any], seq: int, size: int) -> Entry:
    """The entry ``seq``, once ``answer`` (as ``/proof/inclusion`` gives it) proves it is in the
    tree of the published checkpoint of ``size``, signed by the keys in force there."""
    note = _field(answer, "checkpoint", str)
    cp = log.signed(note)
    _same("tree_size", _field(answer, "tree_size", int), size)
    _same("checkpoint size", cp.size, size)
    _same("leaf_index", _field(answer, "leaf_index", int), seq)
    _same("root_hash", _hash(answer, "root_hash"), cp.root_hash)
    body = log.source.entry_body(seq)
    _same("leaf_hash", _hash(answer, "leaf_hash"), leaf_hash(body))
    proof = [_decode_hash(h, "proof") for h in _field(answer, "proof", list)]
    return entry_included(seq, body, proof, cp)


def check_consistency_answer(log: ServedLog, answer: dict[str, Any], old: int, new: int) -> None:
    """``answer`` (as ``/proof/consistency`` gives it) proves the tree of the published
    checkpoint of ``new`` extends that of ``old``, both signed by the keys in force."""
    a = log.signed(_field(answer, "old_checkpoint", str))
    b = log.signed(_field(answer, "new_checkpoint", str))
    _same("old_size", _field(answer, "old_size", int), old)
    _same("new_size", _field(answer, "new_size", int), new)
    _same("old checkpoint size", a.size, old)
    _same("new checkpoint size", b.size, new)
    _same("old_root", _hash(answer, "old_root"), a.root_hash)
    _same("new_root", _hash(answer, "new_root"), b.root_hash)
    proof = [_decode_hash(h, "proof") for h in _field(answer, "proof", list)]
    verify_consistency(a.size, b.size, a.root_hash, b.root_hash, proof)


_T = TypeVar("_T")


def _field(answer: dict[str, Any], name: str, kind: type[_T]) -> _T:
    value = answer.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedInput(f"the service's answer has no {kind.__name__} {name!r}")
    return value


def _hash(answer: dict[str, Any], name: str) -> bytes:
    return _decode_hash(_field(answer, name, str), name)


def _decode_hash(text: object, name: str) -> bytes:
    try:
        if not isinstance(text, str):
            raise ValueError("not a string")
        raw = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise MalformedInput(f"the service's {name} is not base64: {exc}") from exc
    if len(raw) != 32:
        raise MalformedInput(f"the service's {name} is {len(raw)} bytes, want 32")
    return raw


def _same(name: str, got: object, want: object) -> None:
    if got != want:
        raise VerificationFailed(
            "served-proof", f"the service's {name} is {_show(got)}, want {_show(want)}"
        )


def _show(value: object) -> str:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else repr(value)
