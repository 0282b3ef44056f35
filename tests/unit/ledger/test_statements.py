"""Signed actor statements: signing, strict parsing, and every rejection reason."""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.canonical import canonicalize
from ledger.entry import Actor, Entry, build_body, parse_entry
from ledger.errors import MalformedInput, StatementRejected
from ledger.keys import (
    ACTOR_KEY_REGISTER,
    ACTOR_KEY_REVOKE,
    ACTOR_KEY_ROTATE,
    KeyRegistry,
    register_data,
    revoke_data,
    rotate_data,
)
from ledger.statements import (
    CLOCK_SKEW,
    DEFAULT_TTL,
    Statement,
    actor_key_id,
    parse_statement,
    sign_statement,
    verify_statement,
)

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
CASE = "UA-2026-0193"
STEP = "review.defence"
FINDING = {"decision": "no-objection", "defence_need": False, "notes": ["checked ML10"]}


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_entry(seq: int, event: str, data: dict[str, Any]) -> Entry:
    body = build_body(
        seq=seq,
        prev=bytes(32),
        case_prev=None,
        time="2026-03-01T09:00:00.000000Z",
        case_id=None,
        event=event,
        from_state=None,
        to_state=None,
        actor=Actor("registrar-1", "key_admin"),
        statement=None,
        idempotency_key=f"keys/{seq}",
        commitments={},
        data=data,
    )
    return parse_entry(body)


def never_seen(issuer: str, nonce: str) -> bool:
    return False


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def registry(key: Ed25519PrivateKey) -> KeyRegistry:
    """``mod-ua`` holds ``key``, registered at entry 0."""
    reg = KeyRegistry()
    reg.apply(key_entry(0, ACTOR_KEY_REGISTER, register_data("mod-ua", "ministry", raw(key))))
    return reg


def sign(key: Ed25519PrivateKey, **overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "issuer": "mod-ua",
        "case_id": CASE,
        "step": STEP,
        "finding": FINDING,
        "time": T0,
    }
    args.update(overrides)
    return sign_statement(key, **args)


def verify(signed: dict[str, Any], registry: KeyRegistry, **overrides: Any) -> Statement:
    args: dict[str, Any] = {
        "case_id": CASE,
        "step": STEP,
        "at": T0 + timedelta(minutes=1),
        "seen_nonce": never_seen,
    }
    args.update(overrides)
    return verify_statement(signed, registry, **args)


def resign(key: Ed25519PrivateKey, signed: dict[str, Any]) -> dict[str, Any]:
    """Re-sign an edited inner statement with ``key`` (to reach checks after the signature)."""
    message = b"dozvil-statement-v1\n" + canonicalize(signed["statement"])
    signature = base64.b64encode(key.sign(message)).decode()
    return {"statement": signed["statement"], "signature": signature}


# --- signing and parsing ----------------------------------------------------------------------


def test_signed_statement_shape(key: Ed25519PrivateKey) -> None:
    signed = sign(key)
    assert set(signed) == {"statement", "signature"}
    body = signed["statement"]
    assert body["v"] == 1
    assert body["issuer"] == "mod-ua"
    assert body["key_id"] == actor_key_id(raw(key))
    assert (body["case_id"], body["step"], body["finding"]) == (CASE, STEP, FINDING)
    assert body["time"] == "2026-03-02T10:00:00.000000Z"
    assert body["expiry"] == "2026-03-02T11:00:00.000000Z"  # DEFAULT_TTL
    nonce = base64.urlsafe_b64decode(body["nonce"] + "=" * (-len(body["nonce"]) % 4))
    assert len(nonce) >= 16
    assert "=" not in body["nonce"]


def test_signature_is_over_domain_separated_canonical_bytes(key: Ed25519PrivateKey) -> None:
    signed = sign(key)
    message = b"dozvil-statement-v1\n" + canonicalize(signed["statement"])
    key.public_key().verify(base64.b64decode(signed["signature"]), message)


def test_sign_options(key: Ed25519PrivateKey) -> None:
    by_ttl = sign(key, ttl=timedelta(minutes=10), nonce="A" * 22)
    assert by_ttl["statement"]["expiry"] == "2026-03-02T10:10:00.000000Z"
    assert by_ttl["statement"]["nonce"] == "A" * 22
    by_expiry = sign(key, expiry=T0 + timedelta(days=2))
    assert by_expiry["statement"]["expiry"] == "2026-03-04T10:00:00.000000Z"
    assert sign(key)["statement"]["nonce"] != sign(key)["statement"]["nonce"]
    assert timedelta(hours=1) == DEFAULT_TTL


def test_sign_copies_the_finding(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    finding: dict[str, Any] = {"decision": "ok"}
    signed = sign(key, finding=finding)
    finding["decision"] = "changed"
    assert verify(signed, registry).finding == {"decision": "ok"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ttl": timedelta(hours=1), "expiry": T0}, "either ttl or expiry, not both"),
        ({"ttl": timedelta(0)}, "want a positive duration"),
        ({"expiry": T0}, "want after its time"),
        ({"time": datetime(2026, 1, 1)}, "time zone"),
        ({"nonce": "shrt"}, "got 3 bytes, want 16 to 64"),
        ({"issuer": "not a name"}, "statement issuer"),
        ({"finding": ["not", "an", "object"]}, "got list, want an object"),
        ({"finding": {"x": float("inf")}}, "not canonical JSON"),
        ({"finding": {"x": 2.0**60}}, "safe integer domain"),
    ],
)
def test_sign_refuses_bad_input(
    key: Ed25519PrivateKey, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(MalformedInput, match=message):
        sign(key, **overrides)


def test_parse_statement(key: Ed25519PrivateKey) -> None:
    signed = sign(key)
    statement = parse_statement(signed)
    assert statement.issuer == "mod-ua"
    assert statement.key_id == actor_key_id(raw(key))
    assert statement.time == T0
    assert statement.expiry == T0 + DEFAULT_TTL
    assert statement.body is signed["statement"]
    assert statement.message == b"dozvil-statement-v1\n" + canonicalize(signed["statement"])
    assert len(statement.signature) == 64


def test_parse_accepts_shorter_time_spelling(key: Ed25519PrivateKey) -> None:
    signed = sign(key)
    signed["statement"]["time"] = "2026-03-02T10:00:00Z"
    assert parse_statement(signed).time == T0


def _edit(path: tuple[str, ...], value: Any) -> Any:
    """A function that sets ``value`` at ``path`` in a copy of a signed statement."""

    def apply(signed: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(signed)
        target = out
        for part in path[:-1]:
            target = target[part]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return out

    return apply


_DELETE = object()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_edit(("signature",), _DELETE), r"signed statement fields: missing \['signature'\]"),
        (_edit(("extra",), 1), r"unexpected \['extra'\]"),
        (_edit(("statement",), "text"), "statement: got str, want an object"),
        (_edit(("statement", "nonce"), _DELETE), r"missing \['nonce'\]"),
        (_edit(("statement", "note"), "x"), r"statement fields: .*unexpected \['note'\]"),
        (_edit(("statement", "v"), 2), "statement v: got 2, want 1"),
        (_edit(("statement", "v"), True), "statement v: got True, want 1"),
        (_edit(("statement", "v"), "1"), "statement v: got '1', want 1"),
        (_edit(("statement", "issuer"), 7), "statement issuer 7"),
        (_edit(("statement", "key_id"), "ABCDEF0123456789"), "key id: got 'ABCDEF0123456789'"),
        (_edit(("statement", "case_id"), None), "statement case_id None"),
        (_edit(("statement", "step"), ""), "statement step ''"),
        (_edit(("statement", "finding"), "ok"), "finding: got str, want an object"),
        (_edit(("statement", "nonce"), "AAAA"), "nonce: got 3 bytes, want 16 to 64"),
        (_edit(("statement", "nonce"), "A" * 22 + "="), "want base64url without padding"),
        (_edit(("statement", "nonce"), "A" * 21 + "B"), "not in canonical base64url form"),
        (_edit(("statement", "time"), "2026-03-02 10:00:00"), "not RFC 3339 UTC"),
        (_edit(("statement", "expiry"), "2026-03-02T10:00:00Z"), "want after its time"),
        (_edit(("signature",), 12), "signature: got int, want a base64 string"),
        (_edit(("signature",), "%%"), "not standard base64"),
        (_edit(("signature",), base64.b64encode(bytes(63)).decode()), "got 63 bytes, want 64"),
    ],
)
def test_parse_rejects_malformed(key: Ed25519PrivateKey, edit: Any, message: str) -> None:
    with pytest.raises(StatementRejected, match=message) as excinfo:
        parse_statement(edit(sign(key)))
    assert excinfo.value.reason == "malformed"


def test_parse_rejects_non_canonical_signature_base64(key: Ed25519PrivateKey) -> None:
    signed = sign(key)
    signed["signature"] = signed["signature"].rstrip("=")
    with pytest.raises(StatementRejected, match="malformed") as excinfo:
        parse_statement(signed)
    assert excinfo.value.reason == "malformed"


def test_parse_rejects_non_object(key: Ed25519PrivateKey) -> None:
    with pytest.raises(StatementRejected, match="got list, want an object") as excinfo:
        parse_statement([sign(key)])
    assert excinfo.value.reason == "malformed"


# --- verification: acceptance -----------------------------------------------------------------


def test_verify_accepts_a_good_statement(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    signed = sign(key)
    statement = verify(signed, registry)
    assert statement.finding == FINDING
    assert statement.case_id == CASE
    assert statement.step == STEP


def test_verify_accepts_the_statement_carried_in_an_entry(
    key: Ed25519PrivateKey, registry: KeyRegistry
) -> None:
    body = build_body(
        seq=1,
        prev=bytes(32),
        case_prev=None,
        time="2026-03-02T10:00:30.000000Z",
        case_id=CASE,
        event=STEP,
        from_state="review",
        to_state="review",
        actor=Actor("mod-ua", "ministry"),
        statement=sign(key),
        idempotency_key=f"{CASE}/1",
        commitments={},
        data={},
    )
    entry = parse_entry(body)
    assert entry.statement is not None
    assert verify(entry.statement, registry, at_seq=entry.seq).issuer == "mod-ua"


def test_verify_accepts_edges_of_the_time_window(
    key: Ed25519PrivateKey, registry: KeyRegistry
) -> None:
    signed = sign(key)
    verify(signed, registry, at=T0 + DEFAULT_TTL)  # at == expiry
    verify(signed, registry, at=T0 - CLOCK_SKEW)  # time == at + skew


def test_verify_needs_an_aware_time(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    with pytest.raises(MalformedInput, match="time zone"):
        verify(sign(key), registry, at=datetime(2026, 3, 2, 10, 1))


# --- verification: one test per rejection reason ----------------------------------------------


def test_reject_malformed(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    signed = sign(key)
    signed["statement"]["v"] = 2
    with pytest.raises(StatementRejected, match="statement v: got 2, want 1") as excinfo:
        verify(signed, registry)
    assert excinfo.value.reason == "malformed"


def test_reject_unknown_key(registry: KeyRegistry) -> None:
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(
        StatementRejected,
        match=rf"unknown-key.*key '{actor_key_id(raw(stranger))}' of actor 'mod-ua': "
        r"got a key id never registered for this actor, want one of its keys in force now",
    ) as excinfo:
        verify(sign(stranger), registry)
    assert excinfo.value.reason == "unknown-key"


def test_reject_key_registered_for_another_issuer(
    key: Ed25519PrivateKey, registry: KeyRegistry
) -> None:
    with pytest.raises(StatementRejected, match="of actor 'mfa-ua': got a key id never") as excinfo:
        verify(sign(key, issuer="mfa-ua"), registry)
    assert excinfo.value.reason == "unknown-key"


def test_reject_key_not_yet_registered_at_entry(
    key: Ed25519PrivateKey, registry: KeyRegistry
) -> None:
    with pytest.raises(StatementRejected, match="registered only at entry 0") as excinfo:
        verify(sign(key), registry, at_seq=0)
    assert excinfo.value.reason == "unknown-key"


def test_reject_revoked_key(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    key_id = actor_key_id(raw(key))
    registry.apply(key_entry(1, ACTOR_KEY_REVOKE, revoke_data("mod-ua", key_id, "compromised")))
    with pytest.raises(
        StatementRejected,
        match=rf"revoked-key.*key '{key_id}' of actor 'mod-ua': got a key revoked at entry 1 "
        r"\(compromised\), want one of its keys in force now: \[\]",
    ) as excinfo:
        verify(sign(key), registry)
    assert excinfo.value.reason == "revoked-key"


def test_reject_rotated_key(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    new = Ed25519PrivateKey.generate()
    old_id, new_id = actor_key_id(raw(key)), actor_key_id(raw(new))
    registry.apply(key_entry(5, ACTOR_KEY_ROTATE, rotate_data("mod-ua", old_id, raw(new))))
    with pytest.raises(
        StatementRejected, match=rf"revoked at entry 5 \(rotated\).*\['{new_id}'\]"
    ) as excinfo:
        verify(sign(key), registry)
    assert excinfo.value.reason == "revoked-key"
    assert verify(sign(new), registry).key_id == new_id
    # Against the full registry, a statement carried before the rotation entry still verifies;
    # from the rotation entry on, the old key is refused and the new one accepted after it.
    assert verify(sign(key), registry, at_seq=4).key_id == old_id
    with pytest.raises(StatementRejected, match="revoked at entry 5") as excinfo:
        verify(sign(key), registry, at_seq=5)
    assert excinfo.value.reason == "revoked-key"
    with pytest.raises(StatementRejected, match="registered only at entry 5") as excinfo:
        verify(sign(new), registry, at_seq=5)
    assert excinfo.value.reason == "unknown-key"
    assert verify(sign(new), registry, at_seq=6).key_id == new_id


def test_reject_bad_signature_altered_finding(
    key: Ed25519PrivateKey, registry: KeyRegistry
) -> None:
    signed = sign(key)
    signed["statement"]["finding"] = {"decision": "objection"}
    with pytest.raises(
        StatementRejected,
        match=rf"bad-signature.*got signature .* that does not verify, want a signature by key "
        rf"{actor_key_id(raw(key))} of issuer 'mod-ua'",
    ) as excinfo:
        verify(signed, registry)
    assert excinfo.value.reason == "bad-signature"


def test_reject_bad_signature_other_signer(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    forger = Ed25519PrivateKey.generate()
    forged = resign(forger, sign(key))  # names key's id, signed by another key
    with pytest.raises(StatementRejected, match="bad-signature") as excinfo:
        verify(forged, registry)
    assert excinfo.value.reason == "bad-signature"


def test_reject_bad_signature_without_domain(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    signed = sign(key)
    bare = key.sign(canonicalize(signed["statement"]))
    signed["signature"] = base64.b64encode(bare).decode()
    with pytest.raises(StatementRejected, match="does not verify") as excinfo:
        verify(signed, registry)
    assert excinfo.value.reason == "bad-signature"


def test_reject_expired(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    at = T0 + DEFAULT_TTL + timedelta(microseconds=1)
    with pytest.raises(
        StatementRejected,
        match=r"expired.*got verification time 2026-03-02T11:00:00\.000001Z, want at or before "
        r"the statement's expiry 2026-03-02T11:00:00\.000000Z",
    ) as excinfo:
        verify(sign(key), registry, at=at)
    assert excinfo.value.reason == "expired"


def test_reject_not_yet_valid(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    at = T0 - CLOCK_SKEW - timedelta(seconds=1)
    with pytest.raises(
        StatementRejected,
        match=r"not-yet-valid.*got statement time 2026-03-02T10:00:00\.000000Z, want at or "
        r"before 2026-03-02T09:59:59\.000000Z",
    ) as excinfo:
        verify(sign(key), registry, at=at)
    assert excinfo.value.reason == "not-yet-valid"


def test_reject_replayed_nonce(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    signed = sign(key)
    nonce = signed["statement"]["nonce"]
    seen: set[tuple[str, str]] = {("mod-ua", nonce)}
    with pytest.raises(
        StatementRejected,
        match=rf"replayed-nonce.*nonce {re.escape(nonce)} of issuer 'mod-ua': got a nonce seen "
        r"before, want a fresh one",
    ) as excinfo:
        verify(signed, registry, seen_nonce=lambda i, n: (i, n) in seen)
    assert excinfo.value.reason == "replayed-nonce"


def test_reject_wrong_case(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    with pytest.raises(
        StatementRejected,
        match=rf"wrong-case.*statement case_id: got '{CASE}', want 'UA-2026-0999'",
    ) as excinfo:
        verify(sign(key), registry, case_id="UA-2026-0999")
    assert excinfo.value.reason == "wrong-case"


def test_reject_wrong_step(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    with pytest.raises(
        StatementRejected, match=rf"wrong-step.*statement step: got '{STEP}', want 'countersign'"
    ) as excinfo:
        verify(sign(key), registry, step="countersign")
    assert excinfo.value.reason == "wrong-step"


def test_reject_wrong_issuer(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    with pytest.raises(
        StatementRejected, match=r"wrong-issuer.*statement issuer: got 'mod-ua', want 'mfa-ua'"
    ) as excinfo:
        verify(sign(key), registry, issuer="mfa-ua")
    assert excinfo.value.reason == "wrong-issuer"
    assert verify(sign(key), registry, issuer="mod-ua").issuer == "mod-ua"


# --- the order of the checks ------------------------------------------------------------------


def test_key_is_checked_before_signature(registry: KeyRegistry) -> None:
    stranger = Ed25519PrivateKey.generate()
    signed = sign(stranger)
    signed["statement"]["finding"] = {"altered": True}
    with pytest.raises(StatementRejected) as excinfo:
        verify(signed, registry)
    assert excinfo.value.reason == "unknown-key"


def test_signature_is_checked_before_time_case_and_step(
    key: Ed25519PrivateKey, registry: KeyRegistry
) -> None:
    signed = sign(key)
    signed["statement"]["finding"] = {"altered": True}
    with pytest.raises(StatementRejected) as excinfo:
        verify(signed, registry, at=T0 + timedelta(days=9), case_id="other", step="other")
    assert excinfo.value.reason == "bad-signature"


def test_time_is_checked_before_case_and_step(
    key: Ed25519PrivateKey, registry: KeyRegistry
) -> None:
    with pytest.raises(StatementRejected) as excinfo:
        verify(sign(key), registry, at=T0 + timedelta(days=9), case_id="other", step="other")
    assert excinfo.value.reason == "expired"


def test_case_before_step_before_issuer(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    with pytest.raises(StatementRejected) as excinfo:
        verify(sign(key), registry, case_id="other", step="other", issuer="other")
    assert excinfo.value.reason == "wrong-case"
    with pytest.raises(StatementRejected) as excinfo:
        verify(sign(key), registry, step="other", issuer="other")
    assert excinfo.value.reason == "wrong-step"


def test_nonce_store_is_asked_last(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    asked: list[tuple[str, str]] = []

    def seen(issuer: str, nonce: str) -> bool:
        asked.append((issuer, nonce))
        return True

    with pytest.raises(StatementRejected) as excinfo:
        verify(sign(key), registry, case_id="other", seen_nonce=seen)
    assert excinfo.value.reason == "wrong-case"
    assert asked == []
    signed = sign(key)
    with pytest.raises(StatementRejected) as excinfo:
        verify(signed, registry, seen_nonce=seen)
    assert excinfo.value.reason == "replayed-nonce"
    assert asked == [("mod-ua", signed["statement"]["nonce"])]


def test_statement_survives_json_round_trip(key: Ed25519PrivateKey, registry: KeyRegistry) -> None:
    signed = sign(key, finding={"b": 1, "a": [1.5, "ü", None]})
    again = json.loads(json.dumps(signed, indent=2, ensure_ascii=True))
    assert verify(again, registry).finding == {"b": 1, "a": [1.5, "ü", None]}
