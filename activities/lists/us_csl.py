"""The US Consolidated Screening List (Commerce, State and Treasury lists in one export), as the
JSON export (``{"results": [{"id", "name", "alt_names", "addresses": [{"country"}], "source",
"programs", ...}]}``, with ``sources_used``/``search_performed_at`` when it comes from the API) or
the CSV export (header ``_id,source,entity_number,type,programs,name,...,alt_names,...``).

Names: ``name`` and every ``alt_names`` entry (a list in JSON, ``; ``-separated in CSV).
Countries: ``addresses[].country``, ``nationalities``, ``citizenships`` (in CSV the last part of
each ``; ``-separated address). Programme: the entry's ``source`` (the sub-list, e.g. "Entity
List (EL) - Bureau of Industry and Security") and ``programs``. Publication date: the latest
``sources_used[].source_last_updated``, else ``search_performed_at``; the CSV export (and a JSON
export without those keys) states none, so the latest ``start_date`` of its entries stands in —
the file's SHA-256 is what identifies the version either way.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from activities.lists import (
    ListedParty,
    ListFormatError,
    LoadedList,
    countries,
    file_version,
    published_date,
    text_of,
    unique_names,
)

SOURCE = "us-csl"
_CSV_REQUIRED = {"_id", "source", "name", "alt_names", "addresses"}


def _split(value: Any, separators: str = ";") -> list[str]:
    """A list field: a JSON list, or a CSV cell of ``; ``-separated items."""
    if value is None:
        return []
    if isinstance(value, list):
        return [text_of(v) for v in value if text_of(v)]
    text = str(value)
    for sep in separators[1:]:
        text = text.replace(sep, separators[0])
    return [part.strip() for part in text.split(separators[0]) if part.strip()]


def _party(
    path: Path, n: int, item: dict[str, Any], address_countries: Iterable[str]
) -> ListedParty:
    list_id = text_of(item.get("id") or item.get("_id") or item.get("entity_number"))
    name = text_of(item.get("name"))
    if not list_id or not name:
        raise ListFormatError(path, f"result #{n} has no id or no name")
    programmes = [text_of(item.get("source")), *_split(item.get("programs"))]
    return ListedParty(
        list_id=list_id,
        names=unique_names([name, *_split(item.get("alt_names"))]),
        countries=countries(
            [
                *address_countries,
                *_split(item.get("nationalities"), ";,"),
                *_split(item.get("citizenships"), ";,"),
            ]
        ),
        programme="; ".join(p for p in programmes if p),
        kind=text_of(item.get("type")).casefold(),
    )


def _latest_start(path: Path, items: list[dict[str, Any]]) -> str:
    starts = sorted(text_of(i.get("start_date"))[:10] for i in items if i.get("start_date"))
    if not starts:
        raise ListFormatError(path, "no publication date: no sources_used and no start_date")
    return published_date(path, starts[-1], "start_date")


def _parse_json(path: Path, raw: bytes) -> LoadedList:
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise ListFormatError(path, f"malformed JSON ({exc})") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("results"), list):
        raise ListFormatError(path, 'no "results" list: not a Consolidated Screening List export')
    items: list[dict[str, Any]] = obj["results"]
    parties = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ListFormatError(path, f"result #{n} is not an object")
        addresses = item.get("addresses") or []
        if not isinstance(addresses, list):
            raise ListFormatError(path, f"result #{n}: addresses is not a list")
        parties.append(_party(path, n, item, [text_of(a.get("country")) for a in addresses if a]))
    updated = sorted(
        text_of(s.get("source_last_updated"))
        for s in obj.get("sources_used") or []
        if isinstance(s, dict) and s.get("source_last_updated")
    )
    if updated:
        published = published_date(path, updated[-1], "sources_used[].source_last_updated")
    elif obj.get("search_performed_at"):
        published = published_date(path, obj["search_performed_at"], "search_performed_at")
    else:
        published = _latest_start(path, items)
    return LoadedList(file_version(path, raw, SOURCE, published), tuple(parties))


def _parse_csv(path: Path, raw: bytes) -> LoadedList:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ListFormatError(path, f"CSV is not UTF-8 ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = _CSV_REQUIRED - set(reader.fieldnames or [])
    if missing:
        raise ListFormatError(path, f"CSV header lacks {', '.join(sorted(missing))}")
    items: list[dict[str, Any]] = []
    parties = []
    try:
        for n, row in enumerate(reader, 1):
            if None in row:
                raise ListFormatError(path, f"CSV row {n} has more cells than the header")
            items.append(row)
            address_countries = [a.rsplit(",", 1)[-1] for a in _split(row.get("addresses"))]
            parties.append(_party(path, n, row, address_countries))
    except csv.Error as exc:
        raise ListFormatError(path, f"malformed CSV ({exc})") from exc
    return LoadedList(file_version(path, raw, SOURCE, _latest_start(path, items)), tuple(parties))


def parse(path: Path, raw: bytes) -> LoadedList:
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return _parse_json(path, raw) if head in (b"{", b"[") else _parse_csv(path, raw)
