"""C2SP signed notes with Ed25519 keys (https://c2sp.org/signed-note).

A signed note is a text followed by a blank line and one or more signature lines
(signed-note §Format)::

    dozvil.example/log
    1041
    /GrCByqNDpl498amK5B3v88hLGwWkgLFReZU5ivtMP0=

    — dozvil.example/log HyhHZpvVs0qn0gp70tFgmL3EUPbV…

Each signature line is ``— <key name> base64(key ID || signature)``; the key ID is the first
four bytes of ``SHA-256(key name || 0x0A || 0x01 || public key)`` (signed-note §Signatures,
§Ed25519 signatures). The output is byte-for-byte that of Go's
``golang.org/x/mod/sumdb/note`` (``note.Sign``), and :func:`open_note` accepts and rejects what
``note.Open`` does, with these deliberate, stricter exceptions:

* base64 must be canonical (Go ignores non-zero padding bits, which would let anyone change a
  signature line without changing the signature);
* key names in keys and signatures must not contain ASCII control characters (Go accepts them in
  keys, but no note carrying such a name can ever be opened);
* :func:`sign_note` refuses a text that would give a note :func:`open_note` rejects (Go's
  ``Sign`` only checks the final newline);
* :class:`Verifiers` refuses two different public keys under one name and key ID when it is
  built (Go reports the ambiguity only when such a key signs).

Key strings are Go's: a verifier key is ``<name>+<hash>+base64(0x01 || public key)`` and a
signer key ``PRIVATE+KEY+<name>+<hash>+base64(0x01 || 32-byte seed)``, where ``<hash>`` is the key
ID in eight hex digits. Error messages never repeat the secret part of a signer key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import MalformedInput, UnknownKey, VerificationFailed

ALG_ED25519 = 0x01
"""Signature type identifier of Ed25519 (signed-note §Signature types)."""
KEY_ID_SIZE = 4
ED25519_KEY_SIZE = 32
MAX_SIGNATURES = 100
"""Most signature lines a note may carry, as in Go's ``note.Open`` (signed-note §Format: verifiers
SHOULD apply a limit and MUST accept at least 16)."""

_SIG_PREFIX = "— "  # em dash U+2014, space
_SEPARATOR = "\n\n"
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_HASH_RE = re.compile(r"[0-9A-Fa-f]{8}")  # strconv.ParseUint(s, 16, 32) with len(s) == 8
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f]")
# Go's unicode.IsSpace: the Unicode White_Space property.
_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)


# --- names, key IDs, encodings -------------------------------------------------------------


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 key (signed-note §Ed25519 signatures).

    ``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]``.
    """
    check_key_name(name, "key name")
    if len(public_key) != ED25519_KEY_SIZE:
        raise MalformedInput(
            f"Ed25519 public key: got {len(public_key)} bytes, want {ED25519_KEY_SIZE}"
        )
    data = name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key
    return hashlib.sha256(data).digest()[:KEY_ID_SIZE]


def key_label(name: str, key_id: bytes) -> str:
    """``<name>+<hash>``, the way Go names a key in its errors (``dozvil.example/log+1f284766``)."""
    return f"{name}+{key_id.hex()}"


def check_key_name(name: str, what: str, *, echo: bool = True) -> str:
    """Return ``name`` if it is a valid key name, else raise :class:`MalformedInput`.

    signed-note §Format: non-empty, valid UTF-8, no Unicode space, no ``+``. Stricter than Go:
    no ASCII control character either (§Format forbids them anywhere in a note). With
    ``echo=False`` the message does not repeat the name (it may be part of a secret key).
    """
    if not isinstance(name, str):
        raise MalformedInput(f"{what}: got {type(name).__name__}, want a string")
    if not name:
        raise MalformedInput(f"{what}: key name is empty")
    _require_utf8(name, what)
    bad = next((c for c in name if c in _SPACES or c == "+" or c < " "), None)
    if bad is not None:
        shown = f" {name!r}" if echo else ""
        raise MalformedInput(
            f"{what}: key name{shown} contains {bad!r}, "
            "want no Unicode space, plus sign or control character"
        )
    return name


def _require_utf8(text: str, what: str) -> None:
    """Refuse a string that has no UTF-8 encoding (lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise MalformedInput(f"{what}: not valid UTF-8 ({e.reason} at offset {e.start})") from e


def _check_note_chars(text: str, what: str) -> None:
    """signed-note §Format: valid UTF-8, no ASCII control character other than newline."""
    _require_utf8(text, what)
    bad = _CONTROL_RE.search(text)
    if bad is not None:
        raise MalformedInput(
            f"{what}: control character {bad.group()!r} at offset {bad.start()}, "
            "want none but newline"
        )


def _decode_base64(text: str, what: str) -> bytes:
    """Strict, canonical standard base64 (RFC 4648 §4), padding required."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedInput(f"{what}: not standard base64 ({e})") from e
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedInput(f"{what}: non-canonical base64 (padding bits or padding not standard)")
    return raw


def _encode_base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _parse_key_hash(hash16: str, what: str, *, echo: bool = True) -> bytes:
    """The ``<hash>`` field of a key string: eight hex digits (Go also accepts upper case)."""
    if not _HASH_RE.fullmatch(hash16):
        shown = f" {hash16!r}" if echo else ""
        raise MalformedInput(f"{what}: key hash{shown} is not 8 hex digits")
    return bytes.fromhex(hash16)


def _parse_key_data(key64: str, what: str, secret: bool) -> bytes:
    """The ``<keydata>`` field: base64 of ``0x01 || 32 bytes``; returns the 32 bytes."""
    try:
        raw = _decode_base64(key64, what)
    except MalformedInput:
        if secret:  # never repeat (part of) a private key in a message
            raise MalformedInput(f"{what}: key data is not canonical standard base64") from None
        raise
    if not raw:
        raise MalformedInput(f"{what}: key data is empty")
    if raw[0] != ALG_ED25519:
        raise MalformedInput(
            f"{what}: algorithm got 0x{raw[0]:02x}, want 0x{ALG_ED25519:02x} (Ed25519)"
        )
    if len(raw) - 1 != ED25519_KEY_SIZE:
        raise MalformedInput(
            f"{what}: key got {len(raw) - 1} bytes after the algorithm byte, "
            f"want {ED25519_KEY_SIZE}"
        )
    return raw[1:]


def _check_key_hash(name: str, got: bytes, public_key: bytes, what: str) -> None:
    want = key_id(name, public_key)
    if got != want:
        raise MalformedInput(
            f"{what}: key hash got {got.hex()}, want {want.hex()} "
            "(computed from the name and the public key)"
        )


# --- verifiers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 public key that verifies note signatures by ``name`` with ``key_id``.

    Construction checks that ``key_id`` is the key ID of ``name`` and ``public_key``
    (signed-note §Ed25519 signatures); use :meth:`from_public_key` to compute it.
    """

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        what = "verifier"
        check_key_name(self.name, what)
        if not isinstance(self.public_key, bytes) or len(self.public_key) != ED25519_KEY_SIZE:
            raise MalformedInput(f"{what} {self.name}: public key must be {ED25519_KEY_SIZE} bytes")
        if not isinstance(self.key_id, bytes) or len(self.key_id) != KEY_ID_SIZE:
            raise MalformedInput(f"{what} {self.name}: key ID must be {KEY_ID_SIZE} bytes")
        _check_key_hash(self.name, self.key_id, self.public_key, f"{what} {self.name}")

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes | Ed25519PublicKey) -> Verifier:
        """The verifier of ``name`` for a raw 32-byte (or ``cryptography``) Ed25519 public key."""
        if isinstance(public_key, Ed25519PublicKey):
            public_key = public_key.public_bytes_raw()
        return cls(name, key_id(name, public_key), public_key)

    @classmethod
    def from_vkey(cls, text: str) -> Verifier:
        """Parse a verifier key ``<name>+<hash>+<keydata>`` (inverse of :attr:`vkey`).

        As Go's ``note.NewVerifier``: split at the first two ``+``; ``<hash>`` is eight hex digits
        and must be the key ID of the name and key; ``<keydata>`` is base64 of ``0x01 || key``.
        """
        what = "verifier key"
        if not isinstance(text, str):
            raise MalformedInput(f"{what}: got {type(text).__name__}, want a string")
        if text.startswith(_PRIVATE_PREFIX):
            raise MalformedInput(f"{what}: got a private signer key, want a public verifier key")
        name, _, rest = text.partition("+")
        hash16, _, key64 = rest.partition("+")
        check_key_name(name, what)
        what = f"verifier key {name}"
        got = _parse_key_hash(hash16, what)
        public_key = _parse_key_data(key64, what, secret=False)
        _check_key_hash(name, got, public_key, what)
        return cls(name, got, public_key)

    @property
    def vkey(self) -> str:
        """The verifier key string ``<name>+<hash>+base64(0x01 || public key)``."""
        data = _encode_base64(bytes([ALG_ED25519]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{data}"

    @property
    def label(self) -> str:
        """``<name>+<hash>``."""
        return key_label(self.name, self.key_id)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (without the key ID) is this key's Ed25519 signature of
        ``message`` (RFC 8032 §5.1.7)."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class Verifiers:
    """An immutable set of trusted verifiers, looked up by ``(name, key_id)``.

    Fails closed: an empty set, or two different keys under one name and key ID, is refused.
    """

    __slots__ = ("_by_id",)

    def __init__(self, verifiers: Iterable[Verifier]) -> None:
        by_id: dict[tuple[str, bytes], Verifier] = {}
        for verifier in verifiers:
            if not isinstance(verifier, Verifier):
                raise TypeError(f"got {type(verifier).__name__}, want Verifier")
            known = by_id.setdefault((verifier.name, verifier.key_id), verifier)
            if known != verifier:
                raise MalformedInput(
                    f"ambiguous key {verifier.label}: two different public keys "
                    "have this name and key ID"
                )
        if not by_id:
            raise MalformedInput("no trusted verifier keys given: refusing to trust an empty set")
        self._by_id = MappingProxyType(by_id)

    def get(self, name: str, key_id: bytes) -> Verifier | None:
        """The verifier of ``name`` and ``key_id``, or ``None`` if it is not trusted."""
        return self._by_id.get((name, key_id))

    @property
    def labels(self) -> tuple[str, ...]:
        """``<name>+<hash>`` of every trusted key, sorted."""
        return tuple(sorted(v.label for v in self))

    def __iter__(self) -> Iterator[Verifier]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, item: object) -> bool:
        return isinstance(item, Verifier) and self.get(item.name, item.key_id) == item

    def __repr__(self) -> str:
        return f"Verifiers({', '.join(self.labels)})"


# --- signers ---------------------------------------------------------------------------------


class Signer:
    """An Ed25519 private key that signs notes as ``name`` (signed-note §Ed25519 signatures)."""

    __slots__ = ("_key_id", "_name", "_private_key", "_public_key", "_verifier")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_key_name(name, "signer")
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError(f"got {type(private_key).__name__}, want Ed25519PrivateKey")
        self._name = name
        self._private_key = private_key
        self._public_key = private_key.public_key().public_bytes_raw()
        self._key_id = key_id(name, self._public_key)
        self._verifier = Verifier(name, self._key_id, self._public_key)

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A new random key for ``name``."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, text: str) -> Signer:
        """Parse Go's signer key ``PRIVATE+KEY+<name>+<hash>+<keydata>`` (inverse of :attr:`skey`).

        As Go's ``note.NewSigner``: ``<keydata>`` is base64 of ``0x01 || 32-byte seed`` and
        ``<hash>`` must be the key ID of the name and the public key derived from the seed.
        """
        what = "signer key"
        if not isinstance(text, str):
            raise MalformedInput(f"{what}: got {type(text).__name__}, want a string")
        if not text.startswith(_PRIVATE_PREFIX):
            raise MalformedInput(f"{what}: does not start with {_PRIVATE_PREFIX}")
        # A malformed signer key may have its fields shifted: never repeat a field in a message.
        name, _, rest = text[len(_PRIVATE_PREFIX) :].partition("+")
        hash16, _, key64 = rest.partition("+")
        check_key_name(name, what, echo=False)
        got = _parse_key_hash(hash16, what, echo=False)
        seed = _parse_key_data(key64, what, secret=True)
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        _check_key_hash(name, got, signer._public_key, what)
        return signer

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._key_id

    @property
    def label(self) -> str:
        """``<name>+<hash>``."""
        return key_label(self._name, self._key_id)

    @property
    def skey(self) -> str:
        """Go's signer key string. Secret: whoever holds it can sign as this key."""
        seed = self._private_key.private_bytes_raw()
        data = _encode_base64(bytes([ALG_ED25519]) + seed)
        return f"{_PRIVATE_PREFIX}{self._name}+{self._key_id.hex()}+{data}"

    @property
    def verifier(self) -> Verifier:
        """The public half."""
        return self._verifier

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (RFC 8032 §5.1.6; deterministic)."""
        return self._private_key.sign(message)

    def __repr__(self) -> str:
        return f"Signer({self.label})"


# --- signature lines -------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureLine:
    """One signature line: the key ``name``, 4-byte ``key_id`` and the ``signature`` proper."""

    name: str
    key_id: bytes
    signature: bytes

    @property
    def label(self) -> str:
        """``<name>+<hash>``."""
        return key_label(self.name, self.key_id)

    @property
    def line(self) -> str:
        """``— <name> base64(key ID || signature)`` and a newline (inverse of parsing)."""
        return f"{_SIG_PREFIX}{self.name} {_encode_base64(self.key_id + self.signature)}\n"


def _parse_signature_line(line: str, number: int) -> SignatureLine:
    """Parse one signature line without its newline (signed-note §Signatures)."""
    what = f"note signature line {number}"
    if not line.startswith(_SIG_PREFIX):
        raise MalformedInput(
            f"{what}: got {line[:2]!r} at the start, want {_SIG_PREFIX!r} (em dash, space)"
        )
    name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    check_key_name(name, what)
    if not b64:
        raise MalformedInput(f"{what}: no signature after the key name {name!r}")
    raw = _decode_base64(b64, f"{what} ({name})")
    if len(raw) <= KEY_ID_SIZE:
        raise MalformedInput(
            f"{what} ({name}): signature got {len(raw)} bytes, "
            f"want more than the {KEY_ID_SIZE}-byte key ID"
        )
    return SignatureLine(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def _sign_line(text: bytes, signer: Signer) -> SignatureLine:
    if not isinstance(signer, Signer):
        raise TypeError(f"got {type(signer).__name__}, want Signer")
    return SignatureLine(signer.name, signer.key_id, signer.sign(text))


# --- notes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ParsedNote:
    text: str
    signatures: tuple[SignatureLine, ...]


@dataclass(frozen=True)
class OpenedNote:
    """A note whose signatures by known keys all verified.

    ``verified`` are the keys that signed it (with their lines in ``verified_lines``, in the same
    order); ``unverified`` are the signatures by keys not known (for example witness
    cosignatures), kept but not checked. Both are in note order, without duplicates.
    """

    text: str
    verified: tuple[Verifier, ...]
    unverified: tuple[SignatureLine, ...]
    verified_lines: tuple[SignatureLine, ...] = ()


def _decode_note(note: str | bytes) -> str:
    if isinstance(note, bytes):
        try:
            return note.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedInput(f"note: not valid UTF-8 ({e.reason} at offset {e.start})") from e
    if isinstance(note, str):
        return note
    raise MalformedInput(f"note: got {type(note).__name__}, want str or bytes")


def _parse_note(note: str | bytes) -> _ParsedNote:
    """Split a signed note into its text and signature lines (signed-note §Format)."""
    msg = _decode_note(note)
    _check_note_chars(msg, "note")
    split = msg.rfind(_SEPARATOR)
    if split < 0:
        raise MalformedInput("note: no blank line between the text and the signatures")
    text, block = msg[: split + 1], msg[split + 2 :]
    if not block:
        raise MalformedInput("note: no signature line after the blank line")
    if not block.endswith("\n"):
        raise MalformedInput("note: got no newline at the end, want one after the last signature")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedInput(f"note: got {len(lines)} signatures, want at most {MAX_SIGNATURES}")
    return _ParsedNote(text, tuple(_parse_signature_line(s, i) for i, s in enumerate(lines, 1)))


def _check_text(text: str) -> bytes:
    """A note text that :func:`open_note` will accept back; returns its UTF-8 bytes."""
    if not isinstance(text, str):
        raise MalformedInput(f"note text: got {type(text).__name__}, want str")
    if not text.endswith("\n"):
        raise MalformedInput("note text: got no newline at the end, want one (signed-note §Format)")
    _check_note_chars(text, "note text")
    return text.encode("utf-8")


def _check_signers(signers: Sequence[Signer]) -> None:
    if isinstance(signers, Signer):
        raise TypeError("signers must be a sequence of Signer, not a single Signer")
    if not signers:
        raise MalformedInput("no signers given: a signed note needs at least one signature")


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    """Sign ``text`` with every signer, in order (Go's ``note.Sign`` of a new note).

    ``text`` must be non-empty, end with a newline and hold no control character other than
    newline; it MAY contain empty lines (signed-note §Format).
    """
    data = _check_text(text)
    _check_signers(signers)
    return text + "\n" + "".join(_sign_line(data, s).line for s in signers)


def add_signatures(
    note: str | bytes, signers: Sequence[Signer], *, known: Verifiers | None = None
) -> str:
    """Add signatures to a signed note, keeping the ones it has (for key rotation, cosigning).

    As Go's ``note.Sign`` of an opened note: existing signatures come first, then the new ones;
    an existing signature by the key of a new signer is replaced. With ``known``, the note is
    first opened (and its signatures by known keys verified) and the existing signatures are
    written in :func:`open_note` order, verified ones first, byte-identical to Go's
    ``note.Sign(note.Open(msg, known), signers...)``. Without it, they are kept as they are
    (identical lines once).
    """
    _check_signers(signers)
    if known is None:
        parsed = _parse_note(note)
        text, existing = parsed.text, tuple(dict.fromkeys(parsed.signatures))
    else:
        opened = open_note(note, known)
        text, existing = opened.text, opened.verified_lines + opened.unverified
    data = text.encode("utf-8")
    replaced = {(s.name, s.key_id) for s in signers}
    kept = [sig.line for sig in existing if (sig.name, sig.key_id) not in replaced]
    return text + "\n" + "".join(kept) + "".join(_sign_line(data, s).line for s in signers)


def open_note(note: str | bytes, known: Verifiers) -> OpenedNote:
    """Parse a signed note and verify its signatures by known keys (Go's ``note.Open``).

    signed-note §Signatures: a signature by a key not in ``known`` (name and key ID) is kept in
    :attr:`OpenedNote.unverified`; one by a known key must verify, else
    :class:`VerificationFailed` (``check="note-signature"``); if no known key signed, the note is
    refused with :class:`UnknownKey`. Repeated signatures by one known key are ignored after the
    first, and identical unknown ones kept once, as in Go. A malformed note raises
    :class:`MalformedInput`.
    """
    if not isinstance(known, Verifiers):
        raise TypeError(f"known: got {type(known).__name__}, want Verifiers")
    parsed = _parse_note(note)
    data = parsed.text.encode("utf-8")
    verified: dict[tuple[str, bytes], tuple[Verifier, SignatureLine]] = {}
    unverified: dict[SignatureLine, None] = {}
    for sig in parsed.signatures:
        verifier = known.get(sig.name, sig.key_id)
        if verifier is None:
            unverified.setdefault(sig)
        elif (sig.name, sig.key_id) not in verified:
            if not verifier.verify(data, sig.signature):
                raise VerificationFailed(
                    "note-signature",
                    f"invalid signature by key {sig.label}: it does not verify over the note text",
                )
            verified[sig.name, sig.key_id] = (verifier, sig)
    if not verified:
        raise UnknownKey(
            "note has no verifiable signature: got signatures by "
            f"{', '.join(s.label for s in unverified)}, want one by {', '.join(known.labels)}"
        )
    return OpenedNote(
        text=parsed.text,
        verified=tuple(v for v, _ in verified.values()),
        unverified=tuple(unverified),
        verified_lines=tuple(s for _, s in verified.values()),
    )
