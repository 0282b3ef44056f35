"""RFC 8785 (JCS) canonical bytes of an entry body, and the 65,535-byte limit.

:func:`canonicalize` is the only way the ledger turns a JSON value into bytes. It has a fast
path: for the values ledger entries actually hold (objects, arrays, strings, booleans, null and
integers of magnitude at most 2**53 - 1) ``json.dumps`` with sorted keys, no whitespace and no ASCII
escaping produces exactly the RFC 8785 bytes, *provided* no object key contains a character at
or above U+D800 (RFC 8785 §3.2.3 sorts keys by UTF-16 code units, Python by code points, and the
two orders differ only there). Anything else — floats, big integers, such keys, lone
surrogates — goes through the reference ``rfc8785`` package. ``tests/property/test_canonical.py``
proves the fast path byte-identical to ``rfc8785.dumps`` on generated values.

:func:`loads` parses JSON exactly as ``json.loads`` and also tells whether the parsed value is
known to take that fast path (no float, no big integer, no character at or above U+D800), which
lets :func:`is_canonical` skip the walk over the value.
"""

from __future__ import annotations

import json
import json.encoder
import re
from collections.abc import Callable
from typing import Any

import rfc8785

from ledger.errors import EntryTooLarge, MalformedInput

#: Largest entry body the tlog-tiles entry bundle format can carry (uint16 length prefix).
MAX_ENTRY_BYTES = 65_535

_MAX_SAFE_INT = 2**53 - 1  # the I-JSON range rfc8785 accepts
_encoder = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
)
# The C encoder behind ``_encoder.encode``, built once. It has no circular-reference markers:
# it only ever sees values whose walk in ``_fast_path_ok`` ended, so values without cycles.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_encode = (
    _c_make_encoder(None, _encoder.default, json.encoder.encode_basestring, None, ":", ",",
                    True, False, False)
    if _c_make_encoder is not None
    else None
)  # fmt: skip
_HIGH_CHAR = re.compile("[\ud800-\U0010ffff]")


def _fast_path_ok(value: Any) -> bool:
    """True when ``json.dumps`` is known to produce the RFC 8785 bytes of ``value``."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return bool(-_MAX_SAFE_INT <= value <= _MAX_SAFE_INT)
    if kind is not dict and kind is not list:
        return False
    stack = [value]
    pop, push = stack.pop, stack.append
    keys: list[str] = []
    while stack:
        item = pop()
        if type(item) is dict:
            for key in item:
                if type(key) is not str:
                    return False
            keys.append("".join(item))
            item = item.values()
        for child in item:
            kind = type(child)
            if kind is str or child is None or kind is bool:
                continue
            if kind is int:
                if -_MAX_SAFE_INT <= child <= _MAX_SAFE_INT:
                    continue
                return False
            if kind is dict or kind is list:
                push(child)
                continue
            return False
    text = "".join(keys)
    return text.isascii() or _HIGH_CHAR.search(text) is None


def _encode(value: Any) -> bytes:
    """``json.dumps`` bytes of a value that takes the fast path."""
    if _c_encode is not None:
        return "".join(_c_encode(value, 0)).encode("utf-8")
    return _encoder.encode(value).encode("utf-8")


def canonicalize(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value``.

    Raises :class:`MalformedInput` for values JSON cannot carry (NaN, lone surrogates, other
    types).
    """
    return canonicalize_fast(value)[0]


def canonicalize_fast(value: Any) -> tuple[bytes, bool]:
    """:func:`canonicalize`, and whether it took the fast path — then ``json.loads`` of the
    bytes gives back a value equal to ``value`` (the reference path may not: ``1.0`` is
    written ``1``)."""
    try:
        if _fast_path_ok(value):
            return _encode(value), True
        return rfc8785.dumps(value), False
    except (TypeError, ValueError, UnicodeEncodeError, rfc8785.CanonicalizationError) as exc:
        raise MalformedInput(f"value is not canonical JSON: {exc}") from exc
    except RecursionError as exc:
        raise MalformedInput("value is not canonical JSON: nested too deeply") from exc


class _NotFast(Exception):
    """Raised inside a fast parse when a number leaves the fast path."""


def _parse_int(text: str) -> int:
    value = int(text)
    if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
        return value
    raise _NotFast


def _parse_other(text: str) -> Any:
    raise _NotFast


# Parsers that give up (``_NotFast``) on a float, NaN or an infinity; the first also on an
# integer beyond ±(2**53 - 1), the second is for texts without a run of 16 digits (so without
# such an integer) and leaves integers to the C scanner.
_checked_decoder = json.JSONDecoder(
    parse_float=_parse_other, parse_int=_parse_int, parse_constant=_parse_other
)
_plain_decoder = json.JSONDecoder(parse_float=_parse_other, parse_constant=_parse_other)
# Their C scanners (what ``JSONDecoder.decode`` runs once it has skipped whitespace).
_Scanner = Callable[[str, int], tuple[Any, int]]
_checked_scan: _Scanner = _checked_decoder.scan_once  # type: ignore[attr-defined]
_plain_scan: _Scanner = _plain_decoder.scan_once  # type: ignore[attr-defined]
# Classes of bytes: "1" for an ASCII digit; "2" for NUL (``json.loads`` would guess UTF-16 or
# UTF-32) and for ED-FF (lead bytes of U+D000 and above, and bytes no UTF-8 text holds); "3" for
# a backslash; "0" for the rest. A UTF-8 text without a "2" byte holds no character at or above
# U+D800 unless a ``\u`` escape spells one, and a text without a "3" byte has no escape at all.
_BYTE_CLASSES = bytes(
    ord("1")
    if 0x30 <= b <= 0x39
    else ord("2")
    if b == 0 or b >= 0xED
    else ord("3")
    if b == 0x5C
    else ord("0")
    for b in range(256)
)
_SIXTEEN_DIGITS = b"1" * 16  # 2**53 has 16 digits


def loads(data: bytes) -> tuple[Any, str | None]:
    """``json.loads(data)`` and, when :func:`canonicalize` of the result takes the fast path,
    the text the value was parsed from (else None). Integer literals beyond ±(2**53 - 1) are
    read as floats, the doubles RFC 8785 serialised them from.

    Raises exactly what ``json.loads`` raises. The text is given only when the value is known to
    hold no float, no integer beyond ±(2**53 - 1) and no character at or above U+D800.
    """
    if type(data) is bytes:
        classes = data.translate(_BYTE_CLASSES)
        # (``in`` of one byte is a memchr; the two-byte search only runs on a text with escapes)
        if b"2" not in classes and (b"3" not in classes or b"\\u" not in data):
            scan = _checked_scan if _SIXTEEN_DIGITS in classes else _plain_scan
            try:
                text = data.decode("utf-8")
                # The C scanner alone: a value that spans the whole text, with no whitespace
                # around it (else json.loads decides).
                value, end = scan(text, 0)
                if end == len(text):
                    return value, text
            except (_NotFast, ValueError, StopIteration):
                pass  # json.loads decides (and raises the very same errors)
    return json.loads(data, parse_int=_parse_int_as_number), None


def _parse_int_as_number(text: str) -> int | float:
    """An integer literal beyond ±(2**53 - 1) is the number RFC 8785 wrote it for: a double
    (JCS writes 1e16 as ``10000000000000000``), so it must read back as one."""
    value = int(text)
    return value if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT else float(text)


def is_canonical(value: Any, data: bytes, text: str | None) -> bool:
    """``canonicalize(value) == data`` for ``value, text = loads(data)``.

    Raises :class:`MalformedInput` where :func:`canonicalize` does.
    """
    if text is None:
        return canonicalize(value) == data
    if _c_encode is None:
        return _encode(value) == data
    # ``text`` is ``data`` decoded as strict UTF-8 (no surrogates), so comparing the texts is
    # comparing their UTF-8 bytes.
    return "".join(_c_encode(value, 0)) == text


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
