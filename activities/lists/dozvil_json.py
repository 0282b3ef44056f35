"""Dozvil's own supplementary list (for national designations and tests): JSON
``{"source": "...", "published": "YYYY-MM-DD", "parties": [{"name": "...", "country": "XX",
"reason": "...", "aliases": ["..."]}]}`` (``aliases`` optional)."""

from __future__ import annotations

import json
from pathlib import Path

from activities.lists import (
    ListedParty,
    ListFormatError,
    LoadedList,
    countries,
    file_version,
    published_date,
    unique_names,
)


def parse(path: Path, raw: bytes) -> LoadedList:
    try:
        obj = json.loads(raw)
        source = str(obj["source"])
        published = published_date(path, str(obj["published"]), "published")
        parties = []
        for i, p in enumerate(obj["parties"]):
            names = unique_names([str(p["name"]), *(str(a) for a in p.get("aliases", []))])
            if not names:
                raise ListFormatError(path, f"party #{i + 1} has an empty name")
            parties.append(
                ListedParty(
                    list_id=str(p.get("id", i)),
                    names=names,
                    countries=countries([p.get("country")]),
                    programme=str(p.get("reason", "")),
                )
            )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, ListFormatError):
            raise
        raise ListFormatError(path, f"not a Dozvil JSON list ({exc!r})") from exc
    return LoadedList(file_version(path, raw, source, published), tuple(parties))
