"""Case receipts: a case's entries, an inclusion proof for each, and the signed checkpoint.

A receipt is one JSON document that lets anyone holding only the log's public key check,
offline, that these entries are in the log::

    {
      "format": "dozvil-receipt/1",
      "origin": "<log origin>",
      "case_id": "<case id>",
      "checkpoint": "<signed checkpoint note>",
      "entries": [
        {"seq": 12, "body": "<base64 of the RFC 8785 body>",
         "inclusion_proof": ["<base64 hash>", ...]}          RFC 9162 §2.1.3, under checkpoint
      ],
      "key_rotations": [
        {"checkpoint": "<signed note of size seq+1>",
         "entry": {"seq": ..., "body": ..., "inclusion_proof": [...]}}
      ]
    }

``key_rotations`` lists every ``log_key.rotate`` entry before the checkpoint, each with the
checkpoint that first covered it (signed by both the old and the new key) and its inclusion
proof under that checkpoint, so a holder of the log's *first* key can follow every rotation.

The licence document given to customs is a receipt holding the single issuance entry.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from ledger.checkpoint import Checkpoint, checkpoint_in, parse_checkpoint
from ledger.encoding import decode_base64, encode_base64
from ledger.entry import Entry
from ledger.errors import MalformedInput, VerificationFailed
from ledger.keys import LOG_KEY_ROTATE, LogKeyHistory
from ledger.merkle import leaf_hash
from ledger.verify import (
    LogSource,
    check_checkpoint_signatures,
    entry_included,
    verify_entries_included,
)

RECEIPT_FORMAT = "dozvil-receipt/1"


@dataclass(frozen=True)
class ReceiptReport:
    """What a receipt proved."""

    case_id: str
    checkpoint: Checkpoint
    entries: list[Entry]
    starts_case: bool
    """True when the first entry is the case's first (its ``case_prev`` is null)."""


def _b64(data: bytes) -> str:
    return encode_base64(data)


def _unb64(value: Any, what: str) -> bytes:
    return decode_base64(value, f"receipt: {what}")


def _proved(seq: int, body: bytes, proof: list[bytes]) -> dict[str, Any]:
    return {"seq": seq, "body": _b64(body), "inclusion_proof": [_b64(p) for p in proof]}


def build_receipt(
    source: LogSource,
    hashes: Any,
    initial_key: str,
    case_id: str,
    seqs: list[int] | None = None,
) -> dict[str, Any]:
    """Build a receipt for ``case_id`` (all its entries, or only ``seqs``) from ``source``.

    ``hashes`` has ``inclusion_proof(seq, size)`` and ``checkpoint_at(size)``, as
    :class:`ledger.store.sql.SqlLedger` has. The entries are checked before they are handed out.
    """
    wanted = seqs if seqs is not None else source.case_seqs(case_id)
    if not wanted:
        raise MalformedInput(f"the log has no entries for case {case_id!r}")
    # One pass: the case's entries and the log-level ones (for the key rotations), each
    # checked for inclusion under the latest checkpoint.
    log_seqs = source.case_seqs(None)
    latest, checked = verify_entries_included(source, initial_key, [*wanted, *log_seqs])
    found, log_entries = checked[: len(wanted)], checked[len(wanted) :]
    for entry in found:
        if entry.case_id != case_id:
            raise MalformedInput(f"entry {entry.seq} belongs to case {entry.case_id!r}")
    rotations = []
    for entry in log_entries:
        if entry.event == LOG_KEY_ROTATE:
            size = entry.seq + 1
            rotations.append(
                {
                    "checkpoint": hashes.checkpoint_at(size).note,
                    "entry": _proved(
                        entry.seq, entry.body, hashes.inclusion_proof(entry.seq, size)
                    ),
                }
            )
    return {
        "format": RECEIPT_FORMAT,
        "origin": latest.origin,
        "case_id": case_id,
        "checkpoint": source.latest_checkpoint_note(),
        "entries": [
            _proved(e.seq, e.body, hashes.inclusion_proof(e.seq, latest.size)) for e in found
        ],
        "key_rotations": rotations,
    }


def _parse_proved(obj: Any, what: str) -> tuple[int, bytes, list[bytes]]:
    if not isinstance(obj, dict) or obj.keys() != {"seq", "body", "inclusion_proof"}:
        raise MalformedInput(f"receipt: {what} must have exactly seq, body, inclusion_proof")
    seq = obj["seq"]
    if type(seq) is not int or seq < 0:
        raise MalformedInput(f"receipt: {what} seq {seq!r} is not a non-negative integer")
    proof = obj["inclusion_proof"]
    if not isinstance(proof, list):
        raise MalformedInput(f"receipt: {what} inclusion_proof is not a list")
    return (
        seq,
        _unb64(obj["body"], f"{what} body"),
        [_unb64(p, f"{what} proof[{i}]") for i, p in enumerate(proof)],
    )


def _opened(note: str, keys: LogKeyHistory, origin: str) -> Checkpoint:
    text, sep, _ = note.partition("\n\n")
    if not sep:
        raise MalformedInput("receipt: checkpoint is not a signed note")
    size = parse_checkpoint(text + "\n").size
    return check_checkpoint_signatures(note, keys.keys_for_checkpoint(size), origin, size)


def verify_receipt(receipt: dict[str, Any], initial_key: str) -> ReceiptReport:
    """Check a receipt offline with the log's first public key; raise on any fault.

    Steps: (1) shape and format version; (2) follow each key rotation: its checkpoint is
    signed by the key in force and the new key, and the rotation entry is included in it;
    (3) the checkpoint is signed by the key in force; (4) each entry is included under it and
    belongs to the case; (5) consecutive entries form the case's ``case_prev`` chain.
    """
    # (1)
    if not isinstance(receipt, dict) or receipt.get("format") != RECEIPT_FORMAT:
        raise MalformedInput(f"not a receipt: format is not {RECEIPT_FORMAT!r}")
    want = {"format", "origin", "case_id", "checkpoint", "entries", "key_rotations"}
    if receipt.keys() != want:
        raise MalformedInput(f"receipt fields must be exactly {sorted(want)}")
    origin, case_id = receipt["origin"], receipt["case_id"]
    if not isinstance(origin, str) or not isinstance(case_id, str):
        raise MalformedInput("receipt: origin and case_id must be strings")
    if not isinstance(receipt["entries"], list) or not receipt["entries"]:
        raise MalformedInput("receipt: entries must be a non-empty list")
    if not isinstance(receipt["key_rotations"], list):
        raise MalformedInput("receipt: key_rotations must be a list")
    # (2)
    keys = LogKeyHistory(initial_key)
    for i, rotation in enumerate(receipt["key_rotations"]):
        if not isinstance(rotation, dict) or rotation.keys() != {"checkpoint", "entry"}:
            raise MalformedInput(f"receipt: key_rotations[{i}] must have checkpoint and entry")
        seq, body, proof = _parse_proved(rotation["entry"], f"key_rotations[{i}]")
        # The rotation checkpoint must be signed by the key in force *after* the rotation
        # (and the one before, which keys_for_checkpoint requires for a rotation's size);
        # apply the entry first, then check the signatures.
        cp_text = rotation["checkpoint"]
        if not isinstance(cp_text, str):
            raise MalformedInput(f"receipt: key_rotations[{i}] checkpoint is not a string")
        claimed = checkpoint_in(cp_text)
        entry = entry_included(seq, body, proof, claimed)
        if entry.event != LOG_KEY_ROTATE or claimed.size != seq + 1:
            raise VerificationFailed(
                "key-registry",
                f"key_rotations[{i}] is not a log key rotation covered at size {seq + 1}",
                seq=seq,
            )
        keys.apply(entry)
        _opened(cp_text, keys, origin)
    # (3)
    if not isinstance(receipt["checkpoint"], str):
        raise MalformedInput("receipt: checkpoint is not a string")
    checkpoint = _opened(receipt["checkpoint"], keys, origin)
    # (4)
    found: list[Entry] = []
    for i, item in enumerate(receipt["entries"]):
        seq, body, proof = _parse_proved(item, f"entries[{i}]")
        entry = entry_included(seq, body, proof, checkpoint)
        if entry.case_id != case_id:
            raise VerificationFailed(
                "case-chain",
                f"entry belongs to case {entry.case_id!r}, the receipt is for {case_id!r}",
                seq=seq,
                case_id=entry.case_id,
            )
        found.append(entry)
    # (5)
    for before, after in itertools.pairwise(found):
        if after.case_prev != leaf_hash(before.body):
            raise VerificationFailed(
                "case-chain",
                f"case_prev does not link to entry {before.seq}",
                seq=after.seq,
                case_id=case_id,
            )
    return ReceiptReport(case_id, checkpoint, found, found[0].case_prev is None)


def dumps_receipt(receipt: dict[str, Any]) -> str:
    return json.dumps(receipt, indent=2, sort_keys=True) + "\n"
