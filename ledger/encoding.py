"""Strict base64 for the values entries and statements carry (RFC 4648 §4).

Only the canonical spelling is accepted (padding present, padding bits zero), so each value has
exactly one encoding and a changed character never decodes to the same bytes.
"""

from __future__ import annotations

import base64
import binascii

from ledger.errors import MalformedInput


def encode_base64(raw: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(raw).decode("ascii")


def decode_base64(value: object, what: str, *, size: int | None = None) -> bytes:
    """Inverse of :func:`encode_base64`; refuses non-strings, other alphabets, non-canonical
    spellings and (with ``size``) any other length. Messages name ``what``."""
    if not isinstance(value, str):
        raise MalformedInput(f"{what}: got {type(value).__name__}, want a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(f"{what} {value!r} is not standard base64: {exc}") from exc
    if size is not None and len(raw) != size:
        raise MalformedInput(f"{what}: got {len(raw)} bytes, want {size}")
    if encode_base64(raw) != value:
        raise MalformedInput(f"{what} {value!r} is not in canonical base64 form")
    return raw
