"""The QR payload: the licence document as compact, versioned text.

::

    payload = "DZL1:" + base45(zlib(RFC8785(packed document)))

- ``DZL1:`` names the format and its version; a reader refuses any other prefix.
- The packed document is the JSON document (:class:`licence.document.Document`) with each
  entry ``body`` of the receipt (``receipt.entries[*].body`` and
  ``receipt.key_rotations[*].entry.body``) carried as its UTF-8 text instead of base64: the
  body is JSON, which zlib compresses well, and base64 hides that from it. Unpacking restores
  the standard base64 spelling, byte for byte.
- Base45 (RFC 9285) uses exactly the QR code's alphanumeric alphabet, so the code stores it at
  5.5 bits a character instead of 8 (the EU Digital COVID Certificate's ``HC1:`` does the
  same). No payload ends in a space: a full group's last character is at most ``W`` (32), a
  final single byte's at most ``5``.

Decoding fails closed, each failure a :class:`PayloadError` whose ``check`` names it:
``payload-prefix``, ``payload-base45``, ``payload-zlib``, ``payload-too-large`` (the text is
over :data:`MAX_TEXT_CHARS` or inflates past :data:`MAX_JSON_BYTES`), ``payload-json``
(not UTF-8 JSON, duplicate keys, NaN) and ``payload-shape``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from copy import deepcopy
from typing import Any, NoReturn

from ledger.canonical import canonicalize
from ledger.encoding import decode_base64, encode_base64
from ledger.errors import MalformedInput
from licence.document import Document, LicenceDocumentError, unique_members

PREFIX = "DZL1:"
#: The QR alphanumeric alphabet, in RFC 9285's order (value = index).
BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
#: A payload longer than this is refused unread (a version-40 QR code holds 4,296 characters).
MAX_TEXT_CHARS = 16 * 1024
#: The packed JSON may inflate to at most this many bytes (a real one is about 2-3 KiB).
MAX_JSON_BYTES = 64 * 1024

_VALUE = {c: i for i, c in enumerate(BASE45_ALPHABET)}


class PayloadError(LicenceDocumentError):
    """A payload that does not decode; ``check`` is one of the ``payload-*`` names above."""


def _fail(check: str, message: str) -> NoReturn:
    raise PayloadError(check, message)


# -- base45 (RFC 9285) -----------------------------------------------------------------------


def base45_encode(data: bytes) -> str:
    """RFC 9285 §4: each two bytes as three characters, a final byte as two."""
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        out += (BASE45_ALPHABET[n % 45], BASE45_ALPHABET[n // 45 % 45], BASE45_ALPHABET[n // 2025])
    if len(data) % 2:
        n = data[-1]
        out += (BASE45_ALPHABET[n % 45], BASE45_ALPHABET[n // 45])
    return "".join(out)


def base45_decode(text: str) -> bytes:
    """Inverse of :func:`base45_encode`; refuses what it would never produce.

    Raises ``PayloadError("payload-base45")`` for a character outside the alphabet, a length
    that leaves one character over, or a group whose value is too large for its bytes.
    """
    values: list[int] = []
    for i, char in enumerate(text):
        value = _VALUE.get(char)
        if value is None:
            _fail("payload-base45", f"character {char!r} at {i} is not in the base45 alphabet")
        values.append(value)
    if len(values) % 3 == 1:
        _fail("payload-base45", f"{len(values)} characters: one left over after the groups")
    out = bytearray()
    for i in range(0, len(values), 3):
        group = values[i : i + 3]
        n = sum(v * 45**k for k, v in enumerate(group))
        if len(group) == 3:
            if n > 0xFFFF:
                _fail("payload-base45", f"group at {i} is {n}, more than two bytes hold")
            out += n.to_bytes(2, "big")
        else:
            if n > 0xFF:
                _fail("payload-base45", f"final group at {i} is {n}, more than a byte holds")
            out.append(n)
    return bytes(out)


# -- packing ---------------------------------------------------------------------------------


def _bodies(receipt: dict[str, Any], check: str) -> list[dict[str, Any]]:
    """The receipt's proved entries (each a dict with a ``body``), in payload order."""
    entries, rotations = receipt.get("entries"), receipt.get("key_rotations")
    if not isinstance(entries, list) or not isinstance(rotations, list):
        _fail(check, "receipt: entries and key_rotations must be lists")
    items: list[dict[str, Any]] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("body"), str):
            _fail(check, f"receipt: entries[{i}] has no body string")
        items.append(entry)
    for i, rotation in enumerate(rotations):
        entry = rotation.get("entry") if isinstance(rotation, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("body"), str):
            _fail(check, f"receipt: key_rotations[{i}].entry has no body string")
        items.append(entry)
    return items


def _with_bodies(
    receipt: dict[str, Any], convert: Callable[[str], str], check: str
) -> dict[str, Any]:
    """A copy of ``receipt`` with each entry body replaced by ``convert(body)``."""
    copy = deepcopy(receipt)
    for item in _bodies(copy, check):
        item["body"] = convert(item["body"])
    return copy


def _body_text(body: str) -> str:
    try:
        return decode_base64(body, "receipt entry body").decode("utf-8")
    except (MalformedInput, UnicodeDecodeError) as exc:
        raise MalformedInput(f"cannot pack the document: {exc}") from exc


def _body_base64(text: str) -> str:
    return encode_base64(text.encode("utf-8"))


def encode(document: Document) -> str:
    """The payload text of ``document``.

    Raises :class:`MalformedInput` when the receipt has no entry bodies to pack or a body is
    not base64 of UTF-8 text (which no body the ledger wrote is).
    """
    try:
        packed = _with_bodies(document.receipt, _body_text, "document-shape")
    except PayloadError as exc:
        raise MalformedInput(f"cannot pack the document: {exc.detail}") from exc
    raw = canonicalize({**document.to_json(), "receipt": packed})
    return PREFIX + base45_encode(zlib.compress(raw, 9))


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, MAX_JSON_BYTES + 1)
    except zlib.error as exc:
        _fail("payload-zlib", f"not a zlib stream: {exc}")
    if len(raw) > MAX_JSON_BYTES:
        _fail("payload-too-large", f"inflates past {MAX_JSON_BYTES} bytes")
    if not inflater.eof:
        _fail("payload-zlib", "the zlib stream is truncated")
    if inflater.unused_data:
        _fail("payload-zlib", f"{len(inflater.unused_data)} bytes after the zlib stream")
    return raw


def _no_constant(name: str) -> NoReturn:
    _fail("payload-json", f"{name} is not JSON")


def decode(text: str) -> Document:
    """The document a payload carries; raises :class:`PayloadError` naming the fault.

    ``text`` must be exactly the payload (what a QR scanner returns); callers reading a file
    strip the line ending first.
    """
    if not isinstance(text, str):
        _fail("payload-prefix", f"got {type(text).__name__}, want payload text")
    if len(text) > MAX_TEXT_CHARS:
        _fail("payload-too-large", f"{len(text)} characters, at most {MAX_TEXT_CHARS}")
    if not text.startswith(PREFIX):
        head = text[:5]
        if text.startswith("DZL") and ":" in text[:8]:
            _fail("payload-prefix", f"unsupported version {text.split(':')[0]!r}, want 'DZL1'")
        _fail("payload-prefix", f"starts with {head!r}, want {PREFIX!r}")
    raw = _inflate(base45_decode(text[len(PREFIX) :]))
    try:
        obj = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=unique_members(PayloadError, "payload-json"),
            parse_constant=_no_constant,
        )
    except UnicodeDecodeError as exc:
        _fail("payload-json", f"not UTF-8: {exc}")
    except json.JSONDecodeError as exc:
        _fail("payload-json", f"not JSON: {exc}")
    try:
        packed = Document.from_json(obj, check="payload-shape")
    except LicenceDocumentError as exc:
        raise PayloadError(exc.check, exc.detail) from None
    receipt = _with_bodies(packed.receipt, _body_base64, "payload-shape")
    return Document(packed.licence_number, receipt, packed.openings)
