"""The typed search attributes of a licence case, for listing cases through Temporal visibility.

Register them on the server before any case runs (the dev server:
``temporal server start-dev --search-attribute DozvilState=Keyword ...``, see the README;
tests and benches register :data:`ALL`). The workflow keeps them current on every transition.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

STATE = SearchAttributeKey.for_keyword("DozvilState")
EXPORTER = SearchAttributeKey.for_keyword("DozvilExporter")
DESTINATION = SearchAttributeKey.for_keyword("DozvilDestination")
RATINGS = SearchAttributeKey.for_keyword_list("DozvilRatings")  # control-list entries
NEXT_DEADLINE = SearchAttributeKey.for_datetime("DozvilNextDeadline")
OVERDUE = SearchAttributeKey.for_bool("DozvilOverdue")

ALL: tuple[SearchAttributeKey[Any], ...] = (
    STATE,
    EXPORTER,
    DESTINATION,
    RATINGS,
    NEXT_DEADLINE,
    OVERDUE,
)

#: ``workflow.patched`` id of the change that made cases publish them (histories recorded
#: before it replay without the upserts).
PATCH = "search-attributes-v1"


def server_flags() -> list[str]:
    """``--search-attribute NAME=Type`` arguments for ``temporal server start-dev``."""
    kinds = {
        "KEYWORD": "Keyword",
        "KEYWORD_LIST": "KeywordList",
        "DATETIME": "Datetime",
        "BOOL": "Bool",
    }
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}"]
    return flags
