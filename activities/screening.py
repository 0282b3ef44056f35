"""Screening of a case's parties and destination (the ``screening.screen`` activity).

The lists are the ones the authorities publish, read by :mod:`activities.lists` (EU financial
sanctions XML, UN Security Council consolidated list XML, US Consolidated Screening List JSON or
CSV, and Dozvil's own JSON list for national designations). Every screening returns every list
used (source, publication date read from the file, file SHA-256) and every match as a flag with
its score, so a screening can be re-run on the same files and give the same flags in the same
order.

Matching: each party name and each listed name and alias is normalised — transliterated to ASCII
(``anyascii``: "Рособоронэкспорт" becomes "Rosoboroneksport"), case-folded, punctuation and
legal-form words (LLC, OOO/ООО, TOV/ТОВ, AO/АО, JSC, GmbH …) removed, the romanisation variants
"ks"/"x" and "kh"/"h" folded — and compared with ``rapidfuzz.fuzz.token_sort_ratio``, which
ignores word order ("Ivan Petrov" is "ПЕТРОВ Иван"). A listed party is flagged when its best
name scores at least the threshold (0–100, ``DOZVIL_SCREENING_THRESHOLD``); the country is a
supporting signal: a name within :data:`COUNTRY_MARGIN` points below the threshold is flagged
too when the party's country is one of the listed party's. The flag's score is the name score
as a fraction (0–1). The destination is checked against the configured embargoed destinations.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from anyascii import anyascii
from rapidfuzz import fuzz, process
from temporalio import activity

from activities.lists import ListedParty, LoadedList
from workflows.models import Flag, ListVersion, ScreeningInput, ScreeningResult

DEFAULT_THRESHOLD = 88.0
COUNTRY_MARGIN = 5.0  # points below the threshold that a matching country still flags

# Legal-form words, compared after transliteration (ТОВ -> tov, ООО -> ooo, АО -> ao).
LEGAL_FORMS = frozenset(
    {
        "llc",
        "ltd",
        "limited",
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "plc",
        "gmbh",
        "ag",
        "sa",
        "sarl",
        "srl",
        "bv",
        "nv",
        "jsc",
        "ojsc",
        "cjsc",
        "pjsc",
        "ooo",
        "oao",
        "zao",
        "pao",
        "ao",
        "tov",
        "pat",
        "prat",
        "fzco",
        "fze",
        "fzc",
        "",
    }
)
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_FOLDS = (("ks", "x"), ("kh", "h"))


def name_key(name: str) -> str:
    """A name as the matcher compares it: ASCII, case-folded, punctuation and legal-form words
    gone, romanisation variants folded (word order is left to the scorer)."""
    words = _NON_ALNUM.sub(" ", anyascii(name).casefold()).split()
    kept = [w for w in words if w not in LEGAL_FORMS] or words
    text = " ".join(kept)
    for variant, canonical in _FOLDS:
        text = text.replace(variant, canonical)
    return text


@dataclass(frozen=True)
class _Name:
    key: str
    name: str
    list_no: int
    party_no: int


class ScreeningActivities:
    def __init__(
        self,
        lists: Sequence[LoadedList],
        embargoed: frozenset[str],
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        if not 0 < threshold <= 100:
            raise ValueError(f"screening threshold {threshold} is not in (0, 100]")
        self._lists = list(lists)
        self._embargoed = embargoed
        self._threshold = threshold
        self._names = [
            _Name(name_key(name), name, list_no, party_no)
            for list_no, lst in enumerate(self._lists)
            for party_no, party in enumerate(lst.parties)
            for name in party.names
        ]
        self._keys = [n.key for n in self._names]

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
        floor = max(self._threshold - COUNTRY_MARGIN, 0.0)
        for k, party in enumerate(request.parties):
            # Best name of each listed party: highest score, then the first name in file order.
            best: dict[tuple[int, int], tuple[float, int]] = {}
            for _, score, i in process.extract(
                name_key(party.name),
                self._keys,
                scorer=fuzz.token_sort_ratio,
                processor=None,
                score_cutoff=floor,
                limit=None,
            ):
                n = self._names[i]
                at = (n.list_no, n.party_no)
                if at not in best or (-score, i) < (-best[at][0], best[at][1]):
                    best[at] = (score, i)
            for (list_no, party_no), (score, i) in sorted(best.items()):
                lst = self._lists[list_no]
                listed = lst.parties[party_no]
                country_match = party.country in listed.countries
                if score < self._threshold and not country_match:
                    continue
                flags.append(
                    self._flag(
                        k, party.name, lst, listed, self._names[i].name, score, country_match
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

    @staticmethod
    def _flag(
        k: int,
        party: str,
        lst: LoadedList,
        listed: ListedParty,
        name: str,
        score: float,
        country_match: bool,
    ) -> Flag:
        source = lst.version.source
        return Flag(
            id=f"{source}-{listed.list_id}-p{k}",
            party=party,
            listed_as=name,
            source=source,
            score=round(score / 100, 4),
            reason=listed.programme or f"listed on {source}",
            listed_id=listed.list_id,
            listed_name=listed.name,
            country_match=country_match,
        )
