"""The one place a Temporal client is built: address, namespace, and the data converter with
the payload codec (so nothing a client sends or reads is in the clear in Temporal); and the
namespace's custom search attributes, registered once per deployment (``dozvil setup``)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from runtime.codec import data_converter
from runtime.settings import Settings


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
    )


async def register_search_attributes(
    client: Client, keys: Sequence[SearchAttributeKey[Any]]
) -> list[str]:
    """Add those of ``keys`` the namespace does not know yet; return their names.

    A name the namespace already has with another type is refused: listing cases by it would
    silently find nothing.
    """
    if not keys:
        return []
    known = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    have = {**known.system_attributes, **known.custom_attributes}
    missing: dict[str, IndexedValueType.ValueType] = {}
    for key in keys:
        want = IndexedValueType.ValueType(int(key.indexed_value_type))
        if key.name not in have:
            missing[key.name] = want
        elif have[key.name] != want:
            raise ValueError(
                f"search attribute {key.name} is a {IndexedValueType.Name(have[key.name])} in "
                f"namespace {client.namespace!r}, want {IndexedValueType.Name(want)}"
            )
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)


def exit_process(code: int) -> NoReturn:
    """End a process that used a Temporal client, once it has shut everything down itself.

    The SDK's Rust threads can outlive interpreter finalization and abort it ("Fatal Python
    error: PyGILState_Release", SIGABRT; temporalio/sdk-python#300, seen here when a worker
    stopped on SIGTERM). So: flush the logs and standard streams, and leave without it.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
