"""The ledger entry body: its fields, how it is built, and how it is parsed.

An entry body is a JSON object serialized per RFC 8785 (see :mod:`ledger.canonical`)::

    {
      "v": 1,                              format version
      "seq": 41,                           0-based position in the log
      "prev": "<64 hex>",                  leaf hash of entry seq-1; 64 zeros for seq 0
      "case_prev": "<64 hex>" | null,      leaf hash of the previous entry of the same case
      "time": "2026-11-25T18:42:39.123456Z",   RFC 3339, UTC
      "case_id": "UA-2026-0193" | null,    null for log-level entries (key registry, rotation)
      "event": "countersign",
      "from_state": "decided" | null,
      "to_state": "issued" | null,
      "actor": {"id": "official-17", "role": "signing_official"},
      "statement": {...} | null,           the actor's signed statement, verbatim
      "idempotency_key": "UA-2026-0193/12",
      "commitments": {"end_user": "<64 hex>"},  salted commitments of confidential fields
      "data": {...}                        the event's data
    }

The leaf hash of an entry is ``SHA-256(0x00 || body)`` (:func:`ledger.merkle.leaf_hash`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.canonical import (
    canonicalize,
    canonicalize_fast,
    check_entry_size,
    is_canonical,
    loads,
)
from ledger.errors import MalformedInput

FORMAT_VERSION = 1
ZERO_HASH = bytes(32)

_FIELDS = frozenset(
    {
        "v",
        "seq",
        "prev",
        "case_prev",
        "time",
        "case_id",
        "event",
        "from_state",
        "to_state",
        "actor",
        "statement",
        "idempotency_key",
        "commitments",
        "data",
    }
)
_ACTOR_FIELDS = frozenset({"id", "role"})
_HEX_HASH = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}")


@dataclass(frozen=True)
class Actor:
    """Who caused an entry: an id and the role they acted in."""

    id: str
    role: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "role": self.role}


@dataclass(frozen=True)
class Entry:
    """A parsed entry: the canonical ``body`` bytes and the fields read from them."""

    body: bytes
    seq: int
    prev: bytes
    case_prev: bytes | None
    time: str
    case_id: str | None
    event: str
    from_state: str | None
    to_state: str | None
    actor: Actor
    statement: dict[str, Any] | None
    idempotency_key: str
    commitments: dict[str, str]
    data: dict[str, Any]


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and a ``Z``: the one spelling of time in entries."""
    if moment.tzinfo is None:
        raise MalformedInput("entry time must carry a time zone")
    # isoformat is several times faster than strftime; UTC prints as "+00:00".
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Inverse of :func:`format_time` (also accepts fewer fractional digits)."""
    if not isinstance(text, str) or not _TIME.fullmatch(text):
        raise MalformedInput(f"time {text!r} is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)")
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError as exc:
        raise MalformedInput(f"time {text!r}: {exc}") from exc


def check_name(kind: str, value: object) -> str:
    """Case ids, events, states, actor ids and roles: short printable names."""
    if type(value) is str and value in _GOOD_NAMES:
        return value
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise MalformedInput(
            f"{kind} {value!r} must be 1-128 characters of letters, digits and ._:/@+- "
            "starting with a letter or digit"
        )
    if len(_GOOD_NAMES) >= _GOOD_NAMES_MAX:
        _GOOD_NAMES.clear()
    _GOOD_NAMES.add(value)
    return value


# Names already checked: events, roles, states and actors recur in almost every entry, and a
# set lookup costs a tenth of the regular expression. Bounded; cleared when full.
_GOOD_NAMES: set[str] = set()
_GOOD_NAMES_MAX = 4096


def build_body(
    *,
    seq: int,
    prev: bytes,
    case_prev: bytes | None,
    time: str,
    case_id: str | None,
    event: str,
    from_state: str | None,
    to_state: str | None,
    actor: Actor,
    statement: dict[str, Any] | None,
    idempotency_key: str,
    commitments: dict[str, str],
    data: dict[str, Any],
) -> bytes:
    """Canonical bytes of a new entry; refuses bad fields and bodies over 65,535 bytes.

    Whatever it writes, :func:`parse_entry` reads back.
    """
    parse_time(time)
    template = BodyTemplate.of(
        case_id=case_id,
        event=event,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        statement=statement,
        idempotency_key=idempotency_key,
        commitments=commitments,
        data=data,
    )
    return template.fill(seq=seq, prev=prev, case_prev=case_prev, time=time)


def _name_json(kind: str, value: str | None) -> bytes:
    """The canonical JSON of a name or null: names hold no character JSON escapes."""
    if value is None:
        return b"null"
    return b'"' + check_name(kind, value).encode("ascii") + b'"'


@dataclass(slots=True)  # not frozen: a frozen dataclass costs a microsecond more to build
class BodyTemplate:
    """An entry body with its chain fields — ``seq``, ``prev``, ``case_prev``, ``time`` — still
    open: the other fields checked and canonicalized once, before the append takes the log's
    write lock, so that filling in the chain under the lock is a few byte joins.

    RFC 8785 serializes an object as its members in sorted key order with no whitespace, each
    value in its own canonical form; every key of a body is ASCII, so the order is fixed::

        actor case_id case_prev commitments data event from_state idempotency_key prev seq
        statement time to_state v

    and a body is the canonical bytes of each value spliced between constant key texts.
    ``tests/property/test_canonical.py`` checks :meth:`fill` against ``rfc8785.dumps``.
    """

    actor: bytes  # canonical JSON of each field
    case_id: bytes
    commitments: bytes
    data: bytes
    event: bytes
    from_state: bytes
    idempotency_key: bytes
    statement: bytes
    to_state: bytes
    #: Every value took the canonical fast path, so parsing the body gives back the very values
    #: the template was made of (see :func:`ledger.canonical.canonicalize_fast`).
    exact: bool

    @classmethod
    def of(
        cls,
        *,
        case_id: str | None,
        event: str,
        from_state: str | None,
        to_state: str | None,
        actor: Actor,
        statement: dict[str, Any] | None,
        idempotency_key: str,
        commitments: dict[str, str],
        data: dict[str, Any],
    ) -> BodyTemplate:
        """Check and canonicalize the fields a caller gives; raises :class:`MalformedInput`."""
        if not isinstance(idempotency_key, str) or not idempotency_key:
            raise MalformedInput("idempotency_key must be a non-empty string")
        if not isinstance(data, dict):
            raise MalformedInput("entry data must be a JSON object")
        if statement is not None and not isinstance(statement, dict):
            raise MalformedInput("entry statement must be a JSON object or null")
        if not isinstance(commitments, dict):
            raise MalformedInput("entry commitments must be a JSON object")
        for field, commitment in commitments.items():
            check_name("commitment field", field)
            if not isinstance(commitment, str) or not _HEX_HASH.fullmatch(commitment):
                raise MalformedInput(f"commitment {field!r} is not 64 lowercase hex digits")
        data_json, data_exact = canonicalize_fast(data)
        statement_json, statement_exact = (
            (b"null", True) if statement is None else canonicalize_fast(statement)
        )
        key_json, _ = canonicalize_fast(idempotency_key)  # a string: always exact
        return cls(
            actor=b'{"id":'
            + _name_json("actor id", actor.id)
            + b',"role":'
            + _name_json("role", actor.role)
            + b"}",
            case_id=_name_json("case id", case_id),
            commitments=canonicalize(commitments) if commitments else b"{}",  # always exact
            data=data_json,
            event=_name_json("event", event),
            from_state=_name_json("from state", from_state),
            idempotency_key=key_json,
            statement=statement_json,
            to_state=_name_json("to state", to_state),
            exact=data_exact and statement_exact,
        )

    def fill(self, *, seq: int, prev: bytes, case_prev: bytes | None, time: str) -> bytes:
        """The body at position ``seq``. ``time`` must be :func:`format_time`'s spelling (the
        caller checks it once per append); refuses bodies over 65,535 bytes."""
        if type(seq) is not int or seq < 0:
            raise MalformedInput(f"entry seq {seq!r} is not a non-negative integer")
        for name, value in (("prev", prev), ("case_prev", case_prev)):
            if value is not None and len(value) != len(ZERO_HASH):
                raise MalformedInput(f"{name} is {len(value)} bytes, want {len(ZERO_HASH)}")
        body = b"".join(
            (
                b'{"actor":',
                self.actor,
                b',"case_id":',
                self.case_id,
                b',"case_prev":',
                b"null" if case_prev is None else b'"' + case_prev.hex().encode() + b'"',
                b',"commitments":',
                self.commitments,
                b',"data":',
                self.data,
                b',"event":',
                self.event,
                b',"from_state":',
                self.from_state,
                b',"idempotency_key":',
                self.idempotency_key,
                b',"prev":"',
                prev.hex().encode(),
                b'","seq":',
                str(seq).encode(),
                b',"statement":',
                self.statement,
                b',"time":"',
                time.encode(),
                b'","to_state":',
                self.to_state,
                b',"v":',
                _VERSION_JSON,
                b"}",
            )
        )
        check_entry_size(body)
        return body


_VERSION_JSON = str(FORMAT_VERSION).encode()


def _hash_field(obj: dict[str, Any], name: str, nullable: bool) -> bytes | None:
    value = obj[name]
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not _HEX_HASH.fullmatch(value):
        raise MalformedInput(f"field {name!r} is not 64 lowercase hex digits")
    return bytes.fromhex(value)


def _optional_name(obj: dict[str, Any], name: str) -> str | None:
    value = obj[name]
    return None if value is None else check_name(name, value)


def parse_entry(body: bytes) -> Entry:
    """Parse and check an entry body; it must be canonical (RFC 8785) and complete.

    Raises :class:`MalformedInput` naming the first problem.
    """
    check_entry_size(body)
    try:
        obj, text = loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedInput(f"entry body is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise MalformedInput(
            "entry body is not JSON this verifier accepts: nested too deeply"
        ) from exc
    if not isinstance(obj, dict):
        raise MalformedInput("entry body is not a JSON object")
    if obj.keys() != _FIELDS:
        missing = sorted(_FIELDS - obj.keys())
        extra = sorted(obj.keys() - _FIELDS)
        raise MalformedInput(f"entry fields: missing {missing}, unexpected {extra}")
    if obj["v"] != FORMAT_VERSION or type(obj["v"]) is not int:
        raise MalformedInput(f"entry format version {obj['v']!r} is not {FORMAT_VERSION}")
    seq = obj["seq"]
    if type(seq) is not int or seq < 0:
        raise MalformedInput(f"entry seq {seq!r} is not a non-negative integer")
    if not is_canonical(obj, body, text):
        raise MalformedInput(f"entry {seq} is not in RFC 8785 canonical form")
    actor = obj["actor"]
    if not isinstance(actor, dict) or actor.keys() != _ACTOR_FIELDS:
        raise MalformedInput(f"entry {seq}: actor must be an object with id and role")
    statement = obj["statement"]
    if statement is not None and not isinstance(statement, dict):
        raise MalformedInput(f"entry {seq}: statement must be an object or null")
    commitments = obj["commitments"]
    if not isinstance(commitments, dict) or (
        commitments
        and not all(isinstance(v, str) and _HEX_HASH.fullmatch(v) for v in commitments.values())
    ):
        raise MalformedInput(f"entry {seq}: commitments must map names to 64 hex digits")
    if not isinstance(obj["data"], dict):
        raise MalformedInput(f"entry {seq}: data must be an object")
    if not isinstance(obj["idempotency_key"], str) or not obj["idempotency_key"]:
        raise MalformedInput(f"entry {seq}: idempotency_key must be a non-empty string")
    parse_time(obj["time"])
    prev = _hash_field(obj, "prev", nullable=False)
    assert prev is not None
    return Entry(
        body=body,
        seq=seq,
        prev=prev,
        case_prev=_hash_field(obj, "case_prev", nullable=True),
        time=obj["time"],
        case_id=_optional_name(obj, "case_id"),
        event=check_name("event", obj["event"]),
        from_state=_optional_name(obj, "from_state"),
        to_state=_optional_name(obj, "to_state"),
        actor=Actor(check_name("actor id", actor["id"]), check_name("role", actor["role"])),
        statement=statement,
        idempotency_key=obj["idempotency_key"],
        commitments=commitments,
        data=obj["data"],
    )
