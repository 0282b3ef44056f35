"""Write the tampered export vectors of this folder (see README.md). Deterministic.

From the repository root::

    .venv/bin/python tests/vectors/exports/generate.py            # rewrite the vectors here
    .venv/bin/python tests/vectors/exports/generate.py --out DIR  # write them under DIR

Every vector is built by ``tests/integration/ledger/forge.py`` from fixed drafts: fixed entry
times, fixed statement nonces, and the committed test keys in ``keys/`` (Ed25519 signing is
deterministic), so the output is byte-identical on every run.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from ledger.entry import Actor, parse_time  # noqa: E402
from ledger.keys import (  # noqa: E402
    ACTOR_KEY_REGISTER,
    ACTOR_KEY_REVOKE,
    actor_key_id,
    raw_public_key,
    register_data,
    revoke_data,
)
from ledger.merkle import leaf_hash  # noqa: E402
from ledger.note import Signer  # noqa: E402
from ledger.statements import sign_statement  # noqa: E402
from tests.integration.ledger import forge  # noqa: E402

ORIGIN = "vectors.dozvil.example/log"
KEYS = HERE / "keys"
#: Entries of the small log; its checkpoints are published at these sizes.
SIZE = 20
CHECKPOINTS = (0, 8, SIZE)
#: Entries of the log that has a level-1 hash tile (tree level 8 needs 256 leaves).
TILE_SIZE = 260
#: Entries carrying a statement by ``sbu``.
STATEMENTS = (4, 9, 14)
TRUSTED = "trusted.checkpoint"

REGISTRAR = Actor("registrar", "registrar")
OFFICER = Actor("officer-1", "licensing_officer")
SBU = Actor("sbu", "security_service")
CLOCK = Actor("clock", "system")


@dataclass(frozen=True)
class Keys:
    log: Signer
    impostor: Signer
    sbu: Ed25519PrivateKey


def load_keys(directory: Path = KEYS) -> Keys:
    """The committed test keys: the log key, an impostor of the same name, the actor key."""
    seed = bytes.fromhex((directory / "sbu.seed").read_text().strip())
    return Keys(
        log=Signer.from_skey((directory / "log.skey").read_text().strip()),
        impostor=Signer.from_skey((directory / "impostor.skey").read_text().strip()),
        sbu=Ed25519PrivateKey.from_private_bytes(seed),
    )


@dataclass(frozen=True)
class Expect:
    """What verification of a vector must report (all ``None`` for a good log)."""

    check: str | None = None
    seq: int | None = None
    match: str | None = None
    trusted: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "seq": self.seq, "match": self.match}
        if self.trusted is not None:
            out["trusted"] = self.trusted
        return out


# --- drafts ------------------------------------------------------------------------------------


def nonce(label: str) -> str:
    """A fixed statement nonce: 16 bytes of SHA-256 of ``label``, base64url without padding."""
    raw = hashlib.sha256(f"dozvil/tests/vectors/exports nonce: {label}".encode()).digest()[:16]
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def case_of(seq: int) -> str:
    return f"UA-2026-{1 + seq % 3:04d}"


def statement(key: Ed25519PrivateKey, seq: int, *, label: str | None = None) -> dict[str, Any]:
    """A ``review.security`` finding for entry ``seq``'s case, signed 10 s before the entry."""
    signed_at: datetime = parse_time(forge.entry_time(seq)) - timedelta(seconds=10)
    return sign_statement(
        key,
        issuer=SBU.id,
        case_id=case_of(seq),
        step="review.security",
        finding={"result": "no-objection"},
        time=signed_at,
        ttl=timedelta(hours=1),
        nonce=nonce(label if label is not None else f"entry {seq}"),
    )


def draft(seq: int, keys: Keys) -> forge.Draft:
    """Entry ``seq`` of the honest log: a key registration, case entries, then (from
    :data:`SIZE` on, only in the larger log) small log-level filler entries."""
    if seq >= SIZE:
        return forge.Draft("tick", actor=CLOCK, idempotency_key=f"t{seq}")
    if seq == 0:
        return forge.Draft(
            ACTOR_KEY_REGISTER,
            actor=REGISTRAR,
            data=register_data(SBU.id, SBU.role, keys.sbu.public_key()),
            idempotency_key="register/sbu",
        )
    if seq in STATEMENTS:
        return forge.Draft(
            "review.security",
            case_id=case_of(seq),
            actor=SBU,
            statement=statement(keys.sbu, seq),
            idempotency_key=f"{case_of(seq)}/{seq}",
        )
    return forge.Draft(
        "submit",
        case_id=case_of(seq),
        data={"n": seq},
        idempotency_key=f"{case_of(seq)}/{seq}",
    )


def honest(keys: Keys, size: int = SIZE) -> list[forge.Draft]:
    return [draft(seq, keys) for seq in range(size)]


def with_entry(drafts: list[forge.Draft], seq: int, new: forge.Draft) -> list[forge.Draft]:
    return [*drafts[:seq], new, *drafts[seq + 1 :]]


# --- vectors -----------------------------------------------------------------------------------


def export(
    root: Path, keys: Keys, drafts: list[forge.Draft], sizes: tuple[int, ...] = CHECKPOINTS
) -> list[bytes]:
    bodies = forge.chain(drafts)
    forge.write_export(root, bodies, signer=keys.log, origin=ORIGIN, checkpoint_sizes=sizes)
    return bodies


def good(root: Path, keys: Keys) -> Expect:
    export(root, keys, honest(keys))
    return Expect()


def changed_body(root: Path, keys: Keys) -> Expect:
    export(root, keys, honest(keys))
    path, offset, length = forge.entry_location(root, 7)
    forge.flip_byte(path, offset + length // 2)
    return Expect("stored-hash", 7, "body hashes to [0-9a-f]{64}, stored leaf hash is")


def changed_hash(root: Path, keys: Keys) -> Expect:
    export(root, keys, honest(keys))
    forge.flip_byte(root / f"tile/0/000.p/{SIZE}", 32 * 7)
    return Expect("stored-hash", 7, "body hashes to [0-9a-f]{64}, stored leaf hash is")


def changed_tile(root: Path, keys: Keys) -> Expect:
    export(root, keys, honest(keys, TILE_SIZE), (0, 256, TILE_SIZE))
    forge.flip_byte(root / "tile/1/000.p/1", 5)
    return Expect("tile", 255, "tile level 1 hash 0 is [0-9a-f]{64}, the entries give")


def deleted_row(root: Path, keys: Keys) -> Expect:
    export(root, keys, honest(keys))
    bodies, leaves = forge.read_entries(root)
    del bodies[7], leaves[7]
    forge.write_entries(root, bodies, leaves)
    return Expect("sequence", 7, "position 7 holds the body of entry 8: entry 7 is missing")


def deleted_row_at_bundle_end(root: Path, keys: Keys) -> Expect:
    """Entry 255, the last of the full bundle ``tile/entries/000``, cut from that bundle (and its
    hash from ``tile/0/000``); the next bundle is untouched."""
    export(root, keys, honest(keys, TILE_SIZE), (0, 256, TILE_SIZE))
    bodies, leaves = forge.read_entries(root)
    forge.write_bundle(root, 0, bodies[:255], leaves[:255])
    return Expect("sequence", 255, "missing")


def inserted_row(root: Path, keys: Keys) -> Expect:
    bodies = export(root, keys, honest(keys))
    head = forge.head_of(bodies[:7])
    extra = forge.Draft("approve", case_id=case_of(7), data={"forged": True}, idempotency_key="x")
    forged = forge.chain([extra], head)[0]
    stored, leaves = forge.read_entries(root)
    stored.insert(7, forged)
    leaves.insert(7, leaf_hash(forged))
    forge.write_entries(root, stored, leaves)
    return Expect("sequence", 8, "position 8 holds the body of entry 7: entry 8 is duplicated")


def swapped_rows(root: Path, keys: Keys) -> Expect:
    export(root, keys, honest(keys))
    bodies, leaves = forge.read_entries(root)
    bodies[5], bodies[12] = bodies[12], bodies[5]
    leaves[5], leaves[12] = leaves[12], leaves[5]
    forge.write_entries(root, bodies, leaves)
    return Expect("sequence", 5, "position 5 holds the body of entry 12: entry 5 is missing")


def truncated_tail(root: Path, keys: Keys) -> Expect:
    export(root, keys, honest(keys))
    bodies, leaves = forge.read_entries(root)
    forge.write_entries(root, bodies[:17], leaves[:17])
    return Expect("truncated", 17, "the log ends at entry 16, its checkpoint covers 20")


def unknown_key_checkpoint(root: Path, keys: Keys) -> Expect:
    bodies = export(root, keys, honest(keys))
    tree = forge.Tree((leaf_hash(b) for b in bodies), [SIZE])
    forge.replace_checkpoint(
        root, forge.signed_checkpoint(keys.impostor, ORIGIN, SIZE, tree.roots[SIZE])
    )
    return Expect(
        "checkpoint-signature", SIZE - 1, "checkpoint of size 20: note has no verifiable signature"
    )


def forged_statement(root: Path, keys: Keys) -> Expect:
    signed = statement(keys.sbu, 14)
    inner = dict(signed["statement"], finding={"result": "objection"})  # after signing
    drafts = honest(keys)
    drafts = with_entry(drafts, 14, _with_statement(drafts[14], dict(signed, statement=inner)))
    export(root, keys, drafts)
    return Expect("statement", 14, "bad-signature")


def revoked_key_statement(root: Path, keys: Keys) -> Expect:
    key_id = actor_key_id(raw_public_key(keys.sbu.public_key()))
    revoke = forge.Draft(
        ACTOR_KEY_REVOKE,
        actor=REGISTRAR,
        data=revoke_data(SBU.id, key_id, "compromised"),
        idempotency_key="revoke/sbu",
    )
    export(root, keys, with_entry(honest(keys), 12, revoke))
    return Expect("statement", 14, "revoked-key")


def replayed_nonce(root: Path, keys: Keys) -> Expect:
    drafts = honest(keys)
    replay = statement(keys.sbu, 14, label="entry 4")  # a new statement, entry 4's nonce
    export(root, keys, with_entry(drafts, 14, _with_statement(drafts[14], replay)))
    return Expect("statement", 14, "replayed-nonce")


def fork(root: Path, keys: Keys) -> Expect:
    """The auditor kept a checkpoint of size 12 from a view where entry 11 is another one."""
    bodies = export(root, keys, honest(keys))
    other = forge.Draft("withdraw", case_id=case_of(11), idempotency_key="fork")
    forked = bodies[:11] + forge.chain([other], forge.head_of(bodies[:11]))
    tree = forge.Tree((leaf_hash(b) for b in forked), [12])
    note = forge.signed_checkpoint(keys.log, ORIGIN, 12, tree.roots[12])
    (root / TRUSTED).write_text(note, encoding="utf-8")
    return Expect("consistency", 11, "the log forked", TRUSTED)


def shrank(root: Path, keys: Keys) -> Expect:
    """The export stops at size 8; the auditor kept the log's checkpoint of size 20."""
    bodies = forge.chain(honest(keys))
    tree = forge.Tree((leaf_hash(b) for b in bodies), [SIZE])
    forge.write_export(root, bodies[:8], signer=keys.log, origin=ORIGIN, checkpoint_sizes=(0,))
    note = forge.signed_checkpoint(keys.log, ORIGIN, SIZE, tree.roots[SIZE])
    (root / TRUSTED).write_text(note, encoding="utf-8")
    return Expect("consistency", 8, "the log shrank", TRUSTED)


def _with_statement(d: forge.Draft, signed: dict[str, Any]) -> forge.Draft:
    return replace(d, statement=signed)


VECTORS: dict[str, Callable[[Path, Keys], Expect]] = {
    "export-good": good,
    "export-changed-body": changed_body,
    "export-changed-hash": changed_hash,
    "export-changed-tile": changed_tile,
    "export-deleted-row": deleted_row,
    "export-deleted-row-at-bundle-end": deleted_row_at_bundle_end,
    "export-inserted-row": inserted_row,
    "export-swapped-rows": swapped_rows,
    "export-truncated-tail": truncated_tail,
    "export-unknown-key-checkpoint": unknown_key_checkpoint,
    "export-forged-statement": forged_statement,
    "export-revoked-key-statement": revoked_key_statement,
    "export-replayed-nonce": replayed_nonce,
    "export-fork": fork,
    "export-shrank": shrank,
}


def generate(out: Path, keys: Keys | None = None) -> list[str]:
    """Write every vector under ``out`` (replacing those there); return their names."""
    keys = keys if keys is not None else load_keys()
    for name, build in VECTORS.items():
        root = out / name
        shutil.rmtree(root, ignore_errors=True)
        expect = build(root, keys)
        (root / "expect.json").write_text(json.dumps(expect.to_json(), indent=2) + "\n")
    return list(VECTORS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="where to write (default: here)")
    args = parser.parse_args(argv)
    for name in generate(args.out):
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
