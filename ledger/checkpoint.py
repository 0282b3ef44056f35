"""C2SP transparency-log checkpoints (https://c2sp.org/tlog-checkpoint).

A checkpoint is the signed tree head of the log: a signed note (c2sp.org/signed-note) whose text
is (tlog-checkpoint §Note text)::

    <origin>
    <tree size, decimal>
    <root hash, base64>
    [<extension line>...]

:func:`format_checkpoint` and :func:`parse_checkpoint` are inverse: every :class:`Checkpoint`
formats to exactly one text, and :func:`parse_checkpoint` accepts that text and nothing else.
:func:`sign_checkpoint` and :func:`open_checkpoint` add and check the signatures.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ledger.errors import MalformedInput, VerificationFailed
from ledger.note import OpenedNote, Signer, Verifiers, open_note, sign_note

HASH_SIZE = 32
"""Bytes in an RFC 6962 / RFC 9162 root hash (SHA-256)."""
MAX_TREE_SIZE = 2**64 - 1
"""Largest tree size accepted: an unsigned 64-bit integer, as in Go's tlog tooling."""

_SIZE_RE = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_CONTROL_RE = re.compile(r"[\x00-\x1f]")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's ``origin``, the tree ``size`` and its ``root_hash``.

    ``extensions`` are the optional extension lines (tlog-checkpoint §Note text: opaque, non-empty,
    NOT RECOMMENDED). Construction refuses values that cannot be formatted.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.extensions, list):
            object.__setattr__(self, "extensions", tuple(self.extensions))
        _check_line(self.origin, "checkpoint origin")
        _check_size(self.size)
        _check_root(self.root_hash)
        if not isinstance(self.extensions, tuple):
            raise MalformedInput(
                f"checkpoint extensions: got {type(self.extensions).__name__}, want a tuple of str"
            )
        for number, line in enumerate(self.extensions, 4):
            _check_line(line, f"checkpoint extension line {number}")


def _check_line(line: str, what: str) -> None:
    """A non-empty line of a note text: UTF-8, no newline or other control character."""
    if not isinstance(line, str):
        raise MalformedInput(f"{what}: got {type(line).__name__}, want str")
    if not line:
        raise MalformedInput(f"{what}: is empty, want a non-empty line")
    bad = _CONTROL_RE.search(line)
    if bad is not None:
        raise MalformedInput(
            f"{what}: got control character {bad.group()!r} at offset {bad.start()}, want none"
        )
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as e:
        raise MalformedInput(f"{what}: not valid UTF-8 ({e.reason} at offset {e.start})") from e


def _check_size(size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool):
        raise MalformedInput(f"checkpoint tree size: got {type(size).__name__}, want int")
    if not 0 <= size <= MAX_TREE_SIZE:
        raise MalformedInput(f"checkpoint tree size: got {size}, want 0..{MAX_TREE_SIZE}")


def _check_root(root_hash: bytes) -> None:
    if not isinstance(root_hash, bytes):
        raise MalformedInput(f"checkpoint root hash: got {type(root_hash).__name__}, want bytes")
    if len(root_hash) != HASH_SIZE:
        raise MalformedInput(f"checkpoint root hash: got {len(root_hash)} bytes, want {HASH_SIZE}")


def format_checkpoint(cp: Checkpoint) -> str:
    """The note text of ``cp`` (tlog-checkpoint §Note text); inverse of :func:`parse_checkpoint`."""
    root = base64.b64encode(cp.root_hash).decode("ascii")
    return "".join(f"{line}\n" for line in (cp.origin, str(cp.size), root, *cp.extensions))


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint note text, strictly (tlog-checkpoint §Note text).

    At least three lines, each ending with a newline: a non-empty origin; the tree size in ASCII
    decimal without sign or leading zeros; the root hash as canonical standard base64 of exactly
    32 bytes; then non-empty extension lines. Anything else raises :class:`MalformedInput`.
    """
    if not isinstance(text, str):
        raise MalformedInput(f"checkpoint: got {type(text).__name__}, want str")
    if not text.endswith("\n"):
        raise MalformedInput("checkpoint: got no newline at the end, want one after every line")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedInput(
            f"checkpoint: got {len(lines)} line(s), want at least 3 (origin, tree size, root hash)"
        )
    origin, size, root, *extensions = lines
    _check_line(origin, "checkpoint line 1 (origin)")
    for number, line in enumerate(extensions, 4):
        _check_line(line, f"checkpoint line {number} (extension)")
    return Checkpoint(origin, _parse_size(size), _parse_root(root), tuple(extensions))


def checkpoint_in(note: str) -> Checkpoint:
    """The checkpoint a signed note carries (the text before its blank line), signatures not
    checked: for sizes and roots of notes checked elsewhere or to be checked next."""
    return parse_checkpoint(note.partition("\n\n")[0] + "\n")


def _parse_size(line: str) -> int:
    if not _SIZE_RE.fullmatch(line):
        raise MalformedInput(
            f"checkpoint line 2 (tree size): got {line!r}, "
            "want a decimal number without sign or leading zeros"
        )
    size = int(line)
    if size > MAX_TREE_SIZE:
        raise MalformedInput(
            f"checkpoint line 2 (tree size): got {size}, want at most {MAX_TREE_SIZE}"
        )
    return size


def _parse_root(line: str) -> bytes:
    what = "checkpoint line 3 (root hash)"
    try:
        root = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedInput(f"{what}: got {line!r}, want standard base64 ({e})") from e
    if base64.b64encode(root).decode("ascii") != line:
        raise MalformedInput(f"{what}: got {line!r}, want canonical standard base64")
    if len(root) != HASH_SIZE:
        raise MalformedInput(f"{what}: got {len(root)} bytes, want {HASH_SIZE}")
    return root


def sign_checkpoint(cp: Checkpoint, signers: Sequence[Signer]) -> str:
    """``cp`` as a signed note, signed by every signer in order (tlog-checkpoint §Signatures)."""
    return sign_note(format_checkpoint(cp), signers)


def open_checkpoint(
    note: str | bytes, known: Verifiers, origin: str | None = None
) -> tuple[Checkpoint, OpenedNote]:
    """Verify a signed checkpoint with :func:`ledger.note.open_note` and parse its text.

    With ``origin``, the checkpoint must be for that log, else
    :class:`VerificationFailed` (``check="checkpoint-origin"``).
    """
    opened = open_note(note, known)
    cp = parse_checkpoint(opened.text)
    if origin is not None and cp.origin != origin:
        raise VerificationFailed("checkpoint-origin", f"got {cp.origin!r}, want {origin!r}")
    return cp, opened
