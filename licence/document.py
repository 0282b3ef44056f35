"""The licence document as data, and the errors of the :mod:`licence` package.

The JSON form is the workflow's ``LicenceDocument`` (``model_dump(mode="json")``)::

    {"licence_number": "L-UA-2026-0001",
     "receipt": {... a dozvil-receipt/1 holding the issuance entry ...},
     "openings": {"ceilings": {"salt": "<base64>", "value": [...]}}}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import MalformedInput, VerificationFailed

DOCUMENT_FIELDS = frozenset({"licence_number", "receipt", "openings"})


class LicenceDocumentError(VerificationFailed):
    """A licence document that is not genuine. ``check`` names the check that failed, e.g.
    ``payload-zlib``, ``licence-event``, ``licence-number``; the message says what was found
    and what was wanted."""


class UnreadableDocument(MalformedInput):
    """Text in which no licence document can be found (not a payload, JSON or licence page)."""


def unique_members(
    error: type[LicenceDocumentError], check: str
) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A ``json.loads`` ``object_pairs_hook`` refusing an object that names a member twice
    (fail closed on ambiguity), with ``error(check, ...)``."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                raise error(check, f"member {key!r} appears twice in one object")
            obj[key] = value
        return obj

    return hook


@dataclass(frozen=True)
class Document:
    """A licence document: the licence number, the receipt and the openings (JSON values)."""

    licence_number: str
    receipt: dict[str, Any]
    openings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "licence_number": self.licence_number,
            "receipt": self.receipt,
            "openings": self.openings,
        }

    @classmethod
    def from_json(cls, obj: object, *, check: str = "document-shape") -> Document:
        """Parse the JSON form strictly; raises :class:`LicenceDocumentError` (``check``)."""
        if not isinstance(obj, dict):
            raise LicenceDocumentError(check, f"got {type(obj).__name__}, want a JSON object")
        if obj.keys() != DOCUMENT_FIELDS:
            raise LicenceDocumentError(
                check, f"fields are {sorted(obj.keys())}, want {sorted(DOCUMENT_FIELDS)}"
            )
        number, receipt, openings = obj["licence_number"], obj["receipt"], obj["openings"]
        if not isinstance(number, str) or not number:
            raise LicenceDocumentError(check, f"licence_number {number!r} is not a string")
        if not isinstance(receipt, dict):
            raise LicenceDocumentError(check, "receipt is not a JSON object")
        if not isinstance(openings, dict):
            raise LicenceDocumentError(check, "openings is not a JSON object")
        return cls(number, receipt, openings)
