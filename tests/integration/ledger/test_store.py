"""The SQL store on SQLite and PostgreSQL: appends, idempotency, statements, proofs, rotation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from ledger.checkpoint import open_checkpoint
from ledger.commitments import check_opening
from ledger.entry import ZERO_HASH, Actor
from ledger.errors import (
    EntryTooLarge,
    IdempotencyConflict,
    MalformedInput,
    StatementRejected,
    UnknownKey,
    VerificationFailed,
)
from ledger.keys import (
    ACTOR_KEY_REGISTER,
    ACTOR_KEY_REVOKE,
    ACTOR_KEY_ROTATE,
    register_data,
    revoke_data,
    rotate_data,
)
from ledger.merkle import EMPTY_ROOT, leaf_hash, verify_consistency, verify_inclusion
from ledger.note import Signer, Verifier, Verifiers
from ledger.statements import sign_statement
from ledger.store.export import ExportSource, export_log
from ledger.store.schema import entries
from ledger.store.sql import AppendRequest, SqlLedger
from ledger.verify import verify_case, verify_entry, verify_log
from tests.conftest import ORIGIN

OFFICER = Actor("officer-1", "licensing_officer")


def request(n: int, case: str = "UA-2026-0001", **extra: object) -> AppendRequest:
    fields: dict[str, object] = {
        "idempotency_key": f"{case}/{n}",
        "case_id": case,
        "event": "submit",
        "actor": OFFICER,
        "to_state": "submitted",
        "data": {"n": n},
    }
    fields.update(extra)
    return AppendRequest(**fields)  # type: ignore[arg-type]


def row_count(ledger: SqlLedger) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(entries)).scalar_one())


def test_init_signs_the_empty_tree(ledger: SqlLedger, log_signer: Signer) -> None:
    latest = ledger.latest_checkpoint()
    assert latest.checkpoint.size == 0
    assert latest.checkpoint.root_hash == EMPTY_ROOT
    cp, _ = open_checkpoint(latest.note, Verifiers([log_signer.verifier]), origin=ORIGIN)
    assert cp == latest.checkpoint
    # init again with the same origin is a no-op
    assert ledger.init(ORIGIN).checkpoint.size == 0


def test_append_returns_the_signed_checkpoint_that_covers_it(
    ledger: SqlLedger, log_signer: Signer
) -> None:
    first = ledger.append(request(0))
    second = ledger.append(request(1))
    entry = second.entries[0]
    assert (first.entries[0].seq, entry.seq) == (0, 1)
    assert entry.prev == leaf_hash(first.entries[0].body)
    assert first.entries[0].prev == ZERO_HASH
    assert entry.case_prev == leaf_hash(first.entries[0].body)
    cp, _ = open_checkpoint(second.checkpoint.note, Verifiers([log_signer.verifier]))
    assert cp.size == 2
    verify_inclusion(1, 2, leaf_hash(entry.body), ledger.inclusion_proof(1, 2), cp.root_hash)


def test_batched_append_is_one_checkpoint(ledger: SqlLedger) -> None:
    result = ledger.append_batch([request(i, case=f"UA-{i % 3}") for i in range(600)])
    assert [e.seq for e in result.entries] == list(range(600))
    assert result.checkpoint.checkpoint.size == 600
    assert ledger.root(600) == result.checkpoint.checkpoint.root_hash
    heads: dict[str | None, bytes] = {}
    for e in result.entries:
        assert e.case_prev == heads.get(e.case_id)
        heads[e.case_id] = leaf_hash(e.body)


def test_same_key_same_content_returns_the_original(ledger: SqlLedger) -> None:
    original = ledger.append(request(0))
    again = ledger.append(request(0))
    assert again.replayed == [True]
    assert again.entries[0].body == original.entries[0].body
    assert row_count(ledger) == 1


def test_same_key_other_content_is_refused_and_writes_nothing(ledger: SqlLedger) -> None:
    ledger.append(request(0))
    with pytest.raises(IdempotencyConflict, match="used by entry 0 with different content"):
        ledger.append_batch([request(1), request(0, data={"n": 99})])
    assert row_count(ledger) == 1
    assert ledger.latest_checkpoint().checkpoint.size == 1


def test_duplicate_key_inside_a_batch(ledger: SqlLedger) -> None:
    result = ledger.append_batch([request(0), request(0)])
    assert [e.seq for e in result.entries] == [0, 0]
    with pytest.raises(IdempotencyConflict, match="twice in the batch"):
        ledger.append_batch([request(5), request(5, data={"n": 6})])
    assert row_count(ledger) == 1


def test_oversized_entry_is_refused_and_writes_nothing(ledger: SqlLedger) -> None:
    with pytest.raises(EntryTooLarge, match="limit is 65535"):
        ledger.append_batch([request(0), request(1, data={"scan": "x" * 70_000})])
    assert row_count(ledger) == 0


def test_wrong_log_key_cannot_append(ledger: SqlLedger, db_url: str) -> None:
    intruder = SqlLedger.open(db_url, Signer.generate(ORIGIN))
    with pytest.raises(UnknownKey, match="is not the log's current key"):
        intruder.append(request(0))
    intruder.engine.dispose()


def test_proofs_at_every_size(ledger: SqlLedger) -> None:
    roots = {0: EMPTY_ROOT}
    for n in range(1, 40):
        roots[n] = ledger.append(request(n)).checkpoint.checkpoint.root_hash
    leaves = [leaf_hash(ledger.entry(s).body) for s in range(39)]
    for size in (1, 2, 7, 8, 9, 31, 39):
        for seq in range(size):
            verify_inclusion(seq, size, leaves[seq], ledger.inclusion_proof(seq, size), roots[size])
        for old in range(size + 1):
            proof = ledger.consistency_proof(old, size)
            verify_consistency(old, size, roots[old], roots[size], proof)


def register(ledger: SqlLedger, actor_id: str, role: str) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    data = register_data(actor_id, role, key.public_key())
    ledger.append(
        AppendRequest(
            idempotency_key=f"register/{data['key_id']}",
            case_id=None,
            event=ACTOR_KEY_REGISTER,
            actor=Actor("registrar", "registrar"),
            data=data,
        )
    )
    return key


def finding(
    key: Ed25519PrivateKey, case: str = "UA-1", step: str = "review.security"
) -> dict[str, Any]:
    return sign_statement(
        key,
        issuer="sbu",
        case_id=case,
        step=step,
        finding={"result": "no-objection"},
        time=datetime.now(UTC),
    )


def review(statement: dict[str, Any], key: str = "UA-1/review") -> AppendRequest:
    return AppendRequest(
        idempotency_key=key,
        case_id="UA-1",
        event="review.security",
        actor=Actor("sbu", "security_service"),
        statement=statement,
    )


def test_signed_statements_are_checked_on_append(ledger: SqlLedger) -> None:
    key = register(ledger, "sbu", "security_service")
    signed = finding(key)
    ledger.append(review(signed))
    with pytest.raises(StatementRejected, match="replayed-nonce"):
        ledger.append(review(signed, key="UA-1/review-again"))
    with pytest.raises(StatementRejected, match="wrong-case"):
        ledger.append(review(finding(key, case="UA-2"), key="UA-1/x"))
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(StatementRejected, match="unknown-key"):
        ledger.append(review(finding(stranger), key="UA-1/y"))
    ledger.append(
        AppendRequest(
            idempotency_key="revoke",
            case_id=None,
            event=ACTOR_KEY_REVOKE,
            actor=Actor("registrar", "registrar"),
            data=revoke_data("sbu", register_data("sbu", "s", key.public_key())["key_id"], "lost"),
        )
    )
    with pytest.raises(StatementRejected, match="revoked-key"):
        ledger.append(review(finding(key), key="UA-1/z"))
    assert row_count(ledger) == 3


def key_change(event: str, data: dict[str, Any], key: str) -> AppendRequest:
    return AppendRequest(
        idempotency_key=key,
        case_id=None,
        event=event,
        actor=Actor("registrar", "registrar"),
        data=data,
    )


def test_key_changes_the_registry_would_refuse_are_never_written(
    ledger: SqlLedger, log_signer: Signer
) -> None:
    """The append checks a key change against the registry at the head, as verification folds
    it; otherwise one bad change would break the log's verification and every later statement."""
    key = register(ledger, "sbu", "security_service")
    key_id = register_data("sbu", "s", key.public_key())["key_id"]
    ledger.append(key_change(ACTOR_KEY_REVOKE, revoke_data("sbu", key_id, "lost"), "revoke"))
    other = Ed25519PrivateKey.generate()
    size = row_count(ledger)
    refused = {
        "a rotation of a revoked key": (
            key_change(ACTOR_KEY_ROTATE, rotate_data("sbu", key_id, other.public_key()), "r1"),
            "already revoked at entry 1",
        ),
        "a revocation of another actor's key": (
            key_change(ACTOR_KEY_REVOKE, revoke_data("mod", key_id, "not theirs"), "r2"),
            "got actor 'mod', want its owner 'sbu'",
        ),
        "a revocation of an unknown key": (
            key_change(
                ACTOR_KEY_REVOKE,
                revoke_data("sbu", register_data("sbu", "s", other.public_key())["key_id"], "?"),
                "r3",
            ),
            "got an unknown key",
        ),
        "a key registered twice": (
            key_change(
                ACTOR_KEY_REGISTER, register_data("mfa", "ministry", key.public_key()), "r4"
            ),
            "registered twice",
        ),
    }
    for what, (change, words) in refused.items():
        with pytest.raises(MalformedInput, match=words) as info:
            ledger.append(change)
        assert "nothing was written" in str(info.value), what
        # nor in a batch with a good entry before it: all or nothing
        with pytest.raises(MalformedInput, match=words):
            ledger.append_batch([request(100 + len(what)), change])
        assert row_count(ledger) == size, what
    fresh = register(ledger, "sbu", "security_service")
    ledger.append(review(finding(fresh)))
    assert verify_log(ledger, log_signer.verifier.vkey).tree_size == size + 2


def test_confidential_fields_are_committed_not_stored(
    ledger: SqlLedger, log_signer: Signer, tmp_path: Path
) -> None:
    result = ledger.append(
        request(0, confidential={"end_user": {"name": "Defence Ministry of X"}, "value": 1200})
    )
    entry = result.entries[0]
    assert b"Defence Ministry" not in entry.body
    opened = ledger.openings(entry.seq)
    assert set(opened) == {"end_user", "value"}
    check_opening(entry.commitments["end_user"], opened["end_user"])
    with pytest.raises(VerificationFailed, match="commitment-opening"):
        check_opening(entry.commitments["value"], opened["end_user"])
    vkey = log_signer.verifier.vkey
    export_log(ledger, tmp_path / "public", initial_key=vkey)
    assert verify_log(ExportSource(tmp_path / "public"), vkey).openings == 0
    export_log(ledger, tmp_path / "cleared", initial_key=vkey, with_openings=True)
    assert verify_log(ExportSource(tmp_path / "cleared"), vkey).openings == 2


def test_log_key_rotation_is_followed_by_verification(
    ledger: SqlLedger, log_signer: Signer, tmp_path: Path
) -> None:
    ledger.append(request(0))
    new = Signer.generate(ORIGIN)
    rotated = ledger.rotate_log_key(new, Actor("admin", "log_admin"))
    both = Verifiers([log_signer.verifier, new.verifier])
    _, opened = open_checkpoint(rotated.checkpoint.note, both)
    assert {v.vkey for v in opened.verified} == {log_signer.verifier.vkey, new.verifier.vkey}
    after = ledger.append(request(1))
    with pytest.raises(UnknownKey):
        open_checkpoint(after.checkpoint.note, Verifiers([log_signer.verifier]))
    report = verify_log(ledger, log_signer.verifier.vkey)
    assert report.log_keys == [log_signer.verifier.vkey, new.verifier.vkey]
    export_log(ledger, tmp_path / "x", initial_key=log_signer.verifier.vkey)
    verify_log(ExportSource(tmp_path / "x"), log_signer.verifier.vkey)
    # a holder of only the new key cannot verify from the start
    with pytest.raises(VerificationFailed, match="checkpoint-signature"):
        verify_log(ledger, new.verifier.vkey)
    # the old key can no longer append
    stale = SqlLedger(ledger.engine, log_signer)
    with pytest.raises(UnknownKey):
        stale.append(request(2))


def test_verify_case_and_entry_online_and_offline(
    ledger: SqlLedger, log_signer: Signer, tmp_path: Path
) -> None:
    ledger.append_batch([request(i, case=f"UA-{i % 4}") for i in range(300)])
    vkey = log_signer.verifier.vkey
    export_log(ledger, tmp_path / "e", initial_key=vkey)
    for source in (ledger, ExportSource(tmp_path / "e")):
        report = verify_case(source, vkey, "UA-3")
        assert [e.seq for e in report.entries] == list(range(3, 300, 4))
        assert verify_entry(source, vkey, 299).seq == 299
        assert verify_log(source, vkey).tree_size == 300


def test_verifier_refuses_a_wrong_trust_anchor(ledger: SqlLedger) -> None:
    ledger.append(request(0))
    other = Signer.generate(ORIGIN).verifier.vkey
    with pytest.raises(VerificationFailed, match="checkpoint-signature"):
        verify_log(ledger, other)


def test_verifier_key_round_trips(log_signer: Signer) -> None:
    assert Verifier.from_vkey(log_signer.verifier.vkey) == log_signer.verifier
