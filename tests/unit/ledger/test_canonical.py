"""RFC 8785 (JCS) canonical bytes: hand-written cases, and the 65,535-byte entry limit.

The expected bytes are written out by hand from RFC 8785 (§3.2.2 example, §3.2.3 sorting
example), not computed. ``tests/property/test_canonical.py`` covers generated values.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from ledger.canonical import (
    MAX_ENTRY_BYTES,
    canonicalize,
    canonicalize_reference,
    check_entry_size,
)
from ledger.errors import EntryTooLarge, MalformedInput


def exact(message: str) -> str:
    return f"^{re.escape(message)}$"


CASES: list[tuple[Any, bytes]] = [
    (None, b"null"),
    (True, b"true"),
    ([], b"[]"),
    ({}, b"{}"),
    ({"b": 1, "a": [True, False, None]}, b'{"a":[true,false,null],"b":1}'),
    ({"z": {"y": 1, "x": 2}, "a": ""}, b'{"a":"","z":{"x":2,"y":1}}'),
    (2**53 - 1, b"9007199254740991"),
    (-(2**53 - 1), b"-9007199254740991"),
    ("\u20ac\u00e9", '"\u20ac\u00e9"'.encode()),  # UTF-8, never \u-escaped
    ("\U0001f600", b'"\xf0\x9f\x98\x80"'),
    ("\x7f\u2028\u2029/", '"\x7f\u2028\u2029/"'.encode()),  # none of these is escaped
    ("\x00\x01\x1f", b'"\\u0000\\u0001\\u001f"'),  # lower-case hex
    ('\b\t\n\f\r"\\', b'"\\b\\t\\n\\f\\r\\"\\\\"'),
    # RFC 8785 §3.2.2: the example of serialization.
    (
        {
            "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
            "literals": [None, True, False],
        },
        b'{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        b'"string":"\xe2\x82\xac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    ),
    # RFC 8785 §3.2.3: keys sort by UTF-16 code units (the emoji, D83D DE00, before U+FB33).
    (
        {
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\U0001f600": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis",
        },
        (
            '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
            '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
            '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
        ).encode(),
    ),
    (
        {"\ue000": 1, "\U00010000": 2, "\ud7ff": 3},
        '{"\ud7ff":3,"\U00010000":2,"\ue000":1}'.encode(),
    ),
    (
        [-0.0, 1.0, 1e21, 1e20, 1e-6, 1e-7, 5e-324],
        b"[0,1,1e+21,100000000000000000000,0.000001,1e-7,5e-324]",
    ),
]


@pytest.mark.parametrize(("value", "want"), CASES)
def test_canonical_bytes(value: Any, want: bytes) -> None:
    assert canonicalize(value) == want
    assert canonicalize_reference(value) == want


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, "value is not canonical JSON: nan is not representable in JCS"),
        ([math.inf], "value is not canonical JSON: inf is not representable in JCS"),
        (
            {"n": 2**53},
            "value is not canonical JSON: 9007199254740992 exceeds safe integer domain for "
            "JSON floats",
        ),
        (
            [-(2**53)],
            "value is not canonical JSON: -9007199254740992 exceeds safe integer domain for "
            "JSON floats",
        ),
        ({1: "a"}, "value is not canonical JSON: object keys must be strings"),
        (b"bytes", "value is not canonical JSON: unsupported type: <class 'bytes'>"),
        ({"s": {1, 2}}, "value is not canonical JSON: unsupported type: <class 'set'>"),
    ],
)
def test_refused_values(value: Any, message: str) -> None:
    with pytest.raises(MalformedInput, match=exact(message)):
        canonicalize(value)


@pytest.mark.parametrize("value", ["\ud800", ["a\udfff"], {"k": "\udbff"}, {"\ud800": 1}])
def test_lone_surrogates_are_refused(value: Any) -> None:
    with pytest.raises(MalformedInput, match=r"^value is not canonical JSON: .*surrogates"):
        canonicalize(value)


def test_tuples_are_arrays() -> None:
    assert canonicalize({"t": (1, "a")}) == b'{"t":[1,"a"]}'


# --- the 65,535-byte limit --------------------------------------------------------------------


def body_of(size: int) -> bytes:
    """A canonical JSON body of exactly ``size`` bytes."""
    overhead = len(canonicalize({"pad": ""}))
    body = canonicalize({"pad": "x" * (size - overhead)})
    assert len(body) == size
    return body


def test_max_entry_bytes() -> None:
    assert MAX_ENTRY_BYTES == 65_535 == 2**16 - 1


def test_exactly_65535_bytes_is_accepted() -> None:
    check_entry_size(body_of(65_535))
    check_entry_size(b"")


def test_65536_bytes_is_refused() -> None:
    message = (
        "entry body is 65536 bytes, the limit is 65535 "
        "(reference large documents by their SHA-256 instead of embedding them)"
    )
    with pytest.raises(EntryTooLarge, match=exact(message)):
        check_entry_size(body_of(65_536))
    assert issubclass(EntryTooLarge, MalformedInput)


def test_the_limit_counts_utf8_bytes_not_characters() -> None:
    two_byte = canonicalize({"pad": "\u00e9" * 32_764})  # 10 + 2 * 32,764 = 65,538 bytes
    assert len(two_byte.decode()) < 65_535 < len(two_byte)
    with pytest.raises(EntryTooLarge, match=r"^entry body is 65538 bytes"):
        check_entry_size(two_byte)
