"""Bodies spliced from a :class:`~ledger.entry.BodyTemplate` are the RFC 8785 bytes.

The append path builds each body by joining the canonical bytes of its fields between fixed key
texts, and the request hash the same way. These properties check both against the reference
``rfc8785.dumps`` of the whole object, on generated values that include floats, big integers,
astral characters and every escape (which leave the fast path), and check that an ``exact``
template's fields are what parsing the body gives back.
"""

from __future__ import annotations

import hashlib
from datetime import UTC
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.entry import Actor, BodyTemplate, format_time, parse_entry
from ledger.store.sql import AppendRequest
from tests.property.test_canonical import json_values, keys, strings

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,20}", fullmatch=True)
optional_names = st.none() | names
hashes = st.binary(min_size=32, max_size=32)
hex_hashes = hashes.map(bytes.hex)
objects = st.dictionaries(keys, json_values, max_size=6)
times = st.datetimes(timezones=st.just(UTC)).map(format_time)


@st.composite
def template_fields(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "case_id": draw(optional_names),
        "event": draw(names),
        "from_state": draw(optional_names),
        "to_state": draw(optional_names),
        "actor": Actor(draw(names), draw(names)),
        "statement": draw(st.none() | objects),
        "idempotency_key": draw(strings.filter(bool)),
        "commitments": draw(st.dictionaries(names, hex_hashes, max_size=3)),
        "data": draw(objects),
    }


def whole_object(fields: dict[str, Any], chain: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: v for k, v in fields.items() if k != "actor"},
        "actor": fields["actor"].to_json(),
        "v": 1,
        "seq": chain["seq"],
        "prev": chain["prev"].hex(),
        "case_prev": None if chain["case_prev"] is None else chain["case_prev"].hex(),
        "time": chain["time"],
    }


@settings(max_examples=200, deadline=None)
@given(
    template_fields(),
    st.fixed_dictionaries(
        {
            "seq": st.integers(0, 2**53 - 1),
            "prev": hashes,
            "case_prev": st.none() | hashes,
            "time": times,
        }
    ),
)
def test_filled_templates_are_rfc8785(fields: dict[str, Any], chain: dict[str, Any]) -> None:
    template = BodyTemplate.of(**fields)
    body = template.fill(**chain)
    assert body == rfc8785.dumps(whole_object(fields, chain))
    if template.exact:  # the store returns these fields without parsing the body
        entry = parse_entry(body)
        assert entry.data == fields["data"]
        assert entry.statement == fields["statement"]
        assert entry.commitments == fields["commitments"]
        assert entry.idempotency_key == fields["idempotency_key"]


@settings(max_examples=150, deadline=None)
@given(template_fields(), st.dictionaries(names, json_values, max_size=3))
def test_request_hash_is_the_hash_of_the_canonical_request(
    fields: dict[str, Any], confidential: dict[str, Any]
) -> None:
    confidential = {k: v for k, v in confidential.items() if k not in fields["data"]}
    request = AppendRequest(
        idempotency_key=fields["idempotency_key"][:512],
        case_id=fields["case_id"],
        event=fields["event"],
        actor=fields["actor"],
        from_state=fields["from_state"],
        to_state=fields["to_state"],
        statement=fields["statement"],
        data=fields["data"],
        confidential=confidential,
    )
    want = rfc8785.dumps(
        {
            "case_id": request.case_id,
            "event": request.event,
            "actor": request.actor.to_json(),
            "from_state": request.from_state,
            "to_state": request.to_state,
            "statement": request.statement,
            "data": request.data,
            "confidential": request.confidential,
        }
    )
    assert request.content_hash() == hashlib.sha256(want).digest()
