"""``ledger.canonical.canonicalize`` is byte-identical to the reference ``rfc8785.dumps``.

``canonicalize`` has a fast path through ``json.dumps`` that it takes only where the two are
known to agree; these properties are the proof. The generated values stress exactly where they
could differ: control characters and escapes, astral characters, and object keys around the
UTF-16 sort-order trap (RFC 8785 §3.2.3 sorts keys by UTF-16 code units, so a key starting with
U+E000..U+FFFF sorts *after* one starting with an astral character, whose first code unit is a
surrogate D800..DBFF, while code-point order puts it before), integers across the whole I-JSON
range ±(2**53 - 1) and beyond, and floats.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.canonical import canonicalize, canonicalize_reference
from ledger.errors import MalformedInput

SAFE = 2**53 - 1

# Any Unicode scalar value: every plane, control characters included, no surrogates.
any_char = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=["Cs"])
trap_char = st.one_of(
    st.characters(min_codepoint=0x00, max_codepoint=0x7F),  # ASCII, controls included
    st.characters(min_codepoint=0xD700, max_codepoint=0xD7FF),  # just below the surrogates
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFF),  # BMP above the surrogates
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),  # astral: surrogate pairs
)
strings = st.one_of(st.text(any_char, max_size=12), st.text(trap_char, max_size=6))
keys = st.one_of(st.text(any_char, max_size=8), st.text(trap_char, max_size=4))
safe_ints = st.one_of(
    st.integers(-SAFE, SAFE),
    st.sampled_from([0, 1, -1, SAFE, -SAFE, SAFE - 1, 2**31, -(2**31), 2**32, 10**15]),
)
floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(st.none(), st.booleans(), safe_ints, floats, strings)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=6))


json_values = st.recursive(scalars, containers, max_leaves=25)
# Values the fast path takes: no floats.
fast_values = st.recursive(
    st.one_of(st.none(), st.booleans(), safe_ints, strings), containers, max_leaves=25
)


@settings(max_examples=120, deadline=None)
@given(json_values)
@example({"\ue000": 1, "\U0001f600": 2})  # UTF-16: D83D DE00 < E000
@example({"\uffff": 0, "\U00010000": 1, "\ud7ff": 2, "a": 3})
@example({"\u20ac": 0, "\r": 1, "\ufb33": 2, "1": 3, "\U0001f600": 4, "\x80": 5, "\xf6": 6})
@example(['\x00\x1f\x7f\u2028\u2029"\\/\b\f\n\r\t'])
@example([SAFE, -SAFE, 0.1, -0.0, 1e21, 1e-7, 5e-324])
def test_canonicalize_is_rfc8785(value: Any) -> None:
    want = rfc8785.dumps(value)
    assert canonicalize(value) == want
    assert canonicalize_reference(value) == want


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(keys, st.integers(-SAFE, SAFE), min_size=2, max_size=12))
def test_keys_sort_by_utf16_code_units(value: dict[str, int]) -> None:
    got = canonicalize(value)
    assert got == rfc8785.dumps(value)
    # The keys come out in UTF-16 order, whatever Python's code-point order says.
    order = sorted(value, key=lambda k: k.encode("utf-16-be"))
    assert got == rfc8785.dumps({k: value[k] for k in order})


@settings(max_examples=60, deadline=None)
@given(fast_values)
def test_fast_path_values_are_rfc8785(value: Any) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


@settings(deadline=None)
@given(st.one_of(st.integers(-SAFE, SAFE), st.integers(), floats))
@example(SAFE)
@example(-SAFE)
@example(SAFE + 1)
@example(-SAFE - 1)
@example(2**64)
@example(10**400)
def test_numbers(number: int | float) -> None:
    if isinstance(number, int) and abs(number) > SAFE:
        with pytest.raises(rfc8785.IntegerDomainError):
            rfc8785.dumps([number])
        with pytest.raises(MalformedInput, match=r"^value is not canonical JSON: .*safe integer"):
            canonicalize([number])
        return
    assert canonicalize({"n": number}) == rfc8785.dumps({"n": number})


# Invalid: a lone surrogate, NaN or an infinity, an integer beyond I-JSON, somewhere inside.
lone_surrogates = st.tuples(
    st.text(any_char, max_size=3),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.text(any_char, max_size=3),
).map("".join)
bad_scalars = st.one_of(
    lone_surrogates,
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.integers(min_value=SAFE + 1),
    st.integers(max_value=-SAFE - 1),
)


@st.composite
def invalid_values(draw: st.DrawFn) -> Any:
    bad = draw(bad_scalars)
    where = draw(st.sampled_from(["top", "list", "value", "key", "deep"]))
    if where == "top":
        return bad
    if where == "list":
        return [*draw(st.lists(scalars, max_size=3)), bad]
    if where == "value":
        return {**draw(st.dictionaries(keys, scalars, max_size=3)), "k": bad}
    if where == "key" and isinstance(bad, str):
        return {bad: 1, **draw(st.dictionaries(keys, scalars, max_size=3))}
    return {"a": [draw(json_values), {"b": [bad]}]}


@settings(max_examples=100, deadline=None)
@given(invalid_values())
@example("\ud800")
@example({"\udfff": 1})
@example({"a": "\ud83d\ude00"})  # in a Python str, even a "pair" is two lone surrogates
def test_both_refuse_the_same_invalid_values(value: Any) -> None:
    with pytest.raises((rfc8785.CanonicalizationError, UnicodeEncodeError)):
        rfc8785.dumps(value)
    with pytest.raises(MalformedInput, match=r"^value is not canonical JSON: "):
        canonicalize(value)
    with pytest.raises(MalformedInput, match=r"^value is not canonical JSON: "):
        canonicalize_reference(value)
