"""The QR payload: ``DZL1:`` + base45(zlib(RFC 8785 of the packed document)), and every way a
payload is refused."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path
from typing import Any

import base45 as independent_base45
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from activities.ledger import LedgerActivities
from ledger.canonical import canonicalize
from ledger.entry import Actor
from ledger.errors import MalformedInput
from ledger.note import Signer
from ledger.store.sql import AppendRequest, SqlLedger
from licence.document import Document
from licence.payload import (
    BASE45_ALPHABET,
    MAX_JSON_BYTES,
    MAX_TEXT_CHARS,
    PREFIX,
    PayloadError,
    base45_decode,
    base45_encode,
    decode,
    encode,
)
from workflows.models import LicenceInput

ORIGIN = "unit.dozvil.local/ledger"
SYSTEM = Actor("dozvil", "system")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Document:
    """A real licence document: an issuance entry in a SQLite ledger, made by the activity."""
    path: Path = tmp_path_factory.mktemp("payload") / "ledger.db"
    ledger = SqlLedger.open(f"sqlite:///{path}", Signer.generate(ORIGIN))
    ledger.init(ORIGIN)
    ledger.append_batch(
        [AppendRequest(f"UA-{i}/1", f"UA-{i}", "submit", SYSTEM, data={"n": i}) for i in range(40)]
    )
    issued = ledger.append(
        AppendRequest(
            "UA-7/2",
            "UA-7",
            "licence_issued",
            SYSTEM,
            from_state="approved",
            to_state="issued",
            data={
                "licence_number": "L-UA-7",
                "valid_from": "2026-03-01T10:00:00.000000Z",
                "valid_until": "2028-03-01T10:00:00.000000Z",
                "provisos": ["no re-export"],
            },
            confidential={
                "ceilings": [
                    {"rating": "ML10", "quantity": 5, "value": "1000.00", "currency": "EUR"}
                ]
            },
        )
    )
    made = LedgerActivities(ledger)._document(
        LicenceInput(case_id="UA-7", issuance_seq=issued.entries[0].seq)
    )
    ledger.engine.dispose()
    return Document.from_json(made.model_dump(mode="json"))


def payload_of(raw: bytes) -> str:
    """A payload of arbitrary inner bytes, built the way the encoder builds one."""
    return PREFIX + base45_encode(zlib.compress(raw))


def failure(text: str) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        decode(text)
    return caught.value


# -- round trips -----------------------------------------------------------------------------


def test_a_real_document_round_trips(document: Document) -> None:
    text = encode(document)
    assert text.startswith("DZL1:")
    assert decode(text) == document


def test_the_payload_uses_only_the_qr_alphanumeric_alphabet(document: Document) -> None:
    text = encode(document)
    assert set(text) <= set(BASE45_ALPHABET)
    assert not text.endswith(" ")  # a file's trailing whitespace may be stripped safely


def test_entry_bodies_travel_as_text_and_come_back_as_the_same_base64(
    document: Document,
) -> None:
    inner = json.loads(zlib.decompress(base45_decode(encode(document)[len(PREFIX) :])))
    body = inner["receipt"]["entries"][0]["body"]
    assert json.loads(body)["event"] == "licence_issued"
    original = document.receipt["entries"][0]["body"]
    assert base64.b64decode(original).decode() == body
    assert decode(encode(document)).receipt["entries"][0]["body"] == original


def test_the_encoding_is_canonical(document: Document) -> None:
    inner = zlib.decompress(base45_decode(encode(document)[len(PREFIX) :]))
    assert inner == canonicalize(json.loads(inner))


def test_base45_matches_rfc_9285_examples() -> None:
    for raw, text in [
        (b"AB", "BB8"),
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),
        (b"", ""),
    ]:
        assert base45_encode(raw) == text
        assert base45_decode(text) == raw


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _proved(body: str) -> dict[str, Any]:
    return {"seq": 3, "body": base64.b64encode(body.encode()).decode(), "inclusion_proof": []}


documents = st.builds(
    lambda number, bodies, rotations, checkpoint, openings: Document(
        number,
        {
            "format": "dozvil-receipt/1",
            "checkpoint": checkpoint,
            "entries": [_proved(b) for b in bodies],
            "key_rotations": [{"checkpoint": checkpoint, "entry": _proved(b)} for b in rotations],
        },
        openings,
    ),
    st.text(min_size=1, max_size=40),
    st.lists(st.text(max_size=200), min_size=1, max_size=3),
    st.lists(st.text(max_size=100), max_size=2),
    st.text(max_size=120),
    st.dictionaries(
        st.text(min_size=1, max_size=10),
        st.fixed_dictionaries({"salt": st.text(max_size=44), "value": json_values}),
        max_size=3,
    ),
)


@settings(max_examples=150, deadline=None)
@given(documents)
def test_any_document_round_trips(doc: Document) -> None:
    text = encode(doc)
    assert set(text) <= set(BASE45_ALPHABET)
    assert decode(text) == doc


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_base45_round_trips(raw: bytes) -> None:
    text = base45_encode(raw)
    assert len(text) == len(raw) // 2 * 3 + len(raw) % 2 * 2
    assert base45_decode(text) == raw


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_base45_agrees_with_an_independent_implementation(raw: bytes) -> None:
    """The PyPI ``base45`` package (a test dependency only) encodes and decodes the same."""
    text = base45_encode(raw)
    assert text == independent_base45.b45encode(raw).decode("ascii")
    assert independent_base45.b45decode(text) == raw


def test_a_body_that_is_not_text_cannot_be_packed(document: Document) -> None:
    receipt = json.loads(json.dumps(document.receipt))
    receipt["entries"][0]["body"] = base64.b64encode(b"\xff\xfe").decode()
    with pytest.raises(MalformedInput, match="cannot pack"):
        encode(Document(document.licence_number, receipt, document.openings))


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "want 'DZL1:'"),
        ("HC1:6BFOXN", "want 'DZL1:'"),
        ("dzl1:ABC", "want 'DZL1:'"),
        ("DZL2:ABC", "unsupported version 'DZL2'"),
        (" DZL1:ABC", "want 'DZL1:'"),
    ],
)
def test_a_wrong_prefix_is_refused(text: str, words: str) -> None:
    caught = failure(text)
    assert caught.check == "payload-prefix"
    assert words in str(caught)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("BB8a", "character 'a' at 3"),
        ("BB8=", "character '=' at 3"),
        ("BB8B", "one left over"),
        ("GGW", "more than two bytes"),
        ("ZZ", "more than a byte"),
    ],
)
def test_bad_base45_is_refused(data: str, words: str) -> None:
    caught = failure(PREFIX + data)
    assert caught.check == "payload-base45"
    assert words in str(caught)


def test_bytes_that_are_not_zlib_are_refused() -> None:
    caught = failure(PREFIX + base45_encode(b"not a zlib stream at all"))
    assert caught.check == "payload-zlib"
    assert "not a zlib stream" in str(caught)


def test_a_truncated_zlib_stream_is_refused(document: Document) -> None:
    data = base45_decode(encode(document)[len(PREFIX) :])
    caught = failure(PREFIX + base45_encode(data[:-10]))
    assert caught.check == "payload-zlib"
    assert "truncated" in str(caught)


def test_bytes_after_the_zlib_stream_are_refused(document: Document) -> None:
    data = base45_decode(encode(document)[len(PREFIX) :])
    caught = failure(PREFIX + base45_encode(data + b"\x00\x01"))
    assert caught.check == "payload-zlib"
    assert "2 bytes after" in str(caught)


def test_a_payload_that_inflates_too_far_is_refused() -> None:
    bomb = payload_of(b" " * (MAX_JSON_BYTES + 1))
    assert len(bomb) < 1000  # small on paper, large inflated
    caught = failure(bomb)
    assert caught.check == "payload-too-large"
    assert str(MAX_JSON_BYTES) in str(caught)


def test_a_payload_inflating_to_exactly_the_limit_is_read_to_its_json() -> None:
    raw = b"[" + b" " * (MAX_JSON_BYTES - 2) + b"]"
    caught = failure(payload_of(raw))
    assert caught.check == "payload-shape"  # not too large: it got as far as the shape


def test_an_overlong_text_is_refused_unread() -> None:
    caught = failure(PREFIX + "0" * MAX_TEXT_CHARS)
    assert caught.check == "payload-too-large"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"{not json", "not JSON"),
        (b'{"a": 1} x', "not JSON"),
        (b'"\xff"', "not UTF-8"),
        (b'{"licence_number": "A", "licence_number": "B"}', "'licence_number' appears twice"),
        (b"[NaN]", "NaN is not JSON"),
    ],
)
def test_bad_json_is_refused(raw: bytes, words: str) -> None:
    caught = failure(payload_of(raw))
    assert caught.check == "payload-json"
    assert words in str(caught)


def _packed(document: Document) -> dict[str, Any]:
    inner = json.loads(zlib.decompress(base45_decode(encode(document)[len(PREFIX) :])))
    assert isinstance(inner, dict)
    return inner


def _without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != key}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: [d], "got list"),
        (lambda d: _without(d, "openings"), "fields are ['licence_number', 'receipt']"),
        (lambda d: {**d, "extra": 1}, "want ['licence_number', 'openings', 'receipt']"),
        (lambda d: {**d, "licence_number": 7}, "licence_number 7 is not a string"),
        (lambda d: {**d, "receipt": "r"}, "receipt is not a JSON object"),
        (lambda d: {**d, "openings": []}, "openings is not a JSON object"),
        (lambda d: {**d, "receipt": {**d["receipt"], "entries": {}}}, "must be lists"),
        (
            lambda d: {**d, "receipt": {**d["receipt"], "entries": [{"seq": 1}]}},
            "entries[0] has no body string",
        ),
        (
            lambda d: {**d, "receipt": {**d["receipt"], "key_rotations": [{"entry": 5}]}},
            "key_rotations[0].entry has no body string",
        ),
    ],
)
def test_a_wrong_shape_is_refused(document: Document, change: Any, words: str) -> None:
    caught = failure(payload_of(canonicalize(change(_packed(document)))))
    assert caught.check == "payload-shape"
    assert words in str(caught)
