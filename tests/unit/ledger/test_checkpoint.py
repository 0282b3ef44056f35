"""C2SP tlog-checkpoint: strict parsing, formatting, signing and opening."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from ledger.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    format_checkpoint,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from ledger.errors import MalformedInput, UnknownKey, VerificationFailed
from ledger.note import Signer, Verifier, Verifiers

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "notes"
ORIGIN = "dozvil.example/log"
# The root hash in the Go-signed vectors (see tests/vectors/notes/gen/main.go).
ROOT_1041 = hashlib.sha256(b"dozvil vector tree 1041").digest()
ROOT_B64 = base64.b64encode(ROOT_1041).decode()
EMPTY_ROOT = hashlib.sha256(b"").digest()


def signer(key: str) -> Signer:
    return Signer.from_skey((VECTORS / f"{key}.skey").read_text().strip())


def known(*keys: str) -> Verifiers:
    return Verifiers(Verifier.from_vkey((VECTORS / f"{k}.vkey").read_text().strip()) for k in keys)


def go_note(name: str) -> str:
    return (VECTORS / name).read_text(encoding="utf-8")


def test_format_matches_the_spec_layout() -> None:
    cp = Checkpoint(ORIGIN, 1041, ROOT_1041)
    assert format_checkpoint(cp) == f"{ORIGIN}\n1041\n{ROOT_B64}\n"
    with_ext = Checkpoint(ORIGIN, 0, EMPTY_ROOT, ("ext one", "ext two"))
    assert format_checkpoint(with_ext) == (
        f"{ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next one\next two\n"
    )


@pytest.mark.parametrize(
    "cp",
    [
        Checkpoint(ORIGIN, 0, EMPTY_ROOT),
        Checkpoint(ORIGIN, 1041, ROOT_1041),
        Checkpoint("x", MAX_TREE_SIZE, b"\xff" * 32, ("a b", "+", "ключ")),
        Checkpoint("origin with spaces and + plus", 1, bytes(32)),
    ],
)
def test_parse_is_the_inverse_of_format(cp: Checkpoint) -> None:
    text = format_checkpoint(cp)
    assert parse_checkpoint(text) == cp
    assert format_checkpoint(parse_checkpoint(text)) == text


def test_sign_checkpoint_is_byte_identical_to_go() -> None:
    assert sign_checkpoint(Checkpoint(ORIGIN, 1041, ROOT_1041), [signer("log")]) == go_note(
        "checkpoint.note"
    )


def test_open_go_signed_checkpoint() -> None:
    cp, opened = open_checkpoint(go_note("checkpoint.note"), known("log"), origin=ORIGIN)
    assert cp == Checkpoint(ORIGIN, 1041, ROOT_1041)
    assert opened.verified == tuple(known("log"))


def test_open_go_signed_rotation_checkpoint_with_extension() -> None:
    cp, opened = open_checkpoint(go_note("rotation.note"), known("log", "log-next"))
    assert cp.size == 1042
    assert cp.extensions == ("rotation to log-next",)
    assert len(opened.verified) == 2


def test_open_checkpoint_checks_origin() -> None:
    with pytest.raises(VerificationFailed) as info:
        open_checkpoint(go_note("checkpoint.note"), known("log"), origin="other.example/log")
    assert info.value.check == "checkpoint-origin"
    assert str(info.value) == (
        "checkpoint-origin: got 'dozvil.example/log', want 'other.example/log'"
    )


def test_open_checkpoint_checks_signatures_first() -> None:
    with pytest.raises(UnknownKey, match="no verifiable signature"):
        open_checkpoint(go_note("checkpoint.note"), known("witness"), origin=ORIGIN)
    with pytest.raises(VerificationFailed, match="note-signature"):
        open_checkpoint(go_note("bad-text.note"), known("log"))


def test_open_checkpoint_refuses_a_signed_note_that_is_no_checkpoint() -> None:
    with pytest.raises(MalformedInput, match="line 2 \\(tree size\\): got 'trafitto da un"):
        open_checkpoint(go_note("blank-lines.note"), known("log"))
    with pytest.raises(MalformedInput, match=re.escape("got 2 line(s), want at least 3")):
        open_checkpoint(go_note("neumann.note"), Verifiers([signer("neumann").verifier]))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "got no newline at the end"),
        (f"{ORIGIN}\n1041\n{ROOT_B64}", "got no newline at the end"),
        (f"{ORIGIN}\n1041\n", re.escape("got 2 line(s), want at least 3")),
        ("\n", re.escape("got 1 line(s), want at least 3")),
        (f"\n1041\n{ROOT_B64}\n", re.escape("line 1 (origin): is empty")),
        (f"{ORIGIN}\r\n1041\n{ROOT_B64}\n", "line 1 \\(origin\\): got control character '\\\\r'"),
        (f"{ORIGIN}\ud800\n1041\n{ROOT_B64}\n", "line 1 \\(origin\\): not valid UTF-8"),
        (f"{ORIGIN}\n01\n{ROOT_B64}\n", "line 2 \\(tree size\\): got '01', want a decimal"),
        (f"{ORIGIN}\n00\n{ROOT_B64}\n", "got '00', want a decimal number without"),
        (f"{ORIGIN}\n-1\n{ROOT_B64}\n", "got '-1', want"),
        (f"{ORIGIN}\n+1\n{ROOT_B64}\n", "got '\\+1', want"),
        (f"{ORIGIN}\n 1\n{ROOT_B64}\n", "got ' 1', want"),
        (f"{ORIGIN}\n1 \n{ROOT_B64}\n", "got '1 ', want"),
        (f"{ORIGIN}\n1_000\n{ROOT_B64}\n", "got '1_000', want"),
        (f"{ORIGIN}\n\u0661\n{ROOT_B64}\n", "got '\u0661', want"),
        (f"{ORIGIN}\n\n{ROOT_B64}\n", "got '', want"),
        (f"{ORIGIN}\n0x10\n{ROOT_B64}\n", "got '0x10', want"),
        (f"{ORIGIN}\n{2**64}\n{ROOT_B64}\n", f"got {2**64}, want at most {MAX_TREE_SIZE}"),
        (f"{ORIGIN}\n1\n\n", "line 3 \\(root hash\\): got 0 bytes, want 32"),
        (f"{ORIGIN}\n1\n{ROOT_B64[:-1]}\n", "line 3 \\(root hash\\): got .*, want standard base64"),
        (f"{ORIGIN}\n1\n{ROOT_B64[:-2]}1=\n", "want canonical standard base64"),
        (f"{ORIGIN}\n1\n{ROOT_B64}=\n", "want standard base64"),
        (f"{ORIGIN}\n1\n{ROOT_B64.replace('/', '_')}\n", "want standard base64"),
        (f"{ORIGIN}\n1\n {ROOT_B64}\n", "want standard base64"),
        (f"{ORIGIN}\n1\n{base64.b64encode(bytes(31)).decode()}\n", "got 31 bytes, want 32"),
        (f"{ORIGIN}\n1\n{base64.b64encode(bytes(33)).decode()}\n", "got 33 bytes, want 32"),
        (f"{ORIGIN}\n1\n{ROOT_B64}\n\n", re.escape("line 4 (extension): is empty")),
        (f"{ORIGIN}\n1\n{ROOT_B64}\next\n\n", re.escape("line 5 (extension): is empty")),
        (f"{ORIGIN}\n1\n{ROOT_B64}\next\x00\n", "line 4 \\(extension\\): got control"),
    ],
)
def test_parse_checkpoint_rejects(text: str, match: str) -> None:
    with pytest.raises(MalformedInput, match=match):
        parse_checkpoint(text)


def test_parse_checkpoint_rejects_bytes() -> None:
    with pytest.raises(MalformedInput, match="got bytes, want str"):
        parse_checkpoint(b"o\n1\n")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("", 1, ROOT_1041), "checkpoint origin: is empty"),
        (("a\nb", 1, ROOT_1041), "checkpoint origin: got control character '\\\\n'"),
        ((ORIGIN, -1, ROOT_1041), f"tree size: got -1, want 0..{MAX_TREE_SIZE}"),
        ((ORIGIN, 2**64, ROOT_1041), f"tree size: got {2**64}, want"),
        ((ORIGIN, True, ROOT_1041), "tree size: got bool, want int"),
        ((ORIGIN, "1", ROOT_1041), "tree size: got str, want int"),
        ((ORIGIN, 1, ROOT_1041[:31]), "root hash: got 31 bytes, want 32"),
        ((ORIGIN, 1, ROOT_B64), "root hash: got str, want bytes"),
        ((ORIGIN, 1, ROOT_1041, ("",)), "extension line 4: is empty"),
        ((ORIGIN, 1, ROOT_1041, ("a", "b\nc")), "extension line 5: got control"),
        ((ORIGIN, 1, ROOT_1041, "abc"), "extensions: got str, want a tuple of str"),
    ],
)
def test_checkpoint_refuses_values_that_cannot_be_formatted(
    args: tuple[object, ...], match: str
) -> None:
    with pytest.raises(MalformedInput, match=match):
        Checkpoint(*args)  # type: ignore[arg-type]


def test_checkpoint_extensions_list_becomes_tuple() -> None:
    cp = Checkpoint(ORIGIN, 1, ROOT_1041, ["ext"])  # type: ignore[arg-type]
    assert cp.extensions == ("ext",)
    assert hash(cp) == hash(Checkpoint(ORIGIN, 1, ROOT_1041, ("ext",)))


def test_sign_checkpoint_with_rotation_keys() -> None:
    cp = Checkpoint(ORIGIN, 7, ROOT_1041)
    note = sign_checkpoint(cp, [signer("log"), signer("log-next")])
    for keys in [("log",), ("log-next",), ("log", "log-next")]:
        got, opened = open_checkpoint(note, known(*keys), origin=ORIGIN)
        assert got == cp
        assert len(opened.verified) == len(keys)
