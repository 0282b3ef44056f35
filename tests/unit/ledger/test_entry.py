"""Entry bodies: what ``build_body`` writes, and everything ``parse_entry`` must refuse."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785

from ledger.canonical import MAX_ENTRY_BYTES
from ledger.entry import (
    FORMAT_VERSION,
    ZERO_HASH,
    Actor,
    build_body,
    check_name,
    format_time,
    parse_entry,
    parse_time,
)
from ledger.errors import EntryTooLarge, LedgerError, MalformedInput
from ledger.merkle import leaf_hash


def exact(message: str) -> str:
    return f"^{re.escape(message)}$"


PREV = bytes(range(32))
CASE_PREV = b"\xaa" * 32
COMMITMENT = "ab" * 32
TIME = "2026-11-25T18:42:39.123456Z"


def fields(**changes: Any) -> dict[str, Any]:
    """Keyword arguments of ``build_body`` for a typical entry, with ``changes``."""
    base: dict[str, Any] = {
        "seq": 41,
        "prev": PREV,
        "case_prev": CASE_PREV,
        "time": TIME,
        "case_id": "UA-2026-0193",
        "event": "countersign",
        "from_state": "decided",
        "to_state": "issued",
        "actor": Actor("official-17", "signing_official"),
        "statement": {"v": 1, "issuer": "official-17", "sig": "AAAA"},
        "idempotency_key": "UA-2026-0193/12",
        "commitments": {"end_user": COMMITMENT},
        "data": {"licence": "UA-L-2026-0007", "quantity": 120, "conditions": ["no re-export"]},
    }
    base.update(changes)
    return base


DROP = object()


def loads(body: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(body)
    return obj


def body_obj(**changes: Any) -> dict[str, Any]:
    """The JSON object of the typical entry, with ``changes`` (a value of ``DROP`` removes)."""
    obj = loads(build_body(**fields()))
    for key, value in changes.items():
        if value is DROP:
            del obj[key]
        else:
            obj[key] = value
    return obj


def jcs(obj: Any) -> bytes:
    """Canonical bytes from the reference package, so only the check under test can fail."""
    return rfc8785.dumps(obj)


# --- building and parsing ---------------------------------------------------------------------


def test_build_body_bytes() -> None:
    body = build_body(**fields())
    want = (
        '{"actor":{"id":"official-17","role":"signing_official"},"case_id":"UA-2026-0193",'
        f'"case_prev":"{"aa" * 32}","commitments":{{"end_user":"{COMMITMENT}"}},'
        '"data":{"conditions":["no re-export"],"licence":"UA-L-2026-0007","quantity":120},'
        '"event":"countersign","from_state":"decided","idempotency_key":"UA-2026-0193/12",'
        f'"prev":"{PREV.hex()}","seq":41,'
        '"statement":{"issuer":"official-17","sig":"AAAA","v":1},'
        f'"time":"{TIME}","to_state":"issued","v":1}}'
    ).encode()
    assert body == want


def test_round_trip() -> None:
    body = build_body(**fields())
    entry = parse_entry(body)
    assert entry.body == body
    assert (entry.seq, entry.prev, entry.case_prev, entry.time) == (41, PREV, CASE_PREV, TIME)
    assert (entry.case_id, entry.event) == ("UA-2026-0193", "countersign")
    assert (entry.from_state, entry.to_state) == ("decided", "issued")
    assert entry.actor == Actor("official-17", "signing_official")
    assert entry.statement == {"v": 1, "issuer": "official-17", "sig": "AAAA"}
    assert entry.idempotency_key == "UA-2026-0193/12"
    assert entry.commitments == {"end_user": COMMITMENT}
    assert entry.data == fields()["data"]
    assert leaf_hash(entry.body) == leaf_hash(body)


def test_round_trip_of_a_first_log_level_entry() -> None:
    body = build_body(
        **fields(
            seq=0,
            prev=ZERO_HASH,
            case_prev=None,
            case_id=None,
            from_state=None,
            to_state=None,
            statement=None,
            commitments={},
            data={},
        )
    )
    assert b'"prev":"' + b"0" * 64 + b'"' in body
    entry = parse_entry(body)
    assert (entry.seq, entry.prev, entry.case_prev, entry.case_id) == (0, ZERO_HASH, None, None)
    assert (entry.from_state, entry.to_state, entry.statement) == (None, None, None)
    assert (entry.commitments, entry.data) == ({}, {})


def test_round_trip_of_unicode_data() -> None:
    data = {"назва": "Дрон \U0001f681", "\ue000": "after astral in UTF-16", "\U00010000": 1}
    body = build_body(**fields(data=data))
    assert parse_entry(body).data == data
    assert body == jcs(loads(body))


def test_version() -> None:
    assert FORMAT_VERSION == 1
    assert b'"v":1}' in build_body(**fields())


# --- time -------------------------------------------------------------------------------------


def test_format_time() -> None:
    moment = datetime(2026, 11, 25, 18, 42, 39, 123456, tzinfo=UTC)
    assert format_time(moment) == TIME
    kyiv = timezone(timedelta(hours=2))
    assert format_time(datetime(2026, 11, 25, 20, 42, 39, 123456, tzinfo=kyiv)) == TIME
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"
    with pytest.raises(MalformedInput, match=exact("entry time must carry a time zone")):
        format_time(datetime(2026, 1, 2, 3, 4, 5))


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        (TIME, datetime(2026, 11, 25, 18, 42, 39, 123456, tzinfo=UTC)),
        ("2026-11-25T18:42:39Z", datetime(2026, 11, 25, 18, 42, 39, tzinfo=UTC)),
        ("2026-11-25T18:42:39.1Z", datetime(2026, 11, 25, 18, 42, 39, 100000, tzinfo=UTC)),
        ("2028-02-29T23:59:59.999999Z", datetime(2028, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, moment: datetime) -> None:
    assert parse_time(text) == moment


FORMAT = "is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-11-25T18:42:39+00:00", FORMAT),
        ("2026-11-25T20:42:39+02:00", FORMAT),
        ("2026-11-25 18:42:39Z", FORMAT),
        ("2026-11-25t18:42:39z", FORMAT),
        ("2026-11-25T18:42:39.Z", FORMAT),
        ("2026-11-25T18:42:39.1234567Z", FORMAT),
        ("2026-11-25T18:42Z", FORMAT),
        ("2026-11-25", FORMAT),
        ("26-11-25T18:42:39Z", FORMAT),
        ("2026-11-25T18:42:39Z\n", FORMAT),
        ("", FORMAT),
        ("2026-02-30T00:00:00Z", "day is out of range for month"),
        ("2026-11-25T24:00:00Z", "hour must be in 0..23"),
        ("2026-11-25T23:59:60Z", "second must be in 0..59"),
        ("0000-01-01T00:00:00Z", "year 0 is out of range"),
        ("\u0662\u0660\u0662\u0666-11-25T18:42:39Z", "Invalid isoformat string"),  # Arabic digits
    ],
)
def test_parse_time_refuses(text: str, message: str) -> None:
    with pytest.raises(
        MalformedInput, match=rf"^time {re.escape(repr(text))}:? .*{re.escape(message)}"
    ):
        parse_time(text)


def test_parse_time_refuses_non_strings() -> None:
    with pytest.raises(MalformedInput, match=exact(f"time 1764096159 {FORMAT}")):
        parse_time(1764096159)  # type: ignore[arg-type]


# --- names ------------------------------------------------------------------------------------

NAME_RULE = (
    "must be 1-128 characters of letters, digits and ._:/@+- starting with a letter or digit"
)


@pytest.mark.parametrize(
    "name", ["a", "UA-2026-0193", "signing_official", "x" * 128, "a.b:c/d@e+f-g_h", "0"]
)
def test_check_name_accepts(name: str) -> None:
    assert check_name("event", name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "x" * 129,
        "-lead",
        ".lead",
        "_lead",
        "has space",
        "tab\t",
        "new\nline",
        "é",
        "\u0661",  # ARABIC-INDIC DIGIT ONE: a Unicode digit, not [0-9]
        "ｆｕｌｌ",
        "semi;colon",
        "a\x00",
        None,
        17,
        ["a"],
    ],
)
def test_check_name_refuses(name: object) -> None:
    with pytest.raises(MalformedInput, match=exact(f"event {name!r} {NAME_RULE}")):
        check_name("event", name)


# --- parse_entry refuses ----------------------------------------------------------------------


def test_refuses_non_json() -> None:
    with pytest.raises(MalformedInput, match=r"^entry body is not JSON: "):
        parse_entry(b"{")
    with pytest.raises(MalformedInput, match=r"^entry body is not JSON: "):
        parse_entry(b"")
    with pytest.raises(MalformedInput, match=r"^entry body is not JSON: "):
        parse_entry(b'{"a":"\xff"}')
    with pytest.raises(MalformedInput, match=exact("entry body is not a JSON object")):
        parse_entry(b"[]")
    with pytest.raises(MalformedInput, match=exact("entry body is not a JSON object")):
        parse_entry(b'"v"')


def canonical_variants(body: bytes) -> dict[str, bytes]:
    """Spellings of the same JSON value that are not its RFC 8785 form."""
    text = body.decode()
    assert body.endswith(b',"v":1}')
    return {
        "space after colon": text.replace('"seq":41', '"seq": 41').encode(),
        "space after comma": text.replace(',"seq"', ', "seq"').encode(),
        "leading space": b" " + body,
        "trailing newline": body + b"\n",
        "pretty printed": json.dumps(loads(body), indent=1, sort_keys=True).encode(),
        "unsorted keys": b'{"v":1,' + body[1 : -len(b',"v":1}')] + b"}",
        "escaped letter": text.replace('"countersign"', '"\\u0063ountersign"').encode(),
        "escaped solidus": text.replace("UA-2026-0193/12", "UA-2026-0193\\/12").encode(),
        "upper-case escape": jcs(body_obj(data={"c": "\x1f"})).replace(b"\\u001f", b"\\u001F"),
        "float spelling": jcs(body_obj(data={"n": 1})).replace(b'"n":1', b'"n":1.0'),
        "exponent": jcs(body_obj(data={"n": 100})).replace(b'"n":100', b'"n":1e2'),
        "negative zero": jcs(body_obj(data={"n": 0})).replace(b'"n":0', b'"n":-0'),
        "duplicate key": body[:-1] + b',"data":{}}',
        "byte order mark": b"\xef\xbb\xbf" + body,
        "utf-16": text.encode("utf-16"),
    }


NON_CANONICAL = canonical_variants(build_body(**fields()))


@pytest.mark.parametrize("how", sorted(NON_CANONICAL))
def test_refuses_non_canonical_bodies(how: str) -> None:
    body = NON_CANONICAL[how]
    # The same value in canonical form is a valid entry: only the spelling is refused.
    canonical = jcs(json.loads(body))
    assert canonical != body
    parse_entry(canonical)
    with pytest.raises(MalformedInput, match=exact("entry 41 is not in RFC 8785 canonical form")):
        parse_entry(body)


def test_non_canonical_message() -> None:
    body = build_body(**fields()) + b" "
    with pytest.raises(MalformedInput, match=exact("entry 41 is not in RFC 8785 canonical form")):
        parse_entry(body)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data": DROP}, "entry fields: missing ['data'], unexpected []"),
        ({"v": DROP, "seq": DROP}, "entry fields: missing ['seq', 'v'], unexpected []"),
        ({"extra": 1}, "entry fields: missing [], unexpected ['extra']"),
        ({"time": DROP, "when": TIME}, "entry fields: missing ['time'], unexpected ['when']"),
        ({"v": 2}, "entry format version 2 is not 1"),
        ({"v": 0}, "entry format version 0 is not 1"),
        ({"v": True}, "entry format version True is not 1"),
        ({"v": "1"}, "entry format version '1' is not 1"),
        ({"v": None}, "entry format version None is not 1"),
        ({"seq": -1}, "entry seq -1 is not a non-negative integer"),
        ({"seq": "41"}, "entry seq '41' is not a non-negative integer"),
        ({"seq": True}, "entry seq True is not a non-negative integer"),
        ({"seq": 4.5}, "entry seq 4.5 is not a non-negative integer"),
        ({"seq": None}, "entry seq None is not a non-negative integer"),
        ({"actor": "official-17"}, "entry 41: actor must be an object with id and role"),
        ({"actor": {"id": "a"}}, "entry 41: actor must be an object with id and role"),
        (
            {"actor": {"id": "a", "role": "b", "key": "c"}},
            "entry 41: actor must be an object with id and role",
        ),
        ({"statement": []}, "entry 41: statement must be an object or null"),
        ({"statement": "signed"}, "entry 41: statement must be an object or null"),
        ({"commitments": None}, "entry 41: commitments must map names to 64 hex digits"),
        (
            {"commitments": {"x": "AB" * 32}},
            "entry 41: commitments must map names to 64 hex digits",
        ),
        (
            {"commitments": {"x": "ab" * 31}},
            "entry 41: commitments must map names to 64 hex digits",
        ),
        ({"commitments": {"x": 1}}, "entry 41: commitments must map names to 64 hex digits"),
        ({"data": None}, "entry 41: data must be an object"),
        ({"data": [1]}, "entry 41: data must be an object"),
        ({"idempotency_key": ""}, "entry 41: idempotency_key must be a non-empty string"),
        ({"idempotency_key": 12}, "entry 41: idempotency_key must be a non-empty string"),
        ({"idempotency_key": None}, "entry 41: idempotency_key must be a non-empty string"),
        ({"time": "2026-11-25T18:42:39+00:00"}, f"time '2026-11-25T18:42:39+00:00' {FORMAT}"),
        ({"time": None}, f"time None {FORMAT}"),
        ({"time": "2026-13-01T00:00:00Z"}, "time '2026-13-01T00:00:00Z': month must be in 1..12"),
        ({"prev": None}, "field 'prev' is not 64 lowercase hex digits"),
        ({"prev": PREV.hex().upper()}, "field 'prev' is not 64 lowercase hex digits"),
        ({"prev": PREV.hex()[:-1]}, "field 'prev' is not 64 lowercase hex digits"),
        ({"prev": PREV.hex() + "00"}, "field 'prev' is not 64 lowercase hex digits"),
        ({"prev": "g" * 64}, "field 'prev' is not 64 lowercase hex digits"),
        ({"case_prev": "0x" + "0" * 62}, "field 'case_prev' is not 64 lowercase hex digits"),
        ({"case_prev": ""}, "field 'case_prev' is not 64 lowercase hex digits"),
        ({"case_id": "UA 2026"}, f"case_id 'UA 2026' {NAME_RULE}"),
        ({"case_id": ""}, f"case_id '' {NAME_RULE}"),
        ({"event": None}, f"event None {NAME_RULE}"),
        ({"event": "-x"}, f"event '-x' {NAME_RULE}"),
        ({"from_state": "x" * 129}, f"from_state '{'x' * 129}' {NAME_RULE}"),
        ({"to_state": 3}, f"to_state 3 {NAME_RULE}"),
        ({"actor": {"id": "a b", "role": "r"}}, f"actor id 'a b' {NAME_RULE}"),
        ({"actor": {"id": "a", "role": None}}, f"role None {NAME_RULE}"),
    ],
)
def test_refuses(changes: dict[str, Any], message: str) -> None:
    body = jcs(body_obj(**changes))
    with pytest.raises(MalformedInput, match=exact(message)):
        parse_entry(body)


def test_accepts_fewer_fractional_digits() -> None:
    entry = parse_entry(jcs(body_obj(time="2026-11-25T18:42:39Z")))
    assert entry.time == "2026-11-25T18:42:39Z"


# --- the size limit ---------------------------------------------------------------------------


def padded(size: int) -> dict[str, Any]:
    """``build_body`` fields whose body is exactly ``size`` bytes."""
    overhead = len(build_body(**fields(data={"pad": ""})))
    return fields(data={"pad": "x" * (size - overhead)})


def test_body_of_exactly_65535_bytes() -> None:
    body = build_body(**padded(MAX_ENTRY_BYTES))
    assert len(body) == 65_535
    assert parse_entry(body).body == body


def test_body_of_65536_bytes_is_refused() -> None:
    message = (
        "entry body is 65536 bytes, the limit is 65535 "
        "(reference large documents by their SHA-256 instead of embedding them)"
    )
    with pytest.raises(EntryTooLarge, match=exact(message)):
        build_body(**padded(MAX_ENTRY_BYTES + 1))
    body = jcs(body_obj(data={"pad": "x" * 70_000}))
    with pytest.raises(EntryTooLarge, match=r"^entry body is \d+ bytes, the limit is 65535 "):
        parse_entry(body)


def test_build_body_refuses_values_json_cannot_carry() -> None:
    with pytest.raises(MalformedInput, match=r"^value is not canonical JSON: "):
        build_body(**fields(data={"x": float("nan")}))
    with pytest.raises(MalformedInput, match=r"^value is not canonical JSON: "):
        build_body(**fields(statement={"s": "\ud800"}))


@pytest.mark.parametrize("number", [2.0**53, 1e16, -1e20])
def test_canonical_bodies_with_large_integral_numbers_parse(number: float) -> None:
    body = build_body(**fields(data={"n": number}))  # accepted: it is valid RFC 8785
    assert b'"n":' + str(int(number)).encode() in body
    assert parse_entry(body).data == {"n": number}


def test_deeply_nested_body_is_malformed_not_a_crash() -> None:
    depth = 30_000  # a 60 kB body: within the size limit
    body = jcs(body_obj(data={"x": []})).replace(b'"x":[]', b'"x":' + b"[" * depth + b"]" * depth)
    assert len(body) <= MAX_ENTRY_BYTES
    with pytest.raises(LedgerError):
        parse_entry(body)


@pytest.mark.parametrize(
    "changes",
    [
        {"event": "bad event"},
        {"time": "yesterday"},
        {"seq": -1},
        {"prev": b"\x00" * 31},
        {"actor": Actor("", "role")},
        {"idempotency_key": ""},
        {"commitments": {"x": "not hex"}},
    ],
    ids=["event", "time", "seq", "prev", "actor", "idempotency_key", "commitments"],
)
def test_build_body_refuses_what_parse_entry_refuses(changes: dict[str, Any]) -> None:
    with pytest.raises(MalformedInput):
        build_body(**fields(**changes))
