"""Actor statements: signed findings and decisions that go into the ledger verbatim.

A signed statement, as an entry's ``statement`` field carries it, is the JSON object::

    {"statement": {...}, "signature": "<standard base64 of the 64-byte Ed25519 signature>"}

and the inner statement object has exactly these fields::

    {
      "v": 1,                                  format version
      "issuer": "mod-ua",                      actor id
      "key_id": "<16 lowercase hex>",          actor_key_id(public key)
      "case_id": "UA-2026-0193",
      "step": "review.defence",                the event the statement is for
      "finding": {...},                        any JSON object
      "nonce": "<base64url, no padding>",      16 to 64 random bytes
      "time": "2026-11-25T18:42:39.123456Z",   RFC 3339 UTC, when it was signed
      "expiry": "2026-11-25T19:42:39.123456Z"  RFC 3339 UTC, after ``time``
    }

The signature is over ``b"dozvil-statement-v1\\n" || RFC8785(inner statement)``, so it holds
whatever spelling of the object travels, as long as its canonical bytes are the same.

:func:`verify_statement` runs these checks in this order and stops at the first failure,
raising :class:`~ledger.errors.StatementRejected` with that reason:

1. ``malformed``      the object does not parse (:func:`parse_statement`).
2. ``unknown-key``    the key id was never registered for the issuer (or not yet, at ``at_seq``).
3. ``revoked-key``    the key is registered for the issuer but revoked or rotated away.
4. ``bad-signature``  the signature does not verify with that key.
5. ``expired``        ``at`` is after ``expiry``.
6. ``not-yet-valid``  ``time`` is after ``at`` plus :data:`CLOCK_SKEW`.
7. ``wrong-case``     the statement is for another case.
8. ``wrong-step``     the statement is for another step.
9. ``wrong-issuer``   the issuer is not the expected one (only when ``issuer=`` is given).
10. ``replayed-nonce`` ``seen_nonce(issuer, nonce)`` is true. Asked last, so the nonce store is
    consulted only for statements that are otherwise acceptable; recording the nonce is the
    caller's job, once the statement is accepted.

Every message names the check (as the reason) and both sides: what the statement has and what
was wanted.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.canonical import canonicalize
from ledger.encoding import decode_base64
from ledger.entry import check_name, format_time, parse_time
from ledger.errors import MalformedInput, StatementRejected, UnknownKey
from ledger.keys import (
    ActorKey,
    KeyRegistry,
    RevokedKey,
    actor_key_id,
    check_key_id,
    raw_public_key,
)

__all__ = [
    "CLOCK_SKEW",
    "DEFAULT_TTL",
    "STATEMENT_DOMAIN",
    "STATEMENT_VERSION",
    "Statement",
    "actor_key_id",
    "parse_statement",
    "sign_statement",
    "statement_message",
    "verify_statement",
]

STATEMENT_VERSION = 1
STATEMENT_DOMAIN = b"dozvil-statement-v1\n"
#: How far a statement's ``time`` may lie ahead of the verifier's clock.
CLOCK_SKEW = timedelta(minutes=5)
#: The validity of a statement signed without ``ttl`` or ``expiry``.
DEFAULT_TTL = timedelta(hours=1)
NONCE_BYTES = 16
MAX_NONCE_BYTES = 64
SIGNATURE_SIZE = 64

_SIGNED_FIELDS = frozenset({"statement", "signature"})
_FIELDS = frozenset(
    {"v", "issuer", "key_id", "case_id", "step", "finding", "nonce", "time", "expiry"}
)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Statement:
    """A parsed signed statement.

    ``body`` is the inner statement object as received, ``message`` the exact bytes the
    signature is over (:func:`statement_message` of ``body``).
    """

    issuer: str
    key_id: str
    case_id: str
    step: str
    finding: dict[str, Any]
    nonce: str
    time: datetime
    expiry: datetime
    signature: bytes
    body: dict[str, Any]
    message: bytes


def statement_message(body: dict[str, Any]) -> bytes:
    """The signed message: ``b"dozvil-statement-v1\\n" || RFC8785(body)``."""
    return STATEMENT_DOMAIN + canonicalize(body)


# --- signing -----------------------------------------------------------------------------------


def new_nonce() -> str:
    """:data:`NONCE_BYTES` random bytes from :mod:`secrets`, base64url without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(NONCE_BYTES)).rstrip(b"=").decode()


def sign_statement(
    private_key: Ed25519PrivateKey,
    *,
    issuer: str,
    case_id: str,
    step: str,
    finding: dict[str, Any],
    time: datetime,
    ttl: timedelta | None = None,
    expiry: datetime | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """Sign a statement and return it in its carried form ``{"statement", "signature"}``.

    The expiry is ``expiry`` if given, else ``time + ttl`` (``ttl`` defaults to
    :data:`DEFAULT_TTL`); giving both is an error. The nonce is fresh unless given. The
    finding is copied in its canonical form, so later changes to the caller's object do not
    break the signature. Raises :class:`MalformedInput` for anything :func:`parse_statement`
    would refuse.
    """
    body = {
        "v": STATEMENT_VERSION,
        "issuer": issuer,
        "key_id": actor_key_id(raw_public_key(private_key.public_key())),
        "case_id": case_id,
        "step": step,
        "finding": json.loads(canonicalize(finding)),
        "nonce": new_nonce() if nonce is None else nonce,
        "time": format_time(time),
        "expiry": format_time(_expiry(time, ttl, expiry)),
    }
    signature = private_key.sign(statement_message(body))
    signed = {"statement": body, "signature": base64.b64encode(signature).decode("ascii")}
    _parse(signed)
    return signed


def _expiry(time: datetime, ttl: timedelta | None, expiry: datetime | None) -> datetime:
    if ttl is not None and expiry is not None:
        raise MalformedInput("give a statement either ttl or expiry, not both")
    if expiry is not None:
        return expiry
    ttl = DEFAULT_TTL if ttl is None else ttl
    if ttl <= timedelta(0):
        raise MalformedInput(f"statement ttl: got {ttl}, want a positive duration")
    return time + ttl


# --- parsing -----------------------------------------------------------------------------------


def parse_statement(obj: object) -> Statement:
    """Parse a signed statement strictly: exact fields, types and version.

    Raises ``StatementRejected("malformed", ...)`` naming the first problem. Does not check
    the signature, the key or the times against a clock: that is :func:`verify_statement`.
    """
    try:
        return _parse(obj)
    except MalformedInput as exc:
        raise StatementRejected("malformed", str(exc)) from exc


def _parse(obj: object) -> Statement:
    """:func:`parse_statement`, raising :class:`MalformedInput`."""
    signed = _exact_object("signed statement", obj, _SIGNED_FIELDS)
    body = _exact_object("statement", signed["statement"], _FIELDS)
    version = body["v"]
    if type(version) is not int or version != STATEMENT_VERSION:
        raise MalformedInput(f"statement v: got {version!r}, want {STATEMENT_VERSION}")
    finding = body["finding"]
    if not isinstance(finding, dict):
        raise MalformedInput(f"statement finding: got {type(finding).__name__}, want an object")
    time, expiry = _parse_times(body)
    return Statement(
        issuer=check_name("statement issuer", body["issuer"]),
        key_id=check_key_id(body["key_id"]),
        case_id=check_name("statement case_id", body["case_id"]),
        step=check_name("statement step", body["step"]),
        finding=finding,
        nonce=_check_nonce(body["nonce"]),
        time=time,
        expiry=expiry,
        signature=_decode_signature(signed["signature"]),
        body=body,
        message=statement_message(body),
    )


def _exact_object(name: str, obj: object, fields: frozenset[str]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise MalformedInput(f"{name}: got {type(obj).__name__}, want an object")
    if obj.keys() != fields:
        missing = sorted(fields - obj.keys())
        extra = sorted(obj.keys() - fields)
        raise MalformedInput(f"{name} fields: missing {missing}, unexpected {extra}")
    return obj


def _parse_times(body: dict[str, Any]) -> tuple[datetime, datetime]:
    time = parse_time(body["time"])
    expiry = parse_time(body["expiry"])
    if expiry <= time:
        raise MalformedInput(
            f"statement expiry: got {body['expiry']}, want after its time {body['time']}"
        )
    return time, expiry


def _check_nonce(value: object) -> str:
    """Base64url without padding, canonical, of 16 to 64 bytes."""
    if not isinstance(value, str) or not _BASE64URL.fullmatch(value):
        raise MalformedInput(f"statement nonce: got {value!r}, want base64url without padding")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(f"statement nonce {value!r} is not base64url: {exc}") from exc
    if not NONCE_BYTES <= len(raw) <= MAX_NONCE_BYTES:
        raise MalformedInput(
            f"statement nonce: got {len(raw)} bytes, want {NONCE_BYTES} to {MAX_NONCE_BYTES}"
        )
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != value:
        raise MalformedInput(f"statement nonce {value!r} is not in canonical base64url form")
    return value


def _decode_signature(value: object) -> bytes:
    """Standard base64 (canonical, with padding) of a 64-byte Ed25519 signature."""
    return decode_base64(value, "signature", size=SIGNATURE_SIZE)


# --- verification ------------------------------------------------------------------------------


def verify_statement(
    signed: dict[str, Any],
    registry: KeyRegistry,
    *,
    case_id: str,
    step: str,
    at: datetime,
    seen_nonce: Callable[[str, str], bool],
    issuer: str | None = None,
    at_seq: int | None = None,
) -> Statement:
    """Accept a signed statement or raise :class:`StatementRejected` (checks in module doc).

    ``at`` is the verifier's time (time zone required). ``at_seq``, when given, is the entry
    that carries the statement: the key must be in force at that entry (see :mod:`ledger.keys`);
    without it the registry's current state decides. ``issuer``, when given, is the actor the
    statement must come from.
    """
    if at.tzinfo is None:
        raise MalformedInput("verification time `at` must carry a time zone")
    statement = parse_statement(signed)
    key = _lookup(registry, statement, at_seq)
    _check_signature(statement, key)
    _check_times(statement, at)
    _check_equal("wrong-case", "case_id", statement.case_id, case_id)
    _check_equal("wrong-step", "step", statement.step, step)
    if issuer is not None:
        _check_equal("wrong-issuer", "issuer", statement.issuer, issuer)
    if seen_nonce(statement.issuer, statement.nonce):
        raise StatementRejected(
            "replayed-nonce",
            f"nonce {statement.nonce} of issuer {statement.issuer!r}: got a nonce seen before, "
            "want a fresh one",
        )
    return statement


def _lookup(registry: KeyRegistry, statement: Statement, at_seq: int | None) -> ActorKey:
    """Checks 2 and 3: the key is registered for the issuer and in force."""
    try:
        return registry.lookup(statement.issuer, statement.key_id, at_seq=at_seq)
    except RevokedKey as exc:
        raise StatementRejected("revoked-key", str(exc)) from exc
    except UnknownKey as exc:
        raise StatementRejected("unknown-key", str(exc)) from exc


def _check_signature(statement: Statement, key: ActorKey) -> None:
    """Check 4: the Ed25519 signature over the domain-separated canonical bytes."""
    try:
        key.verifier().verify(statement.signature, statement.message)
    except (InvalidSignature, ValueError) as exc:
        shown = base64.b64encode(statement.signature).decode("ascii")
        raise StatementRejected(
            "bad-signature",
            f"got signature {shown[:16]}… that does not verify, want a signature by key "
            f"{key.key_id} of issuer {statement.issuer!r} over this statement",
        ) from exc


def _check_times(statement: Statement, at: datetime) -> None:
    """Checks 5 and 6: not expired, not from the future (beyond the clock skew)."""
    if at > statement.expiry:
        raise StatementRejected(
            "expired",
            f"got verification time {format_time(at)}, want at or before the statement's "
            f"expiry {format_time(statement.expiry)}",
        )
    if statement.time > at + CLOCK_SKEW:
        raise StatementRejected(
            "not-yet-valid",
            f"got statement time {format_time(statement.time)}, want at or before "
            f"{format_time(at + CLOCK_SKEW)} (verification time plus {CLOCK_SKEW} clock skew)",
        )


def _check_equal(reason: str, name: str, got: str, want: str) -> None:
    """Checks 7 to 9: the statement is for this case, this step, this issuer."""
    if got != want:
        raise StatementRejected(reason, f"statement {name}: got {got!r}, want {want!r}")
