"""Salted hash commitments of confidential fields (see "Confidentiality" in the design brief).

An entry carries ``"commitments": {"end_user": "<64 hex>", ...}`` instead of the confidential
values. The commitment to a JSON value under a 32-byte random salt is::

    SHA-256(b"dozvil-commitment-v1\\n" || salt || RFC8785(value))

as 64 lowercase hex digits. The salt is fixed-length, so the concatenation is unambiguous; it
is random and secret, so a commitment to a guessable value (a country, a quantity) does not
reveal it. The pair ``(salt, value)`` is the *opening*; openings live in the case store and go
only to those cleared for them, never into an entry. The JSON form of an opening is
``{"salt": "<standard base64>", "value": <the value>}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from ledger.canonical import canonicalize
from ledger.encoding import decode_base64
from ledger.entry import check_name
from ledger.errors import MalformedInput, VerificationFailed

COMMITMENT_DOMAIN = b"dozvil-commitment-v1\n"
SALT_SIZE = 32
CHECK = "commitment-opening"

_HEX_HASH = re.compile(r"[0-9a-f]{64}")
_OPENING_FIELDS = frozenset({"salt", "value"})


@dataclass(frozen=True)
class Opening:
    """The salt and the value that open a commitment."""

    salt: bytes
    value: Any

    def to_json(self) -> dict[str, Any]:
        """``{"salt": standard base64, "value": value}``."""
        return {"salt": base64.b64encode(self.salt).decode("ascii"), "value": self.value}

    @classmethod
    def from_json(cls, obj: object) -> Opening:
        """Parse :meth:`to_json` output strictly; raises :class:`MalformedInput`."""
        if not isinstance(obj, dict) or obj.keys() != _OPENING_FIELDS:
            got = sorted(obj.keys()) if isinstance(obj, dict) else type(obj).__name__
            raise MalformedInput(
                f"opening: got {got}, want an object with {sorted(_OPENING_FIELDS)}"
            )
        return cls(salt=_decode_salt(obj["salt"]), value=obj["value"])


def commit(value: Any, salt: bytes) -> str:
    """The commitment (64 lowercase hex) to the JSON ``value`` under a 32-byte ``salt``.

    Raises :class:`MalformedInput` for a salt of the wrong size or a value JSON cannot carry.
    """
    _check_salt(salt)
    digest = hashlib.sha256(COMMITMENT_DOMAIN + salt + canonicalize(value))
    return digest.hexdigest()


def new_opening(value: Any) -> Opening:
    """An opening of ``value`` with a fresh random salt from :mod:`secrets`."""
    canonicalize(value)  # refuse a value that cannot be committed to, now rather than later
    return Opening(salt=secrets.token_bytes(SALT_SIZE), value=value)


def commit_fields(fields: dict[str, Any]) -> tuple[dict[str, str], dict[str, Opening]]:
    """Commit to each field under its own fresh salt.

    Returns ``(commitments, openings)``: the first goes into the entry's ``commitments``, the
    second into the case store. Field names must be valid names (:func:`ledger.entry.check_name`).
    """
    openings = {check_name("commitment field", name): new_opening(v) for name, v in fields.items()}
    commitments = {name: commit(o.value, o.salt) for name, o in openings.items()}
    return commitments, openings


def check_opening(commitment_hex: str, opening: Opening, *, field: str | None = None) -> None:
    """Raise ``VerificationFailed(check="commitment-opening")`` unless ``opening`` opens it.

    The message names the field (when given), the hash the opening yields and the committed
    hash. A commitment that is not 64 lowercase hex digits, or an opening whose salt or value
    is unusable, fails the check too (fail closed).
    """
    label = f"field {field!r}: " if field is not None else ""
    if not isinstance(commitment_hex, str) or not _HEX_HASH.fullmatch(commitment_hex):
        raise VerificationFailed(
            CHECK, f"{label}commitment: got {commitment_hex!r}, want 64 lowercase hex digits"
        )
    try:
        got = commit(opening.value, opening.salt)
    except MalformedInput as exc:
        raise VerificationFailed(CHECK, f"{label}opening is unusable: {exc}") from exc
    if not hmac.compare_digest(got, commitment_hex):
        raise VerificationFailed(
            CHECK, f"{label}opening does not match: got {got}, want {commitment_hex}"
        )


def _check_salt(salt: object) -> None:
    if not isinstance(salt, bytes) or len(salt) != SALT_SIZE:
        got = f"{len(salt)} bytes" if isinstance(salt, bytes) else type(salt).__name__
        raise MalformedInput(f"commitment salt: got {got}, want {SALT_SIZE} bytes")


def _decode_salt(text: object) -> bytes:
    """Standard base64 (canonical, with padding) of exactly 32 bytes."""
    salt = decode_base64(text, "opening salt")
    _check_salt(salt)
    return salt
