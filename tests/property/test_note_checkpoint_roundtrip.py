"""Properties: checkpoints and signed notes survive a round trip, and no single-byte change does."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    format_checkpoint,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from ledger.errors import LedgerError
from ledger.note import Signer, Verifiers, add_signatures, open_note, sign_note

LOG = Signer("dozvil.example/log", Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
NEXT = Signer("dozvil.example/log", Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))
WITNESS = Signer("witness.example/w1", Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34))))
KNOWN = Verifiers([LOG.verifier, NEXT.verifier])

# One line of note text: any Unicode scalar value but ASCII control characters.
line_chars = st.characters(min_codepoint=0x20, exclude_categories=["Cs"])
lines = st.text(line_chars, min_size=1, max_size=40)
note_texts = st.lists(st.text(line_chars, max_size=40), min_size=1, max_size=6).map(
    lambda ls: "".join(f"{line}\n" for line in ls)
)
checkpoints = st.builds(
    Checkpoint,
    origin=lines,
    size=st.integers(0, MAX_TREE_SIZE),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(lines, max_size=3).map(tuple),
)


@given(checkpoints)
def test_checkpoint_format_parse_round_trip(cp: Checkpoint) -> None:
    text = format_checkpoint(cp)
    assert parse_checkpoint(text) == cp
    assert format_checkpoint(parse_checkpoint(text)) == text


@given(checkpoints)
def test_checkpoint_sign_open_round_trip(cp: Checkpoint) -> None:
    got, opened = open_checkpoint(sign_checkpoint(cp, [LOG]), KNOWN, origin=cp.origin)
    assert got == cp
    assert opened.verified == (LOG.verifier,)


@given(note_texts)
def test_note_sign_open_round_trip(text: str) -> None:
    note = sign_note(text, [LOG, WITNESS])
    opened = open_note(note, KNOWN)
    assert opened.text == text
    assert opened.verified == (LOG.verifier,)
    assert [s.label for s in opened.unverified] == [WITNESS.label]
    assert add_signatures(note, [NEXT]) == sign_note(text, [LOG, WITNESS, NEXT])


@st.composite
def altered(draw: st.DrawFn, signers: tuple[Signer, ...]) -> tuple[bytes, bytes]:
    """A signed note and a copy with exactly one byte changed."""
    note = sign_note(draw(note_texts), list(signers)).encode("utf-8")
    index = draw(st.integers(0, len(note) - 1))
    value = draw(st.integers(0, 255).filter(lambda b: b != note[index]))
    return note, note[:index] + bytes([value]) + note[index + 1 :]


@settings(max_examples=500)
@given(altered((LOG,)))
def test_any_single_byte_change_fails_to_parse_or_to_verify(pair: tuple[bytes, bytes]) -> None:
    _, changed = pair
    try:
        open_note(changed, KNOWN)
    except LedgerError:
        return
    raise AssertionError(f"altered note opened: {changed!r}")


@settings(max_examples=300)
@given(altered((LOG, NEXT)))
def test_a_changed_cosigned_note_loses_a_verified_signature(pair: tuple[bytes, bytes]) -> None:
    # Both keys are known: a change may leave one signature verifying, never both.
    original, changed = pair
    assert len(open_note(original, KNOWN).verified) == 2
    try:
        opened = open_note(changed, KNOWN)
    except LedgerError:
        return
    assert len(opened.verified) < 2


@settings(max_examples=300)
@given(checkpoints, st.data())
def test_any_single_byte_change_of_a_checkpoint_is_refused(
    cp: Checkpoint, data: st.DataObject
) -> None:
    note = sign_checkpoint(cp, [LOG]).encode("utf-8")
    index = data.draw(st.integers(0, len(note) - 1))
    value = data.draw(st.integers(0, 255))
    assume(value != note[index])
    changed = note[:index] + bytes([value]) + note[index + 1 :]
    try:
        open_checkpoint(changed, KNOWN, origin=cp.origin)
    except LedgerError:
        return
    raise AssertionError(f"altered checkpoint opened: {changed!r}")
