"""The log, public and read-only: a C2SP tlog-tiles log (https://c2sp.org/tlog-tiles) with
Dozvil's ``dozvil/`` sidecar, byte for byte the files ``dozvil ledger export`` writes at the
same tree size (never the openings), and RFC 9162 proofs between published checkpoints.

==========================================  ============================================
``GET /checkpoint``                         the latest signed checkpoint (``no-cache``)
``GET /tile/<L>/<N>[.p/<W>]``               hash tiles (immutable)
``GET /tile/entries/<N>[.p/<W>]``           entry bundles (immutable)
``GET /dozvil/manifest.json``,              the sidecar, of the latest checkpoint's tree
``/dozvil/checkpoints.jsonl``,              (``no-cache``)
``/dozvil/cases.jsonl``
``GET /proof/inclusion?seq=N[&size=M]``     as ``prove-inclusion --json``
``GET /proof/consistency?old=A[&new=B]``    as ``prove-consistency --json``
==========================================  ============================================

A tile is served only if the latest checkpoint's tree has it: a full tile, or the partial
tile of exactly the width the tree gives it. It never changes, so it is cached for a year. A
proof between explicit sizes never changes either; one against "the latest" is not cached.
``dozvil ledger mirror URL DIR`` reads all of this back into an export folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from ledger.errors import LedgerError, MalformedInput
from ledger.store.export import (
    case_lines,
    checkpoint_lines,
    consistency_proof_json,
    inclusion_proof_json,
    log_key_history,
    manifest_text,
    tile_bytes,
    tile_width,
)
from ledger.store.sql import SignedCheckpoint, SqlLedger
from ledger.tiles import TileId, parse_tile_path, tile_path
from service.deps import InitialKeyDep, LedgerDep

router = APIRouter(tags=["log"])

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
CHUNK_BYTES = 1 << 16
"""The sidecar's JSON lines go out in chunks of about this many bytes."""


class InclusionProof(BaseModel):
    """RFC 9162 §2.1.3 inclusion proof; hashes in base64, ``checkpoint`` the signed note."""

    leaf_index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    proof: list[str]
    checkpoint: str


class ConsistencyProof(BaseModel):
    """RFC 9162 §2.1.4 consistency proof; hashes in base64, the checkpoints signed notes."""

    old_size: int
    new_size: int
    old_root: str
    new_root: str
    proof: list[str]
    old_checkpoint: str
    new_checkpoint: str


@contextmanager
def _database_faults() -> Iterator[None]:
    """A ledger error here is the database disagreeing with its own checkpoints."""
    try:
        yield
    except LedgerError as exc:
        raise HTTPException(500, f"the log's database is inconsistent: {exc}") from exc


def _bytes(body: bytes, media_type: str, cache: str) -> Response:
    return Response(body, media_type=media_type, headers={"Cache-Control": cache})


@router.get(
    "/checkpoint",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "A C2SP signed note."}},
)
def checkpoint(ledger: LedgerDep) -> Response:
    """The latest signed checkpoint (C2SP tlog-checkpoint, signed-note)."""
    note = ledger.latest_checkpoint().note
    return _bytes(note.encode("utf-8"), "text/plain; charset=utf-8", NO_CACHE)


@router.get(
    "/tile/{path:path}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The tile."},
        404: {"description": "Not a tile of the latest checkpoint's tree."},
    },
)
def tile(path: str, ledger: LedgerDep) -> Response:
    """A hash tile ``tile/<L>/<N>[.p/<W>]`` or entry bundle ``tile/entries/<N>[.p/<W>]``."""
    try:
        wanted = parse_tile_path(f"tile/{path}")
    except MalformedInput as exc:
        raise HTTPException(404, str(exc)) from exc
    size = ledger.latest_checkpoint().checkpoint.size
    width = tile_width(wanted.level, wanted.index, size)
    if width == 0:
        raise HTTPException(404, f"{tile_path(wanted)} is beyond the log's tree of size {size}")
    if width != wanted.width:
        served = tile_path(TileId(wanted.level, wanted.index, width))
        raise HTTPException(
            404, f"the log's tree of size {size} has {served}, not {tile_path(wanted)}"
        )
    with _database_faults():
        data = tile_bytes(ledger, wanted)
    return _bytes(data, "application/octet-stream", IMMUTABLE)


@router.get(
    "/dozvil/manifest.json",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "The manifest."}},
)
def manifest(ledger: LedgerDep, initial_key: InitialKeyDep) -> Response:
    """The sidecar's manifest of the latest checkpoint's tree (origin, size, root, log keys)."""
    with _database_faults(), ledger.snapshot() as view:
        latest = view.latest_checkpoint().checkpoint
        history = log_key_history(view, latest.size, initial_key)
        text = manifest_text(latest, history)
    return _bytes(text.encode("utf-8"), "application/json", NO_CACHE)


def _pinned_lines(
    ledger: SqlLedger, lines: Callable[[SqlLedger, int], Iterable[str]]
) -> Iterator[bytes]:
    """The lines of one sidecar file as of the latest checkpoint, read in one snapshot."""
    with ledger.snapshot() as view:
        size = view.latest_checkpoint().checkpoint.size
        chunk: list[str] = []
        length = 0
        for line in lines(view, size):
            chunk.append(line)
            length += len(line)
            if length >= CHUNK_BYTES:
                yield "".join(chunk).encode("utf-8")
                chunk, length = [], 0
        if chunk:
            yield "".join(chunk).encode("utf-8")


_JSONL: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/jsonl": {}}, "description": "JSON lines."}
}


@router.get("/dozvil/checkpoints.jsonl", response_class=StreamingResponse, responses=_JSONL)
def checkpoints(ledger: LedgerDep) -> StreamingResponse:
    """Every published checkpoint up to the latest: ``{"tree_size", "note"}`` a line."""
    return StreamingResponse(
        _pinned_lines(ledger, checkpoint_lines),
        media_type="application/jsonl",
        headers={"Cache-Control": NO_CACHE},
    )


@router.get("/dozvil/cases.jsonl", response_class=StreamingResponse, responses=_JSONL)
def cases(ledger: LedgerDep) -> StreamingResponse:
    """Each case's entries: ``{"case_id", "seqs"}`` a line, log-level (null) first."""
    return StreamingResponse(
        _pinned_lines(ledger, case_lines),
        media_type="application/jsonl",
        headers={"Cache-Control": NO_CACHE},
    )


def _published(ledger: SqlLedger, size: int | None) -> SignedCheckpoint:
    if size is None:
        return ledger.latest_checkpoint()
    try:
        return ledger.checkpoint_at(size)
    except MalformedInput as exc:
        raise HTTPException(
            404, f"{exc}: proofs are between published sizes (see /dozvil/checkpoints.jsonl)"
        ) from exc


@router.get("/proof/inclusion", response_model=InclusionProof)
def prove_inclusion(
    ledger: LedgerDep,
    response: Response,
    seq: Annotated[int, Query(ge=0, description="The entry.")],
    size: Annotated[
        int | None, Query(ge=0, description="A published tree size (default: the latest).")
    ] = None,
) -> dict[str, object]:
    """RFC 9162 §2.1.3: entry ``seq`` is in the tree of the checkpoint of ``size``."""
    signed = _published(ledger, size)
    if seq >= signed.checkpoint.size:
        raise HTTPException(400, f"entry {seq} is not in the tree of size {signed.checkpoint.size}")
    with _database_faults():
        proof = inclusion_proof_json(ledger, seq, signed)
    response.headers["Cache-Control"] = IMMUTABLE if size is not None else NO_CACHE
    return proof


@router.get("/proof/consistency", response_model=ConsistencyProof)
def prove_consistency(
    ledger: LedgerDep,
    response: Response,
    old: Annotated[int, Query(ge=0, description="The older published tree size.")],
    new: Annotated[
        int | None, Query(ge=0, description="The newer published size (default: the latest).")
    ] = None,
) -> dict[str, object]:
    """RFC 9162 §2.1.4: the tree of size ``new`` extends the tree of size ``old``."""
    newer = _published(ledger, new)
    if old > newer.checkpoint.size:
        raise HTTPException(
            400, f"old size {old} is larger than the new size {newer.checkpoint.size}"
        )
    older = _published(ledger, old)
    with _database_faults():
        proof = consistency_proof_json(ledger, older, newer)
    response.headers["Cache-Control"] = IMMUTABLE if new is not None else NO_CACHE
    return proof
