"""RFC 8785 (JCS) canonical bytes of an entry body, and the 65,535-byte limit.

:func:`canonicalize` is the only way the ledger turns a JSON value into bytes. It has a fast
path: for the values ledger entries actually hold (objects, arrays, strings, booleans, null and
integers of magnitude at most 2**53 - 1) ``json.dumps`` with sorted keys, no whitespace and no ASCII
escaping produces exactly the RFC 8785 bytes, *provided* no object key contains a character at
or above U+D800 (RFC 8785 §3.2.3 sorts keys by UTF-16 code units, Python by code points, and the
two orders differ only there). Anything else — floats, big integers, such keys, lone
surrogates — goes through the reference ``rfc8785`` package. ``tests/property/test_canonical.py``
proves the fast path byte-identical to ``rfc8785.dumps`` on generated values.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from ledger.errors import EntryTooLarge, MalformedInput

#: Largest entry body the tlog-tiles entry bundle format can carry (uint16 length prefix).
MAX_ENTRY_BYTES = 65_535

_MAX_SAFE_INT = 2**53 - 1  # the I-JSON range rfc8785 accepts
_encoder = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
)


def _fast_path_ok(value: Any) -> bool:
    """True when ``json.dumps`` is known to produce the RFC 8785 bytes of ``value``."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is int:
            if -_MAX_SAFE_INT <= item <= _MAX_SAFE_INT:
                continue
            return False
        if kind is dict:
            for key, child in item.items():
                if type(key) is not str or (key and max(key) >= "\ud800"):
                    return False
                stack.append(child)
            continue
        if kind is list:
            stack.extend(item)
            continue
        return False
    return True


def canonicalize(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value``.

    Raises :class:`MalformedInput` for values JSON cannot carry (NaN, lone surrogates, other
    types).
    """
    try:
        if _fast_path_ok(value):
            return _encoder.encode(value).encode("utf-8")
        return rfc8785.dumps(value)
    except (TypeError, ValueError, UnicodeEncodeError, rfc8785.CanonicalizationError) as exc:
        raise MalformedInput(f"value is not canonical JSON: {exc}") from exc


def canonicalize_reference(value: Any) -> bytes:
    """The reference RFC 8785 bytes from the ``rfc8785`` package (no fast path)."""
    try:
        return rfc8785.dumps(value)
    except (TypeError, ValueError, UnicodeEncodeError, rfc8785.CanonicalizationError) as exc:
        raise MalformedInput(f"value is not canonical JSON: {exc}") from exc


def check_entry_size(body: bytes) -> None:
    """Refuse a body longer than :data:`MAX_ENTRY_BYTES` (the tlog-tiles bundle limit)."""
    if len(body) > MAX_ENTRY_BYTES:
        raise EntryTooLarge(
            f"entry body is {len(body)} bytes, the limit is {MAX_ENTRY_BYTES} "
            "(reference large documents by their SHA-256 instead of embedding them)"
        )
