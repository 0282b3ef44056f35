"""The EU consolidated list of persons, groups and entities subject to financial sanctions
(the Financial Sanctions Files XML: ``<export generationDate=...>`` in the namespace
``http://eu.europa.ec/fpi/fsd/export`` with one ``<sanctionEntity>`` per listing).

Names: every ``nameAlias/@wholeName`` (first, middle and last name when the whole name is
missing). Countries: ``citizenship`` and ``address`` ``@countryIso2Code`` (``00`` = unknown).
Programme: the ``regulation/@programme`` codes. Publication date: ``export/@generationDate``.
"""

from __future__ import annotations

from pathlib import Path

from activities.lists import (
    ListedParty,
    ListFormatError,
    LoadedList,
    countries,
    file_version,
    parse_xml,
    published_date,
    text_of,
    unique_names,
)

SOURCE = "eu-fsf"


def parse(path: Path, raw: bytes) -> LoadedList:
    root = parse_xml(path, raw, "export")
    published = published_date(path, root.get("generationDate"), "export/@generationDate")
    parties: list[ListedParty] = []
    for n, entity in enumerate(root.iter("sanctionEntity"), 1):
        list_id = text_of(entity.get("euReferenceNumber")) or text_of(entity.get("logicalId"))
        if not list_id:
            raise ListFormatError(path, f"sanctionEntity #{n} has no euReferenceNumber/logicalId")
        names = unique_names(
            alias.get("wholeName")
            or " ".join(
                text_of(alias.get(k)) for k in ("firstName", "middleName", "lastName")
            ).strip()
            for alias in entity.iter("nameAlias")
        )
        if not names:
            raise ListFormatError(path, f"sanctionEntity {list_id} has no nameAlias with a name")
        subject = entity.find("subjectType")
        programmes = sorted({text_of(r.get("programme")) for r in entity.iter("regulation")} - {""})
        parties.append(
            ListedParty(
                list_id=list_id,
                names=names,
                countries=countries(
                    node.get("countryIso2Code")
                    for tag in ("citizenship", "address")
                    for node in entity.iter(tag)
                ),
                programme=",".join(programmes),
                kind=text_of(subject.get("code")) if subject is not None else "",
            )
        )
    if not parties:
        raise ListFormatError(path, "no <sanctionEntity> elements: not an EU sanctions export")
    return LoadedList(file_version(path, raw, SOURCE, published), tuple(parties))
