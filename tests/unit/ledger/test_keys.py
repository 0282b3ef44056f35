"""Actor key registry and log key history folded from ledger entries."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.entry import Actor, Entry, build_body, parse_entry
from ledger.errors import MalformedInput, UnknownKey, VerificationFailed
from ledger.keys import (
    ACTOR_KEY_REGISTER,
    ACTOR_KEY_REVOKE,
    ACTOR_KEY_ROTATE,
    LOG_KEY_ROTATE,
    ROTATED_REASON,
    KeyRegistry,
    LogKeyHistory,
    RevokedKey,
    actor_key_id,
    decode_public_key,
    encode_public_key,
    log_key_rotate_data,
    register_data,
    revoke_data,
    rotate_data,
)

VKEY_A = "dozvil.example/log+0a1b2c3d+AaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaA"
VKEY_B = "dozvil.example/log+4e5f6a7b+BbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbB"
VKEY_C = "dozvil.example/log+8c9d0e1f+CcccccccccccccccccccccccccccccccccccccccccccC"


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def entry(seq: int, event: str, data: dict[str, Any], case_id: str | None = None) -> Entry:
    """A parsed entry built the way the log builds them."""
    body = build_body(
        seq=seq,
        prev=bytes(32),
        case_prev=None,
        time="2026-01-05T09:00:00.000000Z",
        case_id=case_id,
        event=event,
        from_state=None,
        to_state=None,
        actor=Actor("registrar-1", "key_admin"),
        statement=None,
        idempotency_key=f"test/{seq}",
        commitments={},
        data=data,
    )
    return parse_entry(body)


@pytest.fixture
def k1() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def k2() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def registry(k1: Ed25519PrivateKey) -> KeyRegistry:
    """``mod-ua`` (role ministry) has key k1, registered at entry 0."""
    reg = KeyRegistry()
    reg.apply(entry(0, ACTOR_KEY_REGISTER, register_data("mod-ua", "ministry", raw(k1))))
    return reg


# --- key ids and encodings --------------------------------------------------------------------


def test_actor_key_id_is_domain_separated_sha256_prefix(k1: Ed25519PrivateKey) -> None:
    want = hashlib.sha256(b"dozvil-actor-key-v1\n" + raw(k1)).hexdigest()[:16]
    assert actor_key_id(raw(k1)) == want
    assert len(want) == 16


def test_actor_key_id_refuses_wrong_length() -> None:
    with pytest.raises(MalformedInput, match="got 31 bytes, want 32"):
        actor_key_id(bytes(31))


def test_public_key_encoding_round_trips(k1: Ed25519PrivateKey) -> None:
    text = encode_public_key(k1.public_key())
    assert text == base64.b64encode(raw(k1)).decode()
    assert decode_public_key(text) == raw(k1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AAAA", "got 3 bytes, want 32"),
        ("not base64!", "not standard base64"),
        (base64.b64encode(bytes(32)).decode().rstrip("="), "not standard base64"),
    ],
)
def test_decode_public_key_is_strict(text: str, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        decode_public_key(text)


# --- builders ---------------------------------------------------------------------------------


def test_register_data_derives_key_id(k1: Ed25519PrivateKey) -> None:
    data = register_data("mod-ua", "ministry", k1.public_key())
    assert data == {
        "actor_id": "mod-ua",
        "role": "ministry",
        "key_id": actor_key_id(raw(k1)),
        "public_key": base64.b64encode(raw(k1)).decode(),
    }
    assert register_data("mod-ua", "ministry", raw(k1)) == data


def test_rotate_data(k1: Ed25519PrivateKey, k2: Ed25519PrivateKey) -> None:
    data = rotate_data("mod-ua", actor_key_id(raw(k1)), raw(k2))
    assert data["old_key_id"] == actor_key_id(raw(k1))
    assert data["key_id"] == actor_key_id(raw(k2))
    assert set(data) == {"actor_id", "old_key_id", "key_id", "public_key"}


def test_revoke_data_refuses_empty_reason() -> None:
    assert revoke_data("mod-ua", "0123456789abcdef", "lost") == {
        "actor_id": "mod-ua",
        "key_id": "0123456789abcdef",
        "reason": "lost",
    }
    with pytest.raises(MalformedInput, match="reason: got ''"):
        revoke_data("mod-ua", "0123456789abcdef", "")


def test_builders_refuse_bad_names_and_ids() -> None:
    with pytest.raises(MalformedInput, match="actor id"):
        register_data("bad actor", "ministry", bytes(32))
    with pytest.raises(MalformedInput, match="key id: got 'XYZ'"):
        revoke_data("mod-ua", "XYZ", "lost")


def test_log_key_rotate_data() -> None:
    assert log_key_rotate_data(VKEY_A, VKEY_B) == {"old_vkey": VKEY_A, "new_vkey": VKEY_B}
    with pytest.raises(MalformedInput, match="new_vkey equals old_vkey"):
        log_key_rotate_data(VKEY_A, VKEY_A)


# --- registering ------------------------------------------------------------------------------


def test_register_then_lookup(registry: KeyRegistry, k1: Ed25519PrivateKey) -> None:
    key = registry.lookup("mod-ua", actor_key_id(raw(k1)))
    assert key.actor_id == "mod-ua"
    assert key.role == "ministry"
    assert key.public_key == raw(k1)
    assert key.registered_seq == 0
    assert key.revoked_seq is None
    assert key.verifier().public_bytes(Encoding.Raw, PublicFormat.Raw) == raw(k1)
    assert registry.last_seq == 0


def test_register_same_key_twice_is_refused(registry: KeyRegistry, k1: Ed25519PrivateKey) -> None:
    again = entry(1, ACTOR_KEY_REGISTER, register_data("mfa-ua", "ministry", raw(k1)))
    with pytest.raises(VerificationFailed, match="registered twice") as excinfo:
        registry.apply(again)
    assert excinfo.value.check == "key-registry"
    assert excinfo.value.seq == 1


def test_register_key_id_must_match_public_key(k1: Ed25519PrivateKey) -> None:
    data = register_data("mod-ua", "ministry", raw(k1))
    data["key_id"] = "0000000000000000"
    with pytest.raises(
        VerificationFailed, match=f"got 0000000000000000, want {actor_key_id(raw(k1))}"
    ) as excinfo:
        KeyRegistry().apply(entry(0, ACTOR_KEY_REGISTER, data))
    assert excinfo.value.check == "key-registry"


def test_register_with_extra_field_is_refused(k1: Ed25519PrivateKey) -> None:
    data = register_data("mod-ua", "ministry", raw(k1)) | {"note": "x"}
    with pytest.raises(VerificationFailed, match="data fields: got"):
        KeyRegistry().apply(entry(0, ACTOR_KEY_REGISTER, data))


def test_register_with_bad_public_key_is_refused(k1: Ed25519PrivateKey) -> None:
    data = register_data("mod-ua", "ministry", raw(k1))
    data["public_key"] = "AAAA"
    with pytest.raises(VerificationFailed, match="got 3 bytes, want 32") as excinfo:
        KeyRegistry().apply(entry(0, ACTOR_KEY_REGISTER, data))
    assert excinfo.value.check == "key-registry"


def test_key_events_must_be_log_level(k1: Ed25519PrivateKey) -> None:
    data = register_data("mod-ua", "ministry", raw(k1))
    with pytest.raises(VerificationFailed, match="got case_id 'UA-1', want null"):
        KeyRegistry().apply(entry(0, ACTOR_KEY_REGISTER, data, case_id="UA-1"))


def test_entries_must_come_in_order(registry: KeyRegistry, k2: Ed25519PrivateKey) -> None:
    late = entry(0, ACTOR_KEY_REGISTER, register_data("mfa-ua", "ministry", raw(k2)))
    with pytest.raises(VerificationFailed, match="got seq 0, want more than 0"):
        registry.apply(late)


def test_other_events_are_ignored(registry: KeyRegistry) -> None:
    registry.apply(entry(5, "submit", {"anything": 1}, case_id="UA-1"))
    assert registry.last_seq == 5


# --- rotating ---------------------------------------------------------------------------------


def test_rotate_revokes_old_and_registers_new(
    registry: KeyRegistry, k1: Ed25519PrivateKey, k2: Ed25519PrivateKey
) -> None:
    old_id, new_id = actor_key_id(raw(k1)), actor_key_id(raw(k2))
    registry.apply(entry(3, ACTOR_KEY_ROTATE, rotate_data("mod-ua", old_id, raw(k2))))
    old = registry.get(old_id)
    assert old is not None
    assert (old.revoked_seq, old.revoke_reason) == (3, ROTATED_REASON)
    new = registry.lookup("mod-ua", new_id)
    assert (new.role, new.registered_seq, new.revoked_seq) == ("ministry", 3, None)
    with pytest.raises(RevokedKey, match="revoked at entry 3"):
        registry.lookup("mod-ua", old_id)


def test_rotate_unknown_key_is_refused(registry: KeyRegistry, k2: Ed25519PrivateKey) -> None:
    bad = entry(1, ACTOR_KEY_ROTATE, rotate_data("mod-ua", "0123456789abcdef", raw(k2)))
    with pytest.raises(VerificationFailed, match="got an unknown key") as excinfo:
        registry.apply(bad)
    assert (excinfo.value.check, excinfo.value.seq) == ("key-registry", 1)


def test_rotate_for_another_actor_is_refused(
    registry: KeyRegistry, k1: Ed25519PrivateKey, k2: Ed25519PrivateKey
) -> None:
    bad = entry(1, ACTOR_KEY_ROTATE, rotate_data("mfa-ua", actor_key_id(raw(k1)), raw(k2)))
    with pytest.raises(VerificationFailed, match="got actor 'mfa-ua', want its owner 'mod-ua'"):
        registry.apply(bad)


def test_rotate_revoked_key_is_refused(
    registry: KeyRegistry, k1: Ed25519PrivateKey, k2: Ed25519PrivateKey
) -> None:
    old_id = actor_key_id(raw(k1))
    registry.apply(entry(1, ACTOR_KEY_REVOKE, revoke_data("mod-ua", old_id, "compromised")))
    bad = entry(2, ACTOR_KEY_ROTATE, rotate_data("mod-ua", old_id, raw(k2)))
    with pytest.raises(VerificationFailed, match="already revoked at entry 1"):
        registry.apply(bad)


def test_rotate_to_the_same_key_is_refused(registry: KeyRegistry, k1: Ed25519PrivateKey) -> None:
    bad = entry(1, ACTOR_KEY_ROTATE, rotate_data("mod-ua", actor_key_id(raw(k1)), raw(k1)))
    with pytest.raises(VerificationFailed, match="registered twice"):
        registry.apply(bad)


# --- revoking ---------------------------------------------------------------------------------


def test_revoke(registry: KeyRegistry, k1: Ed25519PrivateKey) -> None:
    key_id = actor_key_id(raw(k1))
    registry.apply(entry(2, ACTOR_KEY_REVOKE, revoke_data("mod-ua", key_id, "compromised")))
    key = registry.get(key_id)
    assert key is not None
    assert (key.revoked_seq, key.revoke_reason) == (2, "compromised")
    with pytest.raises(RevokedKey, match=r"revoked at entry 2 \(compromised\)") as excinfo:
        registry.lookup("mod-ua", key_id)
    assert excinfo.value.key == key


def test_revoke_twice_is_refused(registry: KeyRegistry, k1: Ed25519PrivateKey) -> None:
    key_id = actor_key_id(raw(k1))
    registry.apply(entry(1, ACTOR_KEY_REVOKE, revoke_data("mod-ua", key_id, "lost")))
    with pytest.raises(VerificationFailed, match="already revoked at entry 1"):
        registry.apply(entry(2, ACTOR_KEY_REVOKE, revoke_data("mod-ua", key_id, "lost")))


def test_revoke_unknown_key_is_refused(registry: KeyRegistry) -> None:
    bad = entry(1, ACTOR_KEY_REVOKE, revoke_data("mod-ua", "0123456789abcdef", "lost"))
    with pytest.raises(VerificationFailed, match="got an unknown key"):
        registry.apply(bad)


def test_revoke_for_another_actor_is_refused(registry: KeyRegistry, k1: Ed25519PrivateKey) -> None:
    bad = entry(1, ACTOR_KEY_REVOKE, revoke_data("mfa-ua", actor_key_id(raw(k1)), "lost"))
    with pytest.raises(VerificationFailed, match="got actor 'mfa-ua', want its owner 'mod-ua'"):
        registry.apply(bad)


def test_revoke_with_empty_reason_is_refused(registry: KeyRegistry, k1: Ed25519PrivateKey) -> None:
    data = {"actor_id": "mod-ua", "key_id": actor_key_id(raw(k1)), "reason": ""}
    with pytest.raises(VerificationFailed, match="reason: got ''"):
        registry.apply(entry(1, ACTOR_KEY_REVOKE, data))


def test_refused_entry_changes_nothing(
    registry: KeyRegistry, k1: Ed25519PrivateKey, k2: Ed25519PrivateKey
) -> None:
    data = rotate_data("mod-ua", actor_key_id(raw(k1)), raw(k2))
    data["key_id"] = "0000000000000000"  # does not match k2
    with pytest.raises(VerificationFailed):
        registry.apply(entry(1, ACTOR_KEY_ROTATE, data))
    assert registry.lookup("mod-ua", actor_key_id(raw(k1))).revoked_seq is None
    assert registry.get(actor_key_id(raw(k2))) is None
    assert registry.last_seq == 0


# --- lookup -----------------------------------------------------------------------------------


def test_lookup_unknown_key_id(registry: KeyRegistry, k1: Ed25519PrivateKey) -> None:
    with pytest.raises(UnknownKey, match="never registered for this actor") as excinfo:
        registry.lookup("mod-ua", "0123456789abcdef")
    assert not isinstance(excinfo.value, RevokedKey)
    assert actor_key_id(raw(k1)) in str(excinfo.value)  # names the keys in force


def test_lookup_key_of_another_actor(registry: KeyRegistry, k1: Ed25519PrivateKey) -> None:
    with pytest.raises(UnknownKey, match="of actor 'mfa-ua': got a key id never registered"):
        registry.lookup("mfa-ua", actor_key_id(raw(k1)))


def test_lookup_at_seq(registry: KeyRegistry, k1: Ed25519PrivateKey) -> None:
    key_id = actor_key_id(raw(k1))
    registry.apply(entry(4, ACTOR_KEY_REVOKE, revoke_data("mod-ua", key_id, "lost")))
    with pytest.raises(UnknownKey, match="registered only at entry 0"):
        registry.lookup("mod-ua", key_id, at_seq=0)
    assert registry.lookup("mod-ua", key_id, at_seq=1).key_id == key_id
    assert registry.lookup("mod-ua", key_id, at_seq=3).key_id == key_id
    with pytest.raises(RevokedKey, match="at entry 4"):
        registry.lookup("mod-ua", key_id, at_seq=4)


def test_keys_of(registry: KeyRegistry, k1: Ed25519PrivateKey, k2: Ed25519PrivateKey) -> None:
    registry.apply(entry(1, ACTOR_KEY_REGISTER, register_data("mod-ua", "ministry", raw(k2))))
    assert {k.key_id for k in registry.keys_of("mod-ua")} == {
        actor_key_id(raw(k1)),
        actor_key_id(raw(k2)),
    }
    assert [k.key_id for k in registry.keys_of("mod-ua", at_seq=1)] == [actor_key_id(raw(k1))]
    assert registry.keys_of("nobody") == []


def test_from_entries(k1: Ed25519PrivateKey) -> None:
    reg = KeyRegistry.from_entries(
        [entry(0, ACTOR_KEY_REGISTER, register_data("mod-ua", "ministry", raw(k1)))]
    )
    assert reg.lookup("mod-ua", actor_key_id(raw(k1))).registered_seq == 0


# --- log key history --------------------------------------------------------------------------


def test_log_key_history_without_rotation() -> None:
    history = LogKeyHistory(VKEY_A)
    assert history.current == VKEY_A
    assert history.history == [(VKEY_A, 0)]
    assert history.keys_for_checkpoint(0) == {VKEY_A}
    assert history.keys_for_checkpoint(1000) == {VKEY_A}


def test_log_key_rotation_needs_both_keys_on_the_covering_checkpoint() -> None:
    history = LogKeyHistory(VKEY_A)
    for seq in range(3):
        history.apply(entry(seq, "submit", {}, case_id="UA-1"))
    history.apply(entry(3, LOG_KEY_ROTATE, log_key_rotate_data(VKEY_A, VKEY_B)))
    assert history.current == VKEY_B
    assert history.history == [(VKEY_A, 0), (VKEY_B, 4)]
    assert history.keys_for_checkpoint(3) == {VKEY_A}
    assert history.keys_for_checkpoint(4) == {VKEY_A, VKEY_B}
    assert history.keys_for_checkpoint(5) == {VKEY_B}


def test_back_to_back_log_key_rotations() -> None:
    history = LogKeyHistory(VKEY_A)
    history.apply(entry(0, LOG_KEY_ROTATE, log_key_rotate_data(VKEY_A, VKEY_B)))
    history.apply(entry(1, LOG_KEY_ROTATE, log_key_rotate_data(VKEY_B, VKEY_C)))
    assert history.keys_for_checkpoint(0) == {VKEY_A}
    assert history.keys_for_checkpoint(1) == {VKEY_A, VKEY_B}
    assert history.keys_for_checkpoint(2) == {VKEY_B, VKEY_C}
    assert history.keys_for_checkpoint(3) == {VKEY_C}


def test_log_key_rotation_must_start_from_current_key() -> None:
    history = LogKeyHistory(VKEY_A)
    with pytest.raises(
        VerificationFailed, match=re.escape(f"got {VKEY_C!r}, want the current key {VKEY_A!r}")
    ) as exc:
        history.apply(entry(0, LOG_KEY_ROTATE, log_key_rotate_data(VKEY_C, VKEY_B)))
    assert (exc.value.check, exc.value.seq) == ("log-key-history", 0)
    assert history.current == VKEY_A


def test_log_key_rotation_must_not_reuse_a_key() -> None:
    history = LogKeyHistory(VKEY_A)
    history.apply(entry(0, LOG_KEY_ROTATE, log_key_rotate_data(VKEY_A, VKEY_B)))
    with pytest.raises(VerificationFailed, match="was in use before"):
        history.apply(entry(1, LOG_KEY_ROTATE, log_key_rotate_data(VKEY_B, VKEY_A)))


def test_log_key_rotation_data_is_strict() -> None:
    history = LogKeyHistory(VKEY_A)
    with pytest.raises(VerificationFailed, match="data fields"):
        history.apply(entry(0, LOG_KEY_ROTATE, {"old_vkey": VKEY_A}))
    with pytest.raises(VerificationFailed, match="new_vkey equals old_vkey"):
        history.apply(entry(0, LOG_KEY_ROTATE, {"old_vkey": VKEY_A, "new_vkey": VKEY_A}))
    with pytest.raises(VerificationFailed, match="log-level event"):
        history.apply(entry(0, LOG_KEY_ROTATE, log_key_rotate_data(VKEY_A, VKEY_B), "UA-1"))


def test_log_key_history_order_and_size() -> None:
    history = LogKeyHistory(VKEY_A)
    history.apply(entry(2, "submit", {}, case_id="UA-1"))
    with pytest.raises(VerificationFailed, match="got seq 1, want more than 2"):
        history.apply(entry(1, LOG_KEY_ROTATE, log_key_rotate_data(VKEY_A, VKEY_B)))
    with pytest.raises(MalformedInput, match="tree size: got -1"):
        history.keys_for_checkpoint(-1)
