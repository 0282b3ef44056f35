"""Key registries folded from ledger entries: actor keys and the log's own key history.

Actor keys (see "Actor keys" in the design brief) are registered, rotated and revoked by
log-level entries (``case_id`` null), so an auditor holding only the log's public key can tell,
for every entry, which actor keys were in force. The events and their ``data``::

    actor_key.register  {"actor_id", "role", "key_id", "public_key"}
    actor_key.rotate    {"actor_id", "old_key_id", "key_id", "public_key"}
    actor_key.revoke    {"actor_id", "key_id", "reason"}
    log_key.rotate      {"old_vkey", "new_vkey"}

``public_key`` is the standard base64 (with padding) of the 32 raw Ed25519 public key bytes and
``key_id`` is :func:`actor_key_id` of those bytes. A rotation revokes the old key from the
rotation entry's ``seq`` on and registers the new one (same actor, same role) at that ``seq``.

Key ids are unique across the whole log: a key id is registered once and, once revoked, never
comes back. :class:`KeyRegistry` refuses anything else with
``VerificationFailed(check="key-registry")`` and is left unchanged by a refused entry.

Validity at a point of the log. A key is *in force at entry* ``s`` when it was registered by an
entry before ``s`` (``registered_seq < s``) and not revoked by an entry up to ``s``
(``revoked_seq is None or s < revoked_seq``): a statement carried by the very entry that revokes
or rotates a key away cannot be signed by that key. Without a point (``at_seq=None``) the
question is asked of the registry as folded so far: registered and not revoked.

:class:`LogKeyHistory` folds ``log_key.rotate`` entries. The verifier key strings are C2SP
signed-note verifier keys (``name+hash+base64``), kept here as opaque strings.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.encoding import decode_base64, encode_base64
from ledger.entry import Entry, check_name
from ledger.errors import MalformedInput, UnknownKey, VerificationFailed

ACTOR_KEY_REGISTER = "actor_key.register"
ACTOR_KEY_ROTATE = "actor_key.rotate"
ACTOR_KEY_REVOKE = "actor_key.revoke"
REGISTRY_EVENTS = frozenset({ACTOR_KEY_REGISTER, ACTOR_KEY_ROTATE, ACTOR_KEY_REVOKE})
"""The events that change the actor key registry."""
LOG_KEY_ROTATE = "log_key.rotate"

#: Every event this module folds.
KEY_EVENTS = frozenset({ACTOR_KEY_REGISTER, ACTOR_KEY_ROTATE, ACTOR_KEY_REVOKE, LOG_KEY_ROTATE})

#: The reason recorded on a key that an ``actor_key.rotate`` entry replaced.
ROTATED_REASON = "rotated"

ACTOR_KEY_DOMAIN = b"dozvil-actor-key-v1\n"
PUBLIC_KEY_SIZE = 32
KEY_ID_HEX_DIGITS = 16
MAX_REASON_CHARS = 1024
MAX_VKEY_CHARS = 1024

_KEY_ID = re.compile(r"[0-9a-f]{16}")

_REGISTER_FIELDS = frozenset({"actor_id", "role", "key_id", "public_key"})
_ROTATE_FIELDS = frozenset({"actor_id", "old_key_id", "key_id", "public_key"})
_REVOKE_FIELDS = frozenset({"actor_id", "key_id", "reason"})
_LOG_ROTATE_FIELDS = frozenset({"old_vkey", "new_vkey"})

REGISTRY_CHECK = "key-registry"
LOG_KEY_CHECK = "log-key-history"


# --- key ids and public keys -------------------------------------------------------------------


def actor_key_id(public_key: bytes) -> str:
    """16 lowercase hex digits of ``SHA-256(b"dozvil-actor-key-v1\\n" || public_key)``.

    Raises :class:`MalformedInput` unless ``public_key`` is 32 raw bytes.
    """
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_SIZE:
        got = len(public_key) if isinstance(public_key, bytes) else type(public_key).__name__
        raise MalformedInput(f"actor public key: got {got} bytes, want {PUBLIC_KEY_SIZE} raw bytes")
    return hashlib.sha256(ACTOR_KEY_DOMAIN + public_key).hexdigest()[:KEY_ID_HEX_DIGITS]


def check_key_id(value: object) -> str:
    """A key id: exactly 16 lowercase hex digits (the form :func:`actor_key_id` returns)."""
    if not isinstance(value, str) or not _KEY_ID.fullmatch(value):
        raise MalformedInput(f"key id: got {value!r}, want 16 lowercase hex digits")
    return value


def raw_public_key(public_key: bytes | Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key given as bytes or a ``cryptography`` key."""
    if isinstance(public_key, Ed25519PublicKey):
        return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    actor_key_id(public_key)  # checks the length
    return public_key


def encode_public_key(public_key: bytes | Ed25519PublicKey) -> str:
    """Standard base64 (with padding) of the raw public key, as entries carry it."""
    return encode_base64(raw_public_key(public_key))


def decode_public_key(text: object) -> bytes:
    """Inverse of :func:`encode_public_key`; refuses anything but canonical base64 of 32 bytes."""
    return decode_base64(text, "public key", size=PUBLIC_KEY_SIZE)


# --- data builders -----------------------------------------------------------------------------


def register_data(actor_id: str, role: str, public_key: bytes | Ed25519PublicKey) -> dict[str, Any]:
    """``data`` of an ``actor_key.register`` entry; the key id is derived from the key."""
    raw = raw_public_key(public_key)
    return {
        "actor_id": check_name("actor id", actor_id),
        "role": check_name("role", role),
        "key_id": actor_key_id(raw),
        "public_key": encode_public_key(raw),
    }


def rotate_data(
    actor_id: str, old_key_id: str, public_key: bytes | Ed25519PublicKey
) -> dict[str, Any]:
    """``data`` of an ``actor_key.rotate`` entry replacing ``old_key_id`` by ``public_key``."""
    raw = raw_public_key(public_key)
    return {
        "actor_id": check_name("actor id", actor_id),
        "old_key_id": check_key_id(old_key_id),
        "key_id": actor_key_id(raw),
        "public_key": encode_public_key(raw),
    }


def revoke_data(actor_id: str, key_id: str, reason: str) -> dict[str, Any]:
    """``data`` of an ``actor_key.revoke`` entry."""
    return {
        "actor_id": check_name("actor id", actor_id),
        "key_id": check_key_id(key_id),
        "reason": _check_text("reason", reason, MAX_REASON_CHARS),
    }


def log_key_rotate_data(old_vkey: str, new_vkey: str) -> dict[str, Any]:
    """``data`` of a ``log_key.rotate`` entry (verifier key strings, not parsed here)."""
    old = _check_text("old_vkey", old_vkey, MAX_VKEY_CHARS)
    new = _check_text("new_vkey", new_vkey, MAX_VKEY_CHARS)
    if old == new:
        raise MalformedInput(f"log key rotation: new_vkey equals old_vkey {old!r}")
    return {"old_vkey": old, "new_vkey": new}


def _check_text(name: str, value: object, limit: int) -> str:
    """A non-empty string of at most ``limit`` characters."""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise MalformedInput(f"{name}: got {value!r}, want a string of 1-{limit} characters")
    return value


# --- actor keys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActorKey:
    """One registered actor key and its life in the log.

    ``registered_seq`` is the entry that registered it (``actor_key.register`` or the
    ``actor_key.rotate`` that introduced it); ``revoked_seq`` the entry that revoked or rotated
    it away, with ``revoke_reason`` (:data:`ROTATED_REASON` for a rotation).
    """

    actor_id: str
    role: str
    key_id: str
    public_key: bytes
    registered_seq: int
    revoked_seq: int | None = None
    revoke_reason: str | None = None

    def in_force(self, at_seq: int | None = None) -> bool:
        """True when the key may sign a statement carried by entry ``at_seq`` (see module doc)."""
        if at_seq is None:
            return self.revoked_seq is None
        registered = self.registered_seq < at_seq
        return registered and (self.revoked_seq is None or at_seq < self.revoked_seq)

    def verifier(self) -> Ed25519PublicKey:
        """The ``cryptography`` public key object for signature checks."""
        return Ed25519PublicKey.from_public_bytes(self.public_key)


class RevokedKey(UnknownKey):
    """A key that is registered for the actor but revoked (or rotated away) at that point.

    A subclass of :class:`UnknownKey`, so callers that only ask "may this key sign?" catch one
    class; :mod:`ledger.statements` tells the two apart (``unknown-key`` / ``revoked-key``).
    """

    def __init__(self, key: ActorKey, message: str) -> None:
        super().__init__(message)
        self.key = key


class KeyRegistry:
    """Actor keys folded from ledger entries, applied in ``seq`` order.

    Build it with :meth:`apply` per entry (non-key events are ignored but their order is still
    checked) or :meth:`from_entries`; ask it with :meth:`lookup` (fail closed: raises unless the
    key may sign) or :meth:`get` (any key ever registered, revoked or not).
    """

    def __init__(self) -> None:
        self._keys: dict[str, ActorKey] = {}
        self._last_seq: int | None = None

    def copy(self) -> KeyRegistry:
        """An independent registry in the same state, to try entries on (keys are immutable)."""
        other = KeyRegistry()
        other._keys = dict(self._keys)
        other._last_seq = self._last_seq
        return other

    @classmethod
    def from_entries(cls, entries: Iterable[Entry]) -> KeyRegistry:
        """A registry with every entry of ``entries`` applied in order."""
        registry = cls()
        for entry in entries:
            registry.apply(entry)
        return registry

    @property
    def last_seq(self) -> int | None:
        """The ``seq`` of the last entry applied, or ``None`` before the first."""
        return self._last_seq

    def apply(self, entry: Entry) -> None:
        """Fold one entry; raise ``VerificationFailed(check="key-registry")`` if inconsistent.

        A refused entry leaves the registry unchanged.
        """
        _check_order(entry, self._last_seq, REGISTRY_CHECK)
        if entry.event in REGISTRY_EVENTS:
            _check_log_level(entry, REGISTRY_CHECK)
            changes = self._changes(entry)
            self._keys.update({key.key_id: key for key in changes})
        self._last_seq = entry.seq

    def _changes(self, entry: Entry) -> list[ActorKey]:
        """The new or replaced keys an entry makes, after every check has passed."""
        try:
            if entry.event == ACTOR_KEY_REGISTER:
                return [self._register(entry)]
            if entry.event == ACTOR_KEY_ROTATE:
                return self._rotate(entry)
            return [self._revoke(entry)]
        except MalformedInput as exc:
            raise _registry_error(entry, f"{entry.event} data: {exc}") from exc

    def _register(self, entry: Entry) -> ActorKey:
        data = _exact_fields(entry, _REGISTER_FIELDS)
        return self._new_key(entry, data, role=check_name("role", data["role"]))

    def _rotate(self, entry: Entry) -> list[ActorKey]:
        data = _exact_fields(entry, _ROTATE_FIELDS)
        old = self._live_key(entry, data["actor_id"], data["old_key_id"])
        new = self._new_key(entry, data, role=old.role)
        revoked = replace(old, revoked_seq=entry.seq, revoke_reason=ROTATED_REASON)
        return [revoked, new]

    def _revoke(self, entry: Entry) -> ActorKey:
        data = _exact_fields(entry, _REVOKE_FIELDS)
        reason = _check_text("reason", data["reason"], MAX_REASON_CHARS)
        old = self._live_key(entry, data["actor_id"], data["key_id"])
        return replace(old, revoked_seq=entry.seq, revoke_reason=reason)

    def _new_key(self, entry: Entry, data: dict[str, Any], *, role: str) -> ActorKey:
        """A key to register from ``data``: fresh id, id matching the public key."""
        actor_id = check_name("actor id", data["actor_id"])
        key_id = check_key_id(data["key_id"])
        public_key = decode_public_key(data["public_key"])
        derived = actor_key_id(public_key)
        if key_id != derived:
            raise _registry_error(
                entry, f"key_id does not match public_key: got {key_id}, want {derived}"
            )
        existing = self._keys.get(key_id)
        if existing is not None:
            raise _registry_error(
                entry,
                f"key {key_id} registered twice: got a new registration for actor {actor_id!r}, "
                f"want none (first registered for actor {existing.actor_id!r} "
                f"at entry {existing.registered_seq})",
            )
        return ActorKey(actor_id, role, key_id, public_key, registered_seq=entry.seq)

    def _live_key(self, entry: Entry, actor_id: object, key_id: object) -> ActorKey:
        """The registered, unrevoked key an entry rotates or revokes."""
        actor = check_name("actor id", actor_id)
        kid = check_key_id(key_id)
        key = self._keys.get(kid)
        if key is None:
            raise _registry_error(
                entry, f"{entry.event} of key {kid}: got an unknown key, want a registered one"
            )
        if key.actor_id != actor:
            raise _registry_error(
                entry,
                f"{entry.event} of key {kid}: got actor {actor!r}, want its owner {key.actor_id!r}",
            )
        if key.revoked_seq is not None:
            raise _registry_error(
                entry,
                f"{entry.event} of key {kid}: got a key already revoked at entry "
                f"{key.revoked_seq}, want a key in force",
            )
        return key

    def get(self, key_id: str) -> ActorKey | None:
        """Any key ever registered under ``key_id`` (revoked or not), else ``None``."""
        return self._keys.get(key_id)

    def keys_of(self, actor_id: str, at_seq: int | None = None) -> list[ActorKey]:
        """The keys of ``actor_id`` in force at ``at_seq`` (see module doc), by key id."""
        return sorted(
            (k for k in self._keys.values() if k.actor_id == actor_id and k.in_force(at_seq)),
            key=lambda k: k.key_id,
        )

    def lookup(self, actor_id: str, key_id: str, *, at_seq: int | None = None) -> ActorKey:
        """The key ``key_id`` of ``actor_id``, if it may sign at ``at_seq``. Fail closed.

        Raises :class:`UnknownKey` when the key id was never registered for that actor (or not
        yet, at ``at_seq``), and :class:`RevokedKey` (a subclass) when it was registered but is
        revoked or rotated away at that point. Both messages name the key, the actor and the
        keys that are in force.
        """
        key = self._keys.get(key_id)
        wanted = [k.key_id for k in self.keys_of(actor_id, at_seq)]
        where = "now" if at_seq is None else f"at entry {at_seq}"
        if key is None or key.actor_id != actor_id:
            raise UnknownKey(
                f"key {key_id!r} of actor {actor_id!r}: got a key id never registered for "
                f"this actor, want one of its keys in force {where}: {wanted}"
            )
        if at_seq is not None and key.registered_seq >= at_seq:
            raise UnknownKey(
                f"key {key_id!r} of actor {actor_id!r}: got a key registered only at entry "
                f"{key.registered_seq}, want one of its keys in force {where}: {wanted}"
            )
        if not key.in_force(at_seq):
            raise RevokedKey(
                key,
                f"key {key_id!r} of actor {actor_id!r}: got a key revoked at entry "
                f"{key.revoked_seq} ({key.revoke_reason}), want one of its keys in force "
                f"{where}: {wanted}",
            )
        return key


# --- the log's key history ---------------------------------------------------------------------


class LogKeyHistory:
    """The log's verifier keys over time, folded from ``log_key.rotate`` entries.

    ``history`` is a list of ``(vkey, from_size)``: ``vkey`` signs every checkpoint of tree
    size ``from_size`` or more until the next element takes over. The initial key has
    ``from_size`` 0; a rotation in entry ``seq`` adds ``(new_vkey, seq + 1)``, the first tree
    that contains the rotation. The checkpoint of exactly that size is signed by both the old
    and the new key (:meth:`keys_for_checkpoint`).

    The answers hold only if every ``log_key.rotate`` entry below the asked size was applied.
    """

    def __init__(self, initial_vkey: str) -> None:
        self._history: list[tuple[str, int]] = [
            (_check_text("initial vkey", initial_vkey, MAX_VKEY_CHARS), 0)
        ]
        self._last_seq: int | None = None

    @property
    def current(self) -> str:
        """The verifier key in force after every entry applied so far."""
        return self._history[-1][0]

    @property
    def history(self) -> list[tuple[str, int]]:
        """A copy of ``[(vkey, from_size), ...]``, oldest first."""
        return list(self._history)

    def apply(self, entry: Entry) -> None:
        """Fold one entry (others than ``log_key.rotate`` only have their order checked).

        Raises ``VerificationFailed(check="log-key-history")`` when the rotation does not start
        from the current key, reuses an earlier key, or is malformed.
        """
        _check_order(entry, self._last_seq, LOG_KEY_CHECK)
        if entry.event == LOG_KEY_ROTATE:
            _check_log_level(entry, LOG_KEY_CHECK)
            self._history.append((self._rotation(entry), entry.seq + 1))
        self._last_seq = entry.seq

    def _rotation(self, entry: Entry) -> str:
        """The new vkey of a rotation entry, after every check."""
        try:
            data = _exact_fields(entry, _LOG_ROTATE_FIELDS, check=LOG_KEY_CHECK)
            log_key_rotate_data(data["old_vkey"], data["new_vkey"])
        except MalformedInput as exc:
            raise VerificationFailed(
                LOG_KEY_CHECK, f"{entry.event} data: {exc}", seq=entry.seq
            ) from exc
        if data["old_vkey"] != self.current:
            raise VerificationFailed(
                LOG_KEY_CHECK,
                f"rotation old_vkey: got {data['old_vkey']!r}, want the current key "
                f"{self.current!r}",
                seq=entry.seq,
            )
        new: str = data["new_vkey"]
        if any(new == vkey for vkey, _ in self._history):
            raise VerificationFailed(
                LOG_KEY_CHECK,
                f"rotation new_vkey: got {new!r}, which was in use before; want a fresh key",
                seq=entry.seq,
            )
        return new

    def keys_for_checkpoint(self, size: int) -> frozenset[str]:
        """The verifier keys that must all have signed the checkpoint of tree size ``size``.

        That is the key in force after entries ``[0, size)``; when entry ``size - 1`` is a
        ``log_key.rotate``, the key it replaced as well.
        """
        if type(size) is not int or size < 0:
            raise MalformedInput(f"tree size: got {size!r}, want a non-negative integer")
        keys: set[str] = set()
        for index, (vkey, from_size) in enumerate(self._history):
            if from_size > size:
                break
            keys = {vkey}
            if index > 0 and from_size == size:
                keys.add(self._history[index - 1][0])
        return frozenset(keys)


# --- shared checks -----------------------------------------------------------------------------


def _registry_error(entry: Entry, message: str) -> VerificationFailed:
    return VerificationFailed(REGISTRY_CHECK, message, seq=entry.seq, case_id=entry.case_id)


def _check_order(entry: Entry, last_seq: int | None, check: str) -> None:
    """Entries are folded in strictly increasing ``seq`` order (gaps allowed)."""
    if last_seq is not None and entry.seq <= last_seq:
        raise VerificationFailed(
            check,
            f"entries out of order: got seq {entry.seq}, want more than {last_seq}",
            seq=entry.seq,
            case_id=entry.case_id,
        )


def _check_log_level(entry: Entry, check: str) -> None:
    """Key events belong to the log, not to a case."""
    if entry.case_id is not None:
        raise VerificationFailed(
            check,
            f"{entry.event} is a log-level event: got case_id {entry.case_id!r}, want null",
            seq=entry.seq,
            case_id=entry.case_id,
        )


def _exact_fields(
    entry: Entry, fields: frozenset[str], *, check: str = REGISTRY_CHECK
) -> dict[str, Any]:
    """The entry's data, which must have exactly ``fields``."""
    data = entry.data
    if data.keys() != fields:
        raise VerificationFailed(
            check,
            f"{entry.event} data fields: got {sorted(data.keys())}, want {sorted(fields)}",
            seq=entry.seq,
            case_id=entry.case_id,
        )
    return data
