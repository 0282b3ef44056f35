"""Properties of entry bodies: every built body parses back to what was built, and a body that
``parse_entry`` accepts is always exactly the RFC 8785 form of its own JSON value."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.entry import Actor, build_body, format_time, parse_entry, parse_time
from ledger.errors import LedgerError

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
names = st.builds(str.__add__, st.sampled_from(ALNUM), st.text(ALNUM + "._:/@+-", max_size=20))
hashes = st.binary(min_size=32, max_size=32)
moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
)
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=10)
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53 - 1), 2**53 - 1),
        # Integral floats in [2**53, 1e21) are written as integers that parse_entry then
        # refuses (a known bug, see tests/unit/ledger/test_entry.py): left out here.
        st.floats(allow_nan=False, allow_infinity=False).filter(
            lambda f: not (f.is_integer() and 2**53 <= abs(f) < 1e21)
        ),
        text,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(text, json_values, max_size=4)

entry_fields = st.fixed_dictionaries(
    {
        "seq": st.integers(0, 2**53 - 1),
        "prev": hashes,
        "case_prev": st.none() | hashes,
        "time": moments.map(format_time),
        "case_id": st.none() | names,
        "event": names,
        "from_state": st.none() | names,
        "to_state": st.none() | names,
        "actor": st.builds(Actor, names, names),
        "statement": st.none() | json_objects,
        "idempotency_key": st.text(min_size=1, max_size=20).filter(
            lambda k: all(not 0xD800 <= ord(c) <= 0xDFFF for c in k)
        ),
        "commitments": st.dictionaries(names, hashes.map(bytes.hex), max_size=3),
        "data": json_objects,
    }
)


@settings(max_examples=80, deadline=None)
@given(entry_fields)
def test_built_bodies_parse_back(fields: dict[str, Any]) -> None:
    body = build_body(**fields)
    entry = parse_entry(body)
    assert entry.body == body
    for name, value in fields.items():
        assert getattr(entry, name) == value, name
    assert body == rfc8785.dumps(json.loads(body))
    # Building again from what was parsed gives the same bytes.
    again = {name: getattr(entry, name) for name in fields}
    assert build_body(**again) == body


@settings(deadline=None)
@given(moments)
def test_times_round_trip(moment: datetime) -> None:
    assert parse_time(format_time(moment)) == moment


interesting_bytes = st.sampled_from(list(b' \n\t,:"\\{}[]0123456789.eE-+nulltruefalse\xff\xc3\xed'))


@settings(max_examples=80, deadline=None)
@given(entry_fields, st.data())
def test_accepted_bodies_are_canonical(fields: dict[str, Any], data: st.DataObject) -> None:
    """Change, insert or delete one byte: ``parse_entry`` refuses the result with a LedgerError
    or accepts it, and then only because it is the RFC 8785 form of its own value."""
    body = build_body(**fields)
    pos = data.draw(st.integers(0, len(body) - 1), "pos")
    byte = bytes([data.draw(interesting_bytes, "byte")])
    how = data.draw(st.sampled_from(["replace", "insert", "delete"]), "how")
    if how == "replace":
        changed = body[:pos] + byte + body[pos + 1 :]
    elif how == "insert":
        changed = body[:pos] + byte + body[pos:]
    else:
        changed = body[:pos] + body[pos + 1 :]
    try:
        entry = parse_entry(changed)
    except LedgerError:
        return
    assert entry.body == changed
    assert rfc8785.dumps(json.loads(changed)) == changed
