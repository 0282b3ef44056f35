"""Salted hash commitments of confidential fields."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from ledger.commitments import (
    Opening,
    check_opening,
    commit,
    commit_fields,
    new_opening,
)
from ledger.entry import Actor, build_body, parse_entry
from ledger.errors import MalformedInput, VerificationFailed

SALT = bytes(range(32))


def test_commit_is_domain_separated_sha256_of_salt_and_canonical_value() -> None:
    want = hashlib.sha256(b"dozvil-commitment-v1\n" + SALT + b'{"a":1,"b":[true,null]}')
    assert commit({"b": [True, None], "a": 1}, SALT) == want.hexdigest()


def test_commit_is_64_lowercase_hex() -> None:
    value = commit("Kyiv Armoury LLC", SALT)
    assert len(value) == 64
    assert value == value.lower()
    int(value, 16)


def test_commit_depends_on_salt_and_value() -> None:
    other_salt = bytes(31) + b"\x01"
    assert commit("x", SALT) != commit("x", other_salt)
    assert commit("x", SALT) != commit("y", SALT)
    assert commit(1, SALT) != commit("1", SALT)


@pytest.mark.parametrize("salt", [b"", bytes(16), bytes(33)])
def test_commit_refuses_wrong_salt_size(salt: bytes) -> None:
    with pytest.raises(MalformedInput, match=f"got {len(salt)} bytes, want 32 bytes"):
        commit("x", salt)


def test_commit_refuses_non_json_value() -> None:
    with pytest.raises(MalformedInput, match="not canonical JSON"):
        commit(float("nan"), SALT)
    with pytest.raises(MalformedInput, match="not canonical JSON"):
        new_opening({"x": object()})


def test_new_opening_uses_fresh_salts() -> None:
    first, second = new_opening("x"), new_opening("x")
    assert len(first.salt) == 32
    assert first.salt != second.salt
    assert first.value == "x"


def test_opening_json_round_trip() -> None:
    opening = Opening(salt=SALT, value={"name": "Kyiv Armoury LLC", "qty": 40})
    obj = opening.to_json()
    assert obj == {"salt": base64.b64encode(SALT).decode(), "value": opening.value}
    assert Opening.from_json(json.loads(json.dumps(obj))) == opening


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ("text", "got str, want an object"),
        ({"salt": base64.b64encode(SALT).decode()}, r"got \['salt'\]"),
        ({"salt": "AA==", "value": 1, "x": 2}, r"got \['salt', 'value', 'x'\]"),
        ({"salt": 5, "value": 1}, "got int, want a base64 string"),
        ({"salt": "%%%", "value": 1}, "not standard base64"),
        ({"salt": base64.b64encode(bytes(16)).decode(), "value": 1}, "got 16 bytes"),
        ({"salt": base64.b64encode(SALT).decode().rstrip("="), "value": 1}, "base64"),
    ],
)
def test_opening_from_json_is_strict(obj: object, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        Opening.from_json(obj)


def test_commit_fields() -> None:
    fields = {"end_user": {"name": "Armed Forces of X"}, "quantity": 40}
    commitments, openings = commit_fields(fields)
    assert set(commitments) == set(openings) == set(fields)
    for name, opening in openings.items():
        assert opening.value == fields[name]
        check_opening(commitments[name], opening, field=name)
    assert openings["end_user"].salt != openings["quantity"].salt
    assert "Armed Forces" not in json.dumps(commitments)


def test_commit_fields_refuses_bad_names() -> None:
    with pytest.raises(MalformedInput, match="commitment field"):
        commit_fields({"end user": "x"})


def test_check_opening_accepts_the_right_opening() -> None:
    opening = Opening(SALT, "Kyiv Armoury LLC")
    check_opening(commit("Kyiv Armoury LLC", SALT), opening)


def test_check_opening_refuses_another_value() -> None:
    committed = commit("Kyiv Armoury LLC", SALT)
    wrong = Opening(SALT, "Lviv Armoury LLC")
    got = commit("Lviv Armoury LLC", SALT)
    with pytest.raises(
        VerificationFailed, match=f"field 'end_user': .*got {got}, want {committed}"
    ) as excinfo:
        check_opening(committed, wrong, field="end_user")
    assert excinfo.value.check == "commitment-opening"


def test_check_opening_refuses_another_salt() -> None:
    committed = commit("x", SALT)
    with pytest.raises(VerificationFailed, match=f"want {committed}") as excinfo:
        check_opening(committed, Opening(bytes(32), "x"))
    assert excinfo.value.check == "commitment-opening"


def test_check_opening_refuses_malformed_commitment() -> None:
    with pytest.raises(VerificationFailed, match="want 64 lowercase hex digits"):
        check_opening(commit("x", SALT).upper(), Opening(SALT, "x"))


def test_check_opening_refuses_unusable_opening() -> None:
    with pytest.raises(VerificationFailed, match=r"opening is unusable: .*got 3 bytes"):
        check_opening(commit("x", SALT), Opening(b"abc", "x"))


def test_entry_carries_commitments_not_openings() -> None:
    commitments, openings = commit_fields({"end_user": "Kyiv Armoury LLC"})
    body = build_body(
        seq=0,
        prev=bytes(32),
        case_prev=None,
        time="2026-01-05T09:00:00.000000Z",
        case_id="UA-2026-0001",
        event="submit",
        from_state=None,
        to_state="submitted",
        actor=Actor("exporter-7", "applicant"),
        statement=None,
        idempotency_key="UA-2026-0001/0",
        commitments=commitments,
        data={},
    )
    entry = parse_entry(body)
    assert b"Kyiv Armoury" not in body
    assert base64.b64encode(openings["end_user"].salt) not in body
    check_opening(entry.commitments["end_user"], openings["end_user"], field="end_user")
