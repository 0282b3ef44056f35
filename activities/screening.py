"""Screening of a case's parties and destination (the ``screening.screen`` activity).

The interface is what the workflow and the ledger need: every list used, with its source,
publication date and file SHA-256, and every match as a flag with its score, so a screening
can be re-run and give the same result. This issue's matcher is deliberately plain — names
compared after case folding, punctuation removal and word sorting, and destinations against
the configured embargo list; the published list formats (EU, UN, US) and transliteration-proof
fuzzy matching replace the list loader and the matcher in the next issue, not the interface.

A denied-parties list file is JSON: ``{"source": "...", "published": "YYYY-MM-DD",
"parties": [{"name": "...", "country": "XX", "reason": "..."}]}``.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from temporalio import activity

from workflows.models import Flag, ListVersion, ScreeningInput, ScreeningResult

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def name_key(name: str) -> str:
    """A party name as the matcher compares it: case-folded, accents and punctuation gone,
    words sorted (so "Petrenko Ivan" and "ivan PETRENKO" are the same)."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(sorted(_PUNCT.sub(" ", text).split()))


@dataclass(frozen=True)
class DeniedParty:
    name: str
    country: str
    reason: str


@dataclass(frozen=True)
class DeniedList:
    version: ListVersion
    parties: tuple[DeniedParty, ...]

    @classmethod
    def load(cls, path: Path) -> DeniedList:
        raw = path.read_bytes()
        try:
            obj = json.loads(raw)
            parties = tuple(
                DeniedParty(str(p["name"]), str(p.get("country", "")), str(p.get("reason", "")))
                for p in obj["parties"]
            )
            version = ListVersion(
                source=str(obj["source"]),
                published=str(obj["published"]),
                sha256=hashlib.sha256(raw).hexdigest(),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"denied-parties list {path}: {exc!r}") from exc
        return cls(version, parties)


class ScreeningActivities:
    def __init__(self, lists: list[DeniedList], embargoed: frozenset[str]) -> None:
        self._lists = lists
        self._embargoed = embargoed
        self._index = {
            (name_key(p.name), i): (p, lst) for lst in lists for i, p in enumerate(lst.parties)
        }

    @activity.defn(name="screening.screen")
    async def screen(self, request: ScreeningInput) -> ScreeningResult:
        return self.screen_now(request)

    def screen_now(self, request: ScreeningInput) -> ScreeningResult:
        flags: list[Flag] = []
        if request.destination in self._embargoed:
            flags.append(
                Flag(
                    id=f"embargo-{request.destination}",
                    party=request.destination,
                    listed_as=request.destination,
                    source="embargoed-destinations",
                    score=1.0,
                    reason="destination under embargo",
                )
            )
        keys = {name_key(p.name): p for p in request.parties}
        for (key, i), (listed, lst) in sorted(self._index.items()):
            party = keys.get(key)
            if party is not None:
                flags.append(
                    Flag(
                        id=f"{lst.version.source}-{i}",
                        party=party.name,
                        listed_as=listed.name,
                        source=lst.version.source,
                        score=1.0,
                        reason=listed.reason,
                    )
                )
        versions = [lst.version for lst in self._lists]
        versions.append(
            ListVersion(
                source="embargoed-destinations",
                published="configuration",
                sha256=hashlib.sha256(",".join(sorted(self._embargoed)).encode()).hexdigest(),
            )
        )
        return ScreeningResult(flags=flags, lists=versions)
