"""Full verification's short ways are the reference checks, only cheaper.

``ledger.verify`` checks a bundle's entries (steps 1-3) in one loop (``_check_bundle_fast``)
that only ever accepts, leaving every doubt to the reference loop through ``parse_entry``
(``_check_bundle_reference``); and feeds a whole bundle to the sequential checks (steps 4-9)
at once (``_Sequential.feed_bundle``), folding its leaves into the tree only where a check needs
them. These properties run both ways on generated and corrupted input: the fast loop accepts
only what the reference accepts, with the same result, and full verification reports the same
result or the same first fault (check, entry, case and message) either way. Entries are parsed
through ``canonical.loads``, which must read exactly what ``json.loads`` reads.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ledger import verify
from ledger.canonical import canonicalize, canonicalize_reference, is_canonical, loads
from ledger.entry import Actor, build_body, format_time
from ledger.errors import VerificationFailed
from ledger.merkle import leaf_hash
from ledger.note import Signer
from ledger.store.export import ExportSource
from ledger.tiles import TILE_WIDTH
from tests.integration.ledger import forge
from tests.property.test_entry_roundtrip import entry_fields, interesting_bytes, moments, names

ORIGIN = "test.dozvil.local/fast"
SIGNER = Signer.generate(ORIGIN)


def _outcome(call: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "ok", call(*args, **kwargs)
    except VerificationFailed as exc:
        return "fault", (exc.check, exc.seq, exc.case_id, str(exc))


# --- steps 1-3: one bundle --------------------------------------------------------------------

# Values around what the fast loop reads from the text: escapes, characters that take the
# reference path (astral, U+D800 and up), big integers, spaces, and names at their limits.
odd_text = st.text(
    st.sampled_from(["a", " ", '"', "\\", "/", "\n", "\x7f", "é", "ї", "\ue000", "😀", "\x01"]),
    max_size=6,
)
odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53 - 1), 2**53 - 1),
    st.sampled_from([0, -1, 2**53 - 1, -(2**53 - 1), 1e16, 1.5, -0.0, 12345678901234567.0]),
    odd_text,
)
odd_data = st.dictionaries(odd_text, st.one_of(odd_values, st.lists(odd_values, max_size=3)))


# A plain case event, as the workload writes them (with an idempotency key to escape).
PLAIN: dict[str, Any] = {
    "prev": bytes(32),
    "case_prev": None,
    "time": "2026-11-25T18:42:39.123456Z",
    "case_id": "UA-2026-0000001",
    "event": "submit",
    "from_state": None,
    "to_state": "submitted",
    "actor": Actor("officer-1", "licensing_officer"),
    "statement": None,
    "idempotency_key": 'UA-2026-0000001/0 "ї" \\ \n',
    "commitments": {"end_user": "ab" * 32},
    "data": {"опис": "Тепловізійний приціл, 2 шт.", "n": [1, -2, None, True]},
}


# Per field: values its check refuses (and some it accepts), near the edges of each pattern.
bad_names = st.sampled_from(
    ["", "x" * 129, "a" * 128, "-a", ".a", "a b", "a\nb", "a\n", "é", "a\\b", 'a"b', "0"]
)
bad_hashes = st.sampled_from(
    [
        "0" * 64,
        "A" * 64,
        "0" * 63,
        "0" * 65,
        "0" * 63 + " ",
        " " + "0" * 62,
        "g" * 64,
        "0" * 62 + " 0",
        "٠" * 64,
        "0" * 64 + "\n",
    ]
)
bad_times = st.sampled_from(
    [
        "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2024-02-29T23:59:59.1Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:60Z",
        "0000-01-01T00:00:00Z",
        "٢٠٢٦-01-01T00:00:00Z",
        "2026-01-01T00:00:00.1234567Z",
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00z",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:00Z\n",
    ]
) | moments.map(format_time)
field_values: dict[str, st.SearchStrategy[Any]] = {
    "v": st.sampled_from([1, 2, 0, True, 1.0, "1"]),
    "seq": st.sampled_from([0, -1, True, "0"]),
    "prev": bad_hashes,
    "case_prev": bad_hashes,
    "time": bad_times,
    "case_id": bad_names | names,
    "event": bad_names | names,
    "from_state": bad_names | names,
    "to_state": bad_names | names,
    "actor": bad_names
    | st.sampled_from([{"id": "a", "role": "b", "x": "c"}, {"id": "a"}, {"id": "a", "rôle": "b"}]),
    "statement": st.sampled_from([{}, {"a": 1}, [], "x"]),
    "idempotency_key": st.sampled_from(["", "k", 'a"b\\c\nd', "ї"]),
    "commitments": st.dictionaries(names, bad_hashes | odd_values, max_size=2),
    "data": odd_data
    | st.sampled_from([{"n": 12345678901234567}, {"n": 10**16}, {"n": -(2**53)}, {"n": 1.5}]),
}


@st.composite
def bundles(draw: st.DrawFn) -> tuple[int, list[bytes], list[bytes]]:
    """A run of entry bodies from some start, their leaf hashes, and maybe one change."""
    start = draw(st.sampled_from([0, 256, 512 * 1024]))
    count = draw(st.integers(1, 5))
    bodies = []
    for i in range(count):
        fields: dict[str, Any] = draw(entry_fields)
        fields["seq"] = start + i
        if draw(st.booleans()):
            fields["data"] = draw(odd_data)
        if draw(st.booleans()):
            fields["idempotency_key"] = draw(odd_text.filter(bool))
        bodies.append(build_body(**fields))
    stored = [leaf_hash(b) for b in bodies]
    how = draw(st.sampled_from(["none", "byte", "text", "field", "seq", "stored", "short"]))
    at = draw(st.integers(0, count - 1))
    body = bodies[at]
    if how == "byte":  # change, insert or delete one byte; the stored hash follows
        pos = draw(st.integers(0, len(body) - 1))
        byte = bytes([draw(interesting_bytes)])
        body = draw(
            st.sampled_from(
                [
                    body[:pos] + byte + body[pos + 1 :],
                    body[:pos] + byte + body[pos:],
                    body[:pos] + body[pos + 1 :],
                ]
            )
        )
    elif how == "text":  # re-spell the JSON: whitespace, escapes, order, duplicates
        obj = json.loads(body)
        spelling = draw(st.sampled_from(["spaced", "ascii", "unsorted", "dup", "slash", "neg0"]))
        if spelling == "spaced":
            body = json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()
        elif spelling == "ascii":
            body = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
        elif spelling == "unsorted":
            items = dict(reversed(list(obj.items())))
            body = json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode()
        elif spelling == "dup":
            body = body[:-1] + b',"v":1}'
        elif spelling == "slash":
            body = body.replace(b"/", b"\\/", 1)
        else:
            body = body.replace(b'"v":1', b'"v":1,"w":-0', 1)
    elif how == "field":  # one field of another value, type or spelling
        obj = json.loads(body)
        name = draw(st.sampled_from(sorted(obj)))
        obj[name] = draw(st.one_of(field_values[name], odd_values, st.just({}), st.just([])))
        if name == "actor" and draw(st.booleans()):
            obj[name] = {"id": "officer-1", "role": obj[name]}
            if draw(st.booleans()):
                obj[name] = {"id": obj[name]["role"], "role": "officer"}
        body = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    elif how == "seq":
        obj = json.loads(body)
        obj["seq"] = draw(st.sampled_from([obj["seq"] + 1, obj["seq"] - 1, -1, True, "0"]))
        body = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    bodies[at] = body
    stored[at] = leaf_hash(body)
    if how == "stored":
        stored[at] = bytes(32)
    elif how == "short":
        stored = stored[:at]
    return start, bodies, stored


@settings(max_examples=400, deadline=None)
@given(bundles())
@example((0, [b'{"v":1}'], [leaf_hash(b'{"v":1}')]))
def test_fast_bundle_check_accepts_only_what_the_reference_accepts(
    bundle: tuple[int, list[bytes], list[bytes]],
) -> None:
    start, bodies, stored = bundle
    fast = verify._check_bundle_fast(start, bodies, stored)
    reference = _outcome(verify._check_bundle_reference, start, bodies, stored)
    event("fast loop accepted" if fast is not None else f"reference: {reference[1][0]}")
    if fast is not None:
        assert reference == ("ok", fast)
    assert _outcome(verify.check_bundle, start, bodies, stored) == reference


@st.composite
def one_field_changed(draw: st.DrawFn) -> bytes:
    """A plain entry (or a generated one) with one field set to a value near its check's edge,
    written canonically: only that field's check stands between it and acceptance."""
    obj = json.loads(build_body(seq=3, **PLAIN) if draw(st.booleans()) else _entry(draw, 3))
    name = draw(st.sampled_from(sorted(field_values)))
    obj[name] = draw(field_values[name])
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _entry(draw: st.DrawFn, seq: int) -> bytes:
    fields: dict[str, Any] = draw(entry_fields)
    return build_body(**{**fields, "seq": seq})


@settings(max_examples=600, deadline=None)
@given(one_field_changed())
def test_fast_check_of_each_field_is_parse_entry(body: bytes) -> None:
    fast = verify._check_bundle_fast(3, [body], [leaf_hash(body)])
    reference = _outcome(verify._check_bundle_reference, 3, [body], [leaf_hash(body)])
    event("fast loop accepted" if fast is not None else f"reference: {reference[0]}")
    if fast is not None:
        assert reference == ("ok", fast)


json_texts = st.one_of(
    st.recursive(
        odd_values | odd_text | st.integers(-(2**70), 2**70),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(odd_text, children),
        max_leaves=6,
    ).flatmap(
        lambda value: st.sampled_from(
            [
                json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
                json.dumps(value, ensure_ascii=False),
                json.dumps(value),
            ]
        )
    ),
    st.text(st.sampled_from('{}[],:"\\ u0123456789aeflnrstu-.'), max_size=12),
)


def _int_as_number(text: str) -> int | float:
    value = int(text)
    return value if abs(value) <= 2**53 - 1 else float(text)


@settings(max_examples=300, deadline=None)
@given(json_texts, st.sampled_from(["utf-8", "utf-16", "raw"]))
@example('"\\u00e9"', "utf-8")
@example('["\\\\u"]', "utf-8")
@example('{"a":"\\\\","b":12345678901234567}', "utf-8")
def test_loads_is_json_loads(text: str, encoding: str) -> None:
    """``canonical.loads`` (through which entries are parsed) reads what ``json.loads`` reads,
    and gives the text only where ``is_canonical`` may compare it with the encoder's."""
    data = text.encode("utf-8", "surrogatepass") if encoding == "raw" else text.encode(encoding)
    try:
        want: Any = ("ok", repr(json.loads(data, parse_int=_int_as_number)))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        want = ("error", type(exc))
    try:
        value, got_text = loads(data)
        got: Any = ("ok", repr(value))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        got, got_text = ("error", type(exc)), None
    assert got == want
    if got_text is not None:
        assert got_text == data.decode("utf-8")
        assert canonicalize(value) == canonicalize_reference(value)
        assert is_canonical(value, data, got_text) == (canonicalize(value) == data)


def test_fast_bundle_check_takes_plain_entries() -> None:
    """The workload's entries (case events, no statement) take the fast loop."""
    bodies = [build_body(seq=7 + i, **PLAIN) for i in range(3)]
    leaves = verify._check_bundle_fast(7, bodies, [leaf_hash(b) for b in bodies])
    assert leaves is not None
    assert [leaf.entry for leaf in leaves] == [None] * 3


# --- steps 4-9: whole logs --------------------------------------------------------------------


@contextmanager
def reference_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Verification through ``parse_entry`` and ``feed`` alone, entry by entry."""

    def feed_each(self: Any, start: int, leaves: Any) -> None:
        for i, item in enumerate(leaves):
            self.feed(start + i, item)

    with monkeypatch.context() as m:
        m.setattr(verify, "_check_bundle_fast", lambda *args: None)
        m.setattr(verify._Sequential, "feed_bundle", feed_each)
        yield


@st.composite
def logs(draw: st.DrawFn) -> dict[str, Any]:
    size = draw(st.integers(1, 3 * TILE_WIDTH + 40))
    cases = draw(st.integers(1, 6))
    log_level = set(draw(st.lists(st.integers(0, size - 1), max_size=3)))
    drafts = [
        forge.Draft("note", data={"i": i})
        if i in log_level
        else forge.Draft("submit", case_id=f"UA-{i % cases}", data={"i": i})
        for i in range(size)
    ]
    return {
        "drafts": drafts,
        "checkpoints": draw(st.lists(st.integers(0, size), max_size=6)),
        "trusted": draw(st.none() | st.integers(0, size)),
        "fault": draw(
            st.sampled_from(["none", "prev", "case_prev", "root", "tile", "leaf", "body"])
        ),
        "at": draw(st.integers(0, size - 1)),
    }


def _build(root: Path, log: dict[str, Any]) -> tuple[Path, str | None]:
    drafts = log["drafts"]
    at = log["at"]
    bodies = forge.chain(drafts)
    fault = log["fault"]
    if fault in ("prev", "case_prev"):
        obj = json.loads(bodies[at])
        if fault == "prev" or obj["case_id"] is None:
            obj["prev"] = "ab" * 32
        else:
            obj["case_prev"] = None if obj["case_prev"] else "cd" * 32
        bodies[at] = build_body(
            **{k: v for k, v in obj.items() if k not in ("v", "prev", "case_prev", "actor")},
            prev=bytes.fromhex(obj["prev"]),
            case_prev=bytes.fromhex(obj["case_prev"]) if obj["case_prev"] else None,
            actor=Actor(**obj["actor"]),
        )
    sizes = [s for s in log["checkpoints"] if s < len(bodies)]
    if fault == "root" and log["trusted"] is None:
        sizes.append(at + 1)  # one inside the log (maybe inside a bundle) to tamper with
    notes = forge.write_export(
        root / "export", bodies, signer=SIGNER, origin=ORIGIN, checkpoint_sizes=sizes
    )
    export = root / "export"
    if fault == "root":
        size = sizes[at % len(sizes)] if sizes else len(bodies)
        forge.replace_checkpoint(export, forge.signed_checkpoint(SIGNER, ORIGIN, size, bytes(32)))
    elif fault == "tile" and len(bodies) >= TILE_WIDTH:
        index = at % (len(bodies) // TILE_WIDTH)
        forge.flip_byte(forge.tile_file(export, 1, 0), 32 * index + at % 32)
    elif fault == "leaf":
        stored_bodies, leaves = forge.read_entries(export)
        leaves[at] = bytes(32)
        forge.write_entries(export, stored_bodies, leaves)
    elif fault == "body":
        forge.flip_byte(forge.tile_file(export, -1, at // TILE_WIDTH), 2 + at % 7)
    trusted = log["trusted"]
    if trusted is None:
        return export, None
    tree = forge.Tree((leaf_hash(b) for b in bodies[:trusted]), [trusted])
    note = notes.get(trusted)
    if note is None:
        note = forge.signed_checkpoint(SIGNER, ORIGIN, trusted, tree.roots[trusted])
    return export, note


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(log=logs())
def test_full_verification_is_the_reference(
    log: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        export, trusted = _build(Path(tmp), log)
        vkey = SIGNER.verifier.vkey
        fast = _outcome(verify.verify_log, ExportSource(export), vkey, trusted_checkpoint=trusted)
        with reference_only(monkeypatch):
            reference = _outcome(
                verify.verify_log, ExportSource(export), vkey, trusted_checkpoint=trusted
            )
        event(f"{log['fault']}: {fast[1][0] if fast[0] == 'fault' else 'verified'}")
        assert fast == reference
