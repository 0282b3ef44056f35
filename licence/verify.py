"""Check a licence document offline with the log's first public key.

:func:`verify_document` takes any of the three forms a licence travels in — the printable page
(HTML, the ``dozvil-licence`` block), the bare QR payload (``DZL1:…``, what a phone scanning
the code gets) or the JSON document (the workflow's ``licence`` query result) — and checks:

1. the receipt (:func:`ledger.receipts.verify_receipt`): every log key rotation from the first
   key, the checkpoint's signature, the entry's inclusion proof;
2. it holds exactly one entry, and that entry is a ``licence_issued`` entry;
3. the document's licence number is the entry's;
4. each opening opens the entry's commitment of that field (the ceilings are shown only then);
5. the entry's licence data is well formed (validity times, provisos, ceilings).

Any fault raises (fail closed): :class:`licence.document.LicenceDocumentError` or another
:class:`ledger.errors.LedgerError` naming the check, except :class:`UnreadableDocument` when
the text holds no licence document at all. A genuine document proves that the licence was
issued as shown; a later suspension, revocation or exhaustion is a later entry of the case,
which this document cannot show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, Literal, NoReturn

from ledger.checkpoint import Checkpoint, checkpoint_in
from ledger.commitments import Opening, check_opening
from ledger.encoding import decode_base64
from ledger.entry import Entry, parse_entry, parse_time
from ledger.errors import MalformedInput
from ledger.receipts import verify_receipt
from licence import payload
from licence.document import (
    Document,
    LicenceDocumentError,
    UnreadableDocument,
    unique_members,
)

ISSUANCE_EVENT = "licence_issued"
#: The id of the page's ``<script type="application/json">`` block holding the payload.
BLOCK_ID = "dozvil-licence"
CEILING_FIELDS = frozenset({"rating", "quantity", "value", "currency"})

Validity = Literal["valid", "not-yet-valid", "expired"]


@dataclass(frozen=True)
class Ceiling:
    """One good's ceiling: control-list rating, quantity, value (decimal string), currency."""

    rating: str
    quantity: int
    value: str
    currency: str


@dataclass(frozen=True)
class LicenceReport:
    """What a licence document shows (and, from :func:`verify_document`, proves)."""

    licence_number: str
    case_id: str
    seq: int
    issued_at: str
    valid_from: datetime
    valid_until: datetime
    provisos: list[str]
    ceilings: list[Ceiling] | None
    """``None`` when the document carries no opening of the ceilings."""
    origin: str
    checkpoint_size: int
    root_hash: bytes
    key_rotations: int

    def validity(self, at: datetime) -> Validity:
        """Where ``at`` lies in the validity window ``[valid_from, valid_until]``."""
        if at < self.valid_from:
            return "not-yet-valid"
        if at > self.valid_until:
            return "expired"
        return "valid"

    def to_json(self, at: datetime) -> dict[str, Any]:
        return {
            "licence_number": self.licence_number,
            "case_id": self.case_id,
            "seq": self.seq,
            "issued_at": self.issued_at,
            "valid_from": _iso(self.valid_from),
            "valid_until": _iso(self.valid_until),
            "provisos": self.provisos,
            "ceilings": None
            if self.ceilings is None
            else [
                {
                    "rating": c.rating,
                    "quantity": c.quantity,
                    "value": c.value,
                    "currency": c.currency,
                }
                for c in self.ceilings
            ],
            "origin": self.origin,
            "checkpoint_size": self.checkpoint_size,
            "key_rotations": self.key_rotations,
            "at": _iso(at),
            "validity": self.validity(at),
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _fail(check: str, message: str, entry: Entry | None = None) -> NoReturn:
    if entry is None:
        raise LicenceDocumentError(check, message)
    raise LicenceDocumentError(check, message, seq=entry.seq, case_id=entry.case_id)


# -- reading ---------------------------------------------------------------------------------


class _BlockFinder(HTMLParser):
    """Collects the text of every ``<script id="dozvil-licence">`` element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and ("id", BLOCK_ID) in attrs:
            self._inside = True
            self.blocks.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.blocks[-1] += data


def payload_from_html(text: str) -> str:
    """The payload in a licence page's ``dozvil-licence`` block (a JSON string)."""
    finder = _BlockFinder()
    finder.feed(text)
    finder.close()
    if not finder.blocks:
        raise UnreadableDocument(f"the page has no <script id={BLOCK_ID!r}> licence block")
    if len(finder.blocks) > 1:
        _fail("document-shape", f"the page has {len(finder.blocks)} licence blocks, want one")
    try:
        value = json.loads(finder.blocks[0])
    except json.JSONDecodeError as exc:
        _fail("document-shape", f"the licence block is not JSON: {exc}")
    if not isinstance(value, str):
        _fail("document-shape", f"the licence block holds {type(value).__name__}, want a string")
    return value


def read_document(text: str) -> Document:
    """The licence document in ``text``: a licence page, a bare payload or the JSON document.

    Raises :class:`UnreadableDocument` when ``text`` is none of these, and
    :class:`LicenceDocumentError` when it is one but does not decode.
    """
    stripped = text.strip()
    if stripped.startswith("DZL"):
        return payload.decode(stripped)
    if stripped.startswith("{"):
        try:
            obj = json.loads(
                stripped, object_pairs_hook=unique_members(LicenceDocumentError, "document-shape")
            )
        except json.JSONDecodeError as exc:
            raise UnreadableDocument(f"not a JSON document: {exc}") from exc
        return Document.from_json(obj)
    if stripped.startswith("<"):
        return payload.decode(payload_from_html(stripped).strip())
    raise UnreadableDocument(
        "neither a licence page (HTML), a licence payload (DZL1:...) nor a licence document (JSON)"
    )


# -- the licence in the entry ----------------------------------------------------------------


def _time(entry: Entry, name: str) -> datetime:
    value = entry.data.get(name)
    if not isinstance(value, str):
        _fail("licence-data", f"{name}: got {value!r}, want an RFC 3339 UTC time", entry)
    try:
        return parse_time(value)
    except MalformedInput as exc:
        _fail("licence-data", f"{name}: {exc}", entry)


def _ceilings(entry: Entry, value: Any) -> list[Ceiling]:
    if not isinstance(value, list):
        _fail("licence-ceilings", f"got {type(value).__name__}, want a list", entry)
    found: list[Ceiling] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or item.keys() != CEILING_FIELDS:
            got = sorted(item) if isinstance(item, dict) else type(item).__name__
            _fail("licence-ceilings", f"[{i}] is {got}, want {sorted(CEILING_FIELDS)}", entry)
        rating, quantity, amount, currency = (
            item[k] for k in ("rating", "quantity", "value", "currency")
        )
        if not (
            isinstance(rating, str)
            and type(quantity) is int
            and quantity >= 0
            and isinstance(amount, str)
            and isinstance(currency, str)
        ):
            _fail(
                "licence-ceilings",
                f"[{i}] {item!r} is not rating, quantity, value, currency",
                entry,
            )
        found.append(Ceiling(rating, quantity, amount, currency))
    return found


def _opened(entry: Entry, openings: dict[str, Any]) -> dict[str, Any]:
    """The values of ``openings``, each checked against the entry's commitment."""
    values: dict[str, Any] = {}
    for field, obj in sorted(openings.items()):
        try:
            opening = Opening.from_json(obj)
        except MalformedInput as exc:
            _fail("commitment-opening", f"field {field!r}: {exc}", entry)
        committed = entry.commitments.get(field)
        if committed is None:
            _fail("commitment-opening", f"field {field!r} is not committed in the entry", entry)
        check_opening(committed, opening, field=field)
        values[field] = opening.value
    return values


def licence_report(
    document: Document, entry: Entry, checkpoint: Checkpoint, key_rotations: int
) -> LicenceReport:
    """What ``entry``, the issuance the document holds, says; checks 2-5 of the module doc."""
    if entry.event != ISSUANCE_EVENT:
        _fail(
            "licence-event", f"the entry is a {entry.event!r} entry, want {ISSUANCE_EVENT!r}", entry
        )
    if entry.case_id is None:
        _fail("licence-event", "the issuance entry names no case", entry)
    number = entry.data.get("licence_number")
    if number != document.licence_number:
        _fail(
            "licence-number",
            f"the document says {document.licence_number!r}, the entry {number!r}",
            entry,
        )
    valid_from, valid_until = _time(entry, "valid_from"), _time(entry, "valid_until")
    if valid_until < valid_from:
        _fail("licence-data", "valid_until is before valid_from", entry)
    provisos = entry.data.get("provisos", [])
    if not isinstance(provisos, list) or not all(isinstance(p, str) for p in provisos):
        _fail("licence-data", f"provisos {provisos!r} are not a list of strings", entry)
    opened = _opened(entry, document.openings)
    return LicenceReport(
        licence_number=document.licence_number,
        case_id=entry.case_id,
        seq=entry.seq,
        issued_at=entry.time,
        valid_from=valid_from,
        valid_until=valid_until,
        provisos=list(provisos),
        ceilings=_ceilings(entry, opened["ceilings"]) if "ceilings" in opened else None,
        origin=checkpoint.origin,
        checkpoint_size=checkpoint.size,
        root_hash=checkpoint.root_hash,
        key_rotations=key_rotations,
    )


def _single(entries: list[Any]) -> Any:
    if len(entries) != 1:
        _fail("licence-entry-count", f"the receipt holds {len(entries)} entries, want one")
    return entries[0]


def verify_document(text: str, initial_key: str) -> LicenceReport:
    """Read and check the licence document in ``text`` with the log's first key ``initial_key``
    (a verifier key string); raise on any fault (see the module doc)."""
    document = read_document(text)
    receipt = verify_receipt(document.receipt, initial_key)
    return licence_report(
        document,
        _single(receipt.entries),
        receipt.checkpoint,
        len(document.receipt["key_rotations"]),
    )


def inspect_document(document: Document) -> LicenceReport:
    """What ``document`` shows, WITHOUT checking its signature or proof (for rendering it).

    The entry and the checkpoint are parsed and checks 2-5 run, so a page is never printed
    from a document whose own parts disagree; whether the log signed it is
    :func:`verify_document`'s to say.
    """
    entries = document.receipt.get("entries")
    note = document.receipt.get("checkpoint")
    if not isinstance(entries, list) or not isinstance(note, str):
        raise MalformedInput("the document's receipt has no entries or checkpoint")
    item = _single(entries)
    if not isinstance(item, dict):
        raise MalformedInput("the document's receipt entry is not an object")
    entry = parse_entry(decode_base64(item.get("body"), "receipt entry body"))
    checkpoint = checkpoint_in(note)
    rotations = document.receipt.get("key_rotations", [])
    return licence_report(
        document, entry, checkpoint, len(rotations) if isinstance(rotations, list) else 0
    )
