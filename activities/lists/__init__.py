"""Denied-parties lists as the authorities publish them, read into one shape.

Each loader (``eu``, ``un``, ``us_csl``, ``dozvil_json``) reads one published format into a
:class:`LoadedList`: the parties (every name and alias, countries as ISO 3166 alpha-2 codes, the
list's own id of the entry, its programme) and a :class:`~workflows.models.ListVersion` with the
list's source, the publication date read from the file itself and the file's SHA-256, which the
ledger records with every screening.

:func:`load_list` picks the loader from a ``format:path`` spec (``eu:``, ``un:``, ``us-csl:``,
``dozvil-json:``) or, without a prefix, from the file's contents (the root element of an XML
file, the keys of a JSON file, the header of a CSV file). A file that is not what it claims to
be, or that no loader recognises, raises :class:`ListFormatError` naming the file and what is
wrong.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import pycountry
from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring as safe_fromstring  # type: ignore[import-untyped]

from workflows.models import ListVersion


class ListFormatError(ValueError):
    """A list file that cannot be read: unrecognised, malformed or missing what screening needs."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"screening list {path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class ListedParty:
    """One entry of a published list."""

    list_id: str  # the list's own reference (EU logicalId/euReferenceNumber, UN ref, CSL id)
    names: tuple[str, ...]  # the primary name first, then every alias, in file order
    countries: tuple[str, ...]  # ISO 3166 alpha-2, sorted, from nationality/citizenship/address
    programme: str  # the sanctions programme or regime, or the sub-list it comes from
    kind: str = ""  # "person", "entity", or "" when the list does not say

    @property
    def name(self) -> str:
        return self.names[0]


@dataclass(frozen=True)
class LoadedList:
    version: ListVersion
    parties: tuple[ListedParty, ...]


def file_version(path: Path, raw: bytes, source: str, published: str) -> ListVersion:
    return ListVersion(source=source, published=published, sha256=hashlib.sha256(raw).hexdigest())


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ListFormatError(path, f"cannot be read ({exc.strerror or exc})") from exc


def country_code(value: str | None) -> str | None:
    """An ISO alpha-2 code for a code or a country name as lists write them, else None."""
    if value is None:
        return None
    text = value.strip()
    if not text or text in {"00", "UNKNOWN"}:
        return None
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        # "Iran (Islamic Republic of)" and the like: try the part before the parenthesis.
        head = text.split("(")[0].strip().rstrip(",")
        if head and head != text:
            return country_code(head)
        return None


def countries(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(sorted({c for c in (country_code(v) for v in values) if c}))


def unique_names(values: Iterable[str | None]) -> tuple[str, ...]:
    """Names in first-seen order, blanks and exact repeats dropped, whitespace collapsed."""
    seen: dict[str, None] = {}
    for value in values:
        if value:
            name = " ".join(value.split())
            if name:
                seen.setdefault(name, None)
    return tuple(seen)


FORMATS = ("eu", "un", "us-csl", "dozvil-json")

_FIRST_TAG = re.compile(rb"<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s>/]")


def detect_format(path: Path, head: bytes) -> str:
    """The format of a list file from its first bytes."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<"):
        body = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", text, flags=re.S)
        m = _FIRST_TAG.search(body)
        root = m.group(2).decode() if m else ""
        if root == "export":
            return "eu"
        if root == "CONSOLIDATED_LIST":
            return "un"
        raise ListFormatError(path, f"XML with root element {root or '?'!r} is not a known list")
    if text.startswith(b"{"):
        if b'"parties"' in text and b'"results"' not in text:
            return "dozvil-json"
        return "us-csl"
    if text.startswith(b"_id,") or text.startswith(b'"_id",'):
        return "us-csl"
    raise ListFormatError(
        path, "not a recognised list format (EU or UN XML, US CSL JSON or CSV, Dozvil JSON)"
    )


def parse_spec(spec: str) -> tuple[str | None, Path]:
    """``format:path`` or a bare path (format detected from the file)."""
    head, sep, rest = spec.partition(":")
    if sep and head in FORMATS:
        return head, Path(rest)
    return None, Path(spec)


def load_list(spec: str | Path) -> LoadedList:
    from activities.lists import dozvil_json, eu, un, us_csl

    loaders: dict[str, Callable[[Path, bytes], LoadedList]] = {
        "eu": eu.parse,
        "un": un.parse,
        "us-csl": us_csl.parse,
        "dozvil-json": dozvil_json.parse,
    }
    fmt, path = (None, spec) if isinstance(spec, Path) else parse_spec(spec)
    raw = read_bytes(path)
    if not raw.strip():
        raise ListFormatError(path, "the file is empty")
    return loaders[fmt or detect_format(path, raw[:4096])](path, raw)


def text_of(value: Any) -> str:
    return "" if value is None else str(value).strip()


def published_date(path: Path, value: str | None, what: str) -> str:
    """The ``YYYY-MM-DD`` date at the start of a timestamp the file carries."""
    text = text_of(value)
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise ListFormatError(path, f"{what} {text!r} is not a date") from None


def parse_xml(path: Path, raw: bytes, root_tag: str) -> Element:
    """The file's root element, namespaces stripped from every tag; DTDs, entities and
    external references refused (no XXE, no entity expansion)."""
    try:
        root: Element = safe_fromstring(raw, forbid_dtd=True, forbid_entities=True)
    except ParseError as exc:
        raise ListFormatError(path, f"malformed XML ({exc})") from exc
    except DefusedXmlException as exc:
        raise ListFormatError(path, f"XML refused: {type(exc).__name__} ({exc})") from exc
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    if root.tag != root_tag:
        raise ListFormatError(path, f"root element is <{root.tag}>, expected <{root_tag}>")
    return root
