"""The UN Security Council consolidated list (``<CONSOLIDATED_LIST dateGenerated=...>`` with
``INDIVIDUALS/INDIVIDUAL`` and ``ENTITIES/ENTITY``).

Names: ``FIRST_NAME`` … ``FOURTH_NAME`` joined, ``NAME_ORIGINAL_SCRIPT``, every
``INDIVIDUAL_ALIAS/ALIAS_NAME`` and ``ENTITY_ALIAS/ALIAS_NAME``. Countries: ``NATIONALITY/VALUE``
and the address ``COUNTRY`` (country names, turned into ISO codes where they are recognised).
Programme: ``UN_LIST_TYPE``. Publication date: ``CONSOLIDATED_LIST/@dateGenerated``.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element

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

SOURCE = "un-sc"
_NAME_PARTS = ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")


def _party(path: Path, node: Element, kind: str, n: int) -> ListedParty:
    list_id = text_of(node.findtext("REFERENCE_NUMBER")) or text_of(node.findtext("DATAID"))
    if not list_id:
        raise ListFormatError(path, f"{node.tag} #{n} has no REFERENCE_NUMBER or DATAID")
    alias_tag = "INDIVIDUAL_ALIAS" if kind == "person" else "ENTITY_ALIAS"
    address_tag = "INDIVIDUAL_ADDRESS" if kind == "person" else "ENTITY_ADDRESS"
    whole = " ".join(text_of(node.findtext(part)) for part in _NAME_PARTS).strip()
    names = unique_names(
        [whole, node.findtext("NAME_ORIGINAL_SCRIPT")]
        + [a.findtext("ALIAS_NAME") for a in node.findall(alias_tag)]
    )
    if not whole:
        raise ListFormatError(path, f"{node.tag} {list_id} has no FIRST_NAME")
    return ListedParty(
        list_id=list_id,
        names=names,
        countries=countries(
            [v.text for v in node.findall("NATIONALITY/VALUE")]
            + [a.findtext("COUNTRY") for a in node.findall(address_tag)]
        ),
        programme=text_of(node.findtext("UN_LIST_TYPE")),
        kind=kind,
    )


def parse(path: Path, raw: bytes) -> LoadedList:
    root = parse_xml(path, raw, "CONSOLIDATED_LIST")
    published = published_date(path, root.get("dateGenerated"), "CONSOLIDATED_LIST/@dateGenerated")
    individuals = root.findall("INDIVIDUALS/INDIVIDUAL")
    entities = root.findall("ENTITIES/ENTITY")
    if root.find("INDIVIDUALS") is None and root.find("ENTITIES") is None:
        raise ListFormatError(path, "neither <INDIVIDUALS> nor <ENTITIES>: not a UN list")
    parties = [_party(path, node, "person", n) for n, node in enumerate(individuals, 1)]
    parties += [_party(path, node, "entity", n) for n, node in enumerate(entities, 1)]
    return LoadedList(file_version(path, raw, SOURCE, published), tuple(parties))
