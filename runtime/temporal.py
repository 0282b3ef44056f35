"""The one place a Temporal client is built: address, namespace, and the data converter with
the payload codec (so nothing a client sends or reads is in the clear in Temporal)."""

from __future__ import annotations

from temporalio.client import Client

from runtime.codec import data_converter
from runtime.settings import Settings


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
    )
