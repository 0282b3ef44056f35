"""Encryption of every Temporal payload, so neither Temporal's database nor its UI holds case data.

Temporal stores each workflow input, signal, update, query answer, activity argument and result
(and, with the failure converter installed here, each failure message and stack trace) as a
*payload*. :class:`EncryptionCodec` replaces every payload with one whose data is the original
payload, serialized and sealed with AES-256-GCM under a random 96-bit nonce::

    metadata: encoding = binary/encrypted, encryption-key-id = <key id>
    data:     nonce (12 bytes) || ciphertext || tag (16 bytes)

The associated data binds the key id, so a payload relabelled with another key id does not open.
The original payload's own metadata (its encoding, its message type) is inside the ciphertext.

Keys live in a key file (``DOZVIL_PAYLOAD_KEYS``), one key a line, ``<key-id> <base64 of 32
bytes>``; blank lines and ``#`` comments are ignored. The first line is the *current* key, which
encodes; every line decodes, which is what makes rotation possible (README, "Configuration").
Like the log's signer key, the file is refused if its group or others have any permission. With
no ``DOZVIL_PAYLOAD_KEYS``, ``<data_dir>/payload.keys`` is generated (mode 0600) on first use.

Decoding refuses, with :class:`PayloadDecryptionError`, a payload whose key id is not in the key
file, one whose ciphertext or key id was altered, and one that is not encrypted at all: nothing
passes through in the clear.

The worker and every client take their converter from :func:`data_converter`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import os
import re
import secrets
import shlex
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from runtime.settings import Settings

ENCODING = b"binary/encrypted"
"""``encoding`` metadata of an encrypted payload."""
KEY_ID_METADATA = "encryption-key-id"
"""Metadata entry naming the key that sealed the payload."""

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_FILE_MODE = 0o600
MAX_KEY_FILE_BYTES = 64 * 1024
_AAD_PREFIX = b"dozvil/payload/v1\x00"
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class PayloadCodecError(Exception):
    """Base class of this module's errors."""


class PayloadKeyFileError(PayloadCodecError):
    """The payload key file is missing, unreadable or malformed."""


class InsecurePayloadKeyFile(PayloadKeyFileError):
    """The payload key file lets its group or others access it."""


class PayloadDecryptionError(PayloadCodecError):
    """A payload cannot be decrypted: unknown key id, altered ciphertext, or not encrypted."""


@dataclass(frozen=True)
class PayloadKey:
    """One AES-256-GCM key and its id (the secret never appears in ``repr``)."""

    key_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _KEY_ID.fullmatch(self.key_id):
            raise PayloadKeyFileError(
                f"key id {self.key_id!r}: want 1-64 characters of A-Z a-z 0-9 . _ -, "
                "starting with a letter or digit"
            )
        if len(self.secret) != KEY_BYTES:
            raise PayloadKeyFileError(
                f"key {self.key_id!r}: {len(self.secret)} bytes, want {KEY_BYTES} (AES-256)"
            )

    @classmethod
    def generate(cls, key_id: str) -> PayloadKey:
        return cls(key_id, secrets.token_bytes(KEY_BYTES))

    def line(self) -> str:
        """The key file line for this key: ``<key-id> <base64>``."""
        return f"{self.key_id} {base64.b64encode(self.secret).decode('ascii')}"


class PayloadKeyring:
    """The configured keys: the first encodes, all decode."""

    def __init__(self, keys: Sequence[PayloadKey]) -> None:
        if not keys:
            raise PayloadKeyFileError("no payload keys")
        by_id: dict[str, AESGCM] = {}
        for key in keys:
            if key.key_id in by_id:
                raise PayloadKeyFileError(f"key id {key.key_id!r} appears twice")
            by_id[key.key_id] = AESGCM(key.secret)
        self._current = keys[0].key_id
        self._ciphers = by_id

    @property
    def current_key_id(self) -> str:
        return self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id, the current one first."""
        return tuple(self._ciphers)

    @classmethod
    def parse(cls, text: str, *, source: str = "payload keys") -> PayloadKeyring:
        """Keys from key file text: ``<key-id> <base64 32 bytes>`` lines, first = current."""
        keys: list[PayloadKey] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2:
                raise PayloadKeyFileError(
                    f"{source}: line {number}: want '<key-id> <base64 key>', "
                    f"found {len(parts)} fields"
                )
            key_id, encoded = parts
            try:
                secret = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise PayloadKeyFileError(
                    f"{source}: line {number}: key {key_id!r} is not valid base64"
                ) from None
            try:
                keys.append(PayloadKey(key_id, secret))
            except PayloadKeyFileError as e:
                raise PayloadKeyFileError(f"{source}: line {number}: {e}") from None
        if not keys:
            raise PayloadKeyFileError(f"{source}: no keys, want '<key-id> <base64 key>' lines")
        try:
            return cls(keys)
        except PayloadKeyFileError as e:
            raise PayloadKeyFileError(f"{source}: {e}") from None

    def seal(self, plaintext: bytes) -> tuple[str, bytes]:
        """``(key id, nonce || ciphertext || tag)`` under the current key."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(nonce, plaintext, _aad(self._current))
        return self._current, nonce + sealed

    def open(self, key_id: str, data: bytes) -> bytes:
        """The plaintext of ``data`` sealed under ``key_id``; raises PayloadDecryptionError."""
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptionError(
                f"payload encrypted with unknown key id {key_id!r}; configured key ids: "
                f"{', '.join(self._ciphers)} (was a retired key removed from the key file?)"
            )
        if len(data) < NONCE_BYTES + TAG_BYTES:
            raise PayloadDecryptionError(
                f"encrypted payload (key {key_id!r}) is {len(data)} bytes, too short to hold "
                "a nonce and a tag: truncated or altered"
            )
        try:
            return cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _aad(key_id))
        except InvalidTag:
            raise PayloadDecryptionError(
                f"encrypted payload fails authentication under key {key_id!r}: its ciphertext "
                "or key id was altered, or the key under that id is not the one that sealed it"
            ) from None


def _aad(key_id: str) -> bytes:
    return _AAD_PREFIX + key_id.encode("ascii")


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over whole payloads; see the module docstring for the format.

    With ``require_encryption`` (the default) a payload that is not encrypted is refused on
    decode rather than passed through.
    """

    def __init__(self, keyring: PayloadKeyring, *, require_encryption: bool = True) -> None:
        super().__init__()
        self.keyring = keyring
        self.require_encryption = require_encryption

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encode_one(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decode_one(p) for p in payloads]

    def encode_one(self, payload: Payload) -> Payload:
        key_id, data = self.keyring.seal(payload.SerializeToString(deterministic=True))
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode("ascii")},
            data=data,
        )

    def decode_one(self, payload: Payload) -> Payload:
        encoding = payload.metadata.get("encoding", b"")
        if encoding != ENCODING:
            if not self.require_encryption:
                return payload
            shown = encoding.decode("utf-8", "replace") or "(none)"
            raise PayloadDecryptionError(
                f"payload is not encrypted (encoding {shown!r}, want "
                f"{ENCODING.decode()!r}) and encryption is required: was it written by a "
                "client without Dozvil's data converter?"
            )
        raw_id = payload.metadata.get(KEY_ID_METADATA)
        if raw_id is None:
            raise PayloadDecryptionError(
                f"encrypted payload has no {KEY_ID_METADATA!r} metadata: altered"
            )
        key_id = raw_id.decode("utf-8", "replace")
        plaintext = self.keyring.open(key_id, payload.data)
        try:
            return Payload.FromString(plaintext)
        except DecodeError:
            raise PayloadDecryptionError(
                f"payload decrypted under key {key_id!r} is not a serialized payload"
            ) from None


# Key files ------------------------------------------------------------------------------------


def load_keyring(path: str | os.PathLike[str]) -> PayloadKeyring:
    """The keys in the key file ``path``; refused unless only its owner may access it.

    The mode is checked on the opened descriptor, so the file checked is the file read.
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise PayloadKeyFileError(
            f"{name}: payload key file not found (DOZVIL_PAYLOAD_KEYS names a file that does "
            "not exist)"
        ) from None
    except OSError as e:
        raise PayloadKeyFileError(f"{name}: cannot read payload key file: {e.strerror}") from e
    with os.fdopen(fd, "rb") as f:
        _check_private(name, os.fstat(f.fileno()))
        data = f.read(MAX_KEY_FILE_BYTES + 1)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise PayloadKeyFileError(f"{name}: longer than {MAX_KEY_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadKeyFileError(f"{name}: not UTF-8 text") from None
    return PayloadKeyring.parse(text, source=name)


def write_key_file(path: str | os.PathLike[str], keys: Iterable[PayloadKey]) -> None:
    """Create the key file ``path`` (mode 0600) holding ``keys``, the first being current.

    Atomic and never overwriting: the file is written aside and linked into place, so a reader
    sees either no file or the whole file; an existing ``path`` raises ``FileExistsError``.
    """
    target = Path(path)
    text = "".join(key.line() + "\n" for key in keys)
    PayloadKeyring.parse(text, source=str(target))  # refuse to write what cannot be read back
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, KEY_FILE_MODE)
    try:
        os.fchmod(fd, KEY_FILE_MODE)  # the umask may have taken bits away; never added any
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1
            f.write(
                "# Dozvil payload keys: '<key-id> <base64 32 bytes>', first line = current key.\n"
            )
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, target)
    finally:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def keyring_from_settings(settings: Settings) -> PayloadKeyring:
    """The configured keys; with no ``DOZVIL_PAYLOAD_KEYS``, generate the default file once.

    A file named by ``DOZVIL_PAYLOAD_KEYS`` must exist: a key generated on one machine would
    leave every other worker and client unable to read its payloads.
    """
    path = settings.payload_keys_path
    if settings.payload_keys is None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Several processes may start at once: the first link wins, the others read its file.
        with contextlib.suppress(FileExistsError):
            write_key_file(path, [PayloadKey.generate(f"local-{secrets.token_hex(4)}")])
    return load_keyring(path)


def _check_private(name: str, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise PayloadKeyFileError(f"{name}: not a regular file, want a payload key file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise InsecurePayloadKeyFile(
            f"{name}: payload key file has mode {mode:04o}, which lets group or others "
            f"access it; want 0600 (run: chmod 600 {shlex.quote(name)})"
        )


# Data converters ------------------------------------------------------------------------------


def converter_with_codec(codec: PayloadCodec) -> DataConverter:
    """Pydantic payloads, encoded by ``codec``; failure messages and stack traces go into the
    encoded attributes so they are encrypted too."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter(settings: Settings) -> DataConverter:
    """The data converter of the worker and of every client: pydantic + payload encryption."""
    return converter_with_codec(EncryptionCodec(keyring_from_settings(settings)))
