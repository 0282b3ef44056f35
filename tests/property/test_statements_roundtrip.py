"""Property: signed statements verify after a trip through an entry, and no alteration does."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger.canonical import canonicalize
from ledger.entry import Actor, build_body, parse_entry
from ledger.errors import StatementRejected
from ledger.keys import ACTOR_KEY_REGISTER, KeyRegistry, register_data
from ledger.statements import sign_statement, verify_statement

KEY = Ed25519PrivateKey.generate()
T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
AT = T0 + timedelta(minutes=1)
CASE = "UA-2026-0193"
STEP = "review.security"


def _registry() -> KeyRegistry:
    raw = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    body = build_body(
        seq=0,
        prev=bytes(32),
        case_prev=None,
        time="2026-03-01T09:00:00.000000Z",
        case_id=None,
        event=ACTOR_KEY_REGISTER,
        from_state=None,
        to_state=None,
        actor=Actor("registrar-1", "key_admin"),
        statement=None,
        idempotency_key="keys/0",
        commitments={},
        data=register_data("sbu", "security_service", raw),
    )
    return KeyRegistry.from_entries([parse_entry(body)])


REGISTRY = _registry()

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    # Integral floats from 2**53 on read back as integers that RFC 8785 cannot carry;
    # sign_statement refuses them (see test_statements.py), so they are left out here.
    | st.floats(min_value=-(2.0**53 - 1), max_value=2.0**53 - 1)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
findings = st.dictionaries(st.text(max_size=12), json_values, max_size=6)


def _sign(finding: dict[str, Any]) -> dict[str, Any]:
    return sign_statement(KEY, issuer="sbu", case_id=CASE, step=STEP, finding=finding, time=T0)


def _verify(signed: dict[str, Any]) -> None:
    verify_statement(
        signed, REGISTRY, case_id=CASE, step=STEP, at=AT, seen_nonce=lambda issuer, nonce: False
    )


def _through_entry(signed: dict[str, Any]) -> dict[str, Any]:
    """The statement as an auditor reads it back from a stored entry body."""
    body = build_body(
        seq=1,
        prev=bytes(32),
        case_prev=None,
        time="2026-03-02T10:00:30.000000Z",
        case_id=CASE,
        event=STEP,
        from_state="review",
        to_state="review",
        actor=Actor("sbu", "security_service"),
        statement=signed,
        idempotency_key=f"{CASE}/1",
        commitments={},
        data={},
    )
    statement = parse_entry(body).statement
    assert statement is not None
    return statement


@settings(deadline=None)
@given(finding=findings)
def test_sign_verify_round_trip(finding: dict[str, Any]) -> None:
    signed = _sign(finding)
    _verify(signed)
    _verify(_through_entry(signed))


@settings(deadline=None)
@given(finding=findings, other=findings)
def test_altered_finding_is_rejected(finding: dict[str, Any], other: dict[str, Any]) -> None:
    assume(canonicalize(finding) != canonicalize(other))
    signed = copy.deepcopy(_sign(finding))
    signed["statement"]["finding"] = other
    try:
        _verify(signed)
    except StatementRejected as exc:
        assert exc.reason == "bad-signature"
    else:
        raise AssertionError("an altered finding was accepted")


_ALTERATIONS: dict[str, Any] = {
    "v": st.sampled_from([0, 2, "1", True, None]),
    "issuer": st.sampled_from(["mod-ua", "sbu2", "", None]),
    "key_id": st.text(alphabet="0123456789abcdef", min_size=16, max_size=16),
    "case_id": st.sampled_from(["UA-2026-0194", "ua-2026-0193", "x"]),
    "step": st.sampled_from(["review.defence", "decide", "review.security "]),
    "nonce": st.binary(min_size=16, max_size=24).map(
        lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    ),
    "time": st.sampled_from(["2026-03-02T10:00:00.000001Z", "2026-03-02T09:59:00Z"]),
    "expiry": st.sampled_from(["2026-03-02T11:00:00.000001Z", "2026-03-02T10:30:00Z"]),
}


@settings(deadline=None)
@given(finding=findings, field=st.sampled_from(sorted(_ALTERATIONS)), data=st.data())
def test_any_altered_field_is_rejected(finding: dict[str, Any], field: str, data: Any) -> None:
    signed = copy.deepcopy(_sign(finding))
    value = data.draw(_ALTERATIONS[field])
    assume(canonicalize(value) != canonicalize(signed["statement"][field]))
    signed["statement"][field] = value
    try:
        _verify(signed)
    except StatementRejected:
        return
    raise AssertionError(f"a statement with {field} altered to {value!r} was accepted")


@settings(deadline=None)
@given(finding=findings, position=st.integers(min_value=0, max_value=511))
def test_any_flipped_signature_bit_is_rejected(finding: dict[str, Any], position: int) -> None:
    signed = _sign(finding)
    signature = bytearray(base64.b64decode(signed["signature"]))
    signature[position // 8] ^= 1 << (position % 8)
    signed["signature"] = base64.b64encode(bytes(signature)).decode()
    try:
        _verify(signed)
    except StatementRejected as exc:
        assert exc.reason == "bad-signature"
    else:
        raise AssertionError(f"a signature with bit {position} flipped was accepted")
